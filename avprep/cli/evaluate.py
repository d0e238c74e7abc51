"""``avprep retrieval``, ``avprep embed`` and ``avprep reconstruct``: what users do with a
released (or trained) CAV-MAE checkpoint besides classification."""

from __future__ import annotations

import argparse
import json
import sys

from avprep.cli import add_command, add_option, print_failures
from avprep.constants import MASK_MODES, NORM_MEAN, NORM_STD
from avprep.outputs import check_outputs, folder_files

RETRIEVAL_EXAMPLE = """
avprep retrieval --model cav-mae-scale+ \\
    --data prepared/lists/audioset_eval_5_per_class_for_retrieval_cleaned.json \\
    --released released/audioset_eval_5_per_class_for_retrieval_cleaned.json --json as.json
avprep embed --model cav-mae-scale+ -o vgg.arrow \\
    --data prepared/lists/vgg_test_5_per_class_for_retrieval_cleaned.json
avprep retrieval --embeddings vgg.arrow --json vgg.json
"""

EMBED_EXAMPLE = """
avprep embed --model cav-mae-ft-as2m-audio-46.6 --data lists/audioset_20k_cleaned.json \\
    -o as20k.arrow --tokens --dtype float16
"""

RECONSTRUCT_EXAMPLE = """
avprep reconstruct --model cav-mae-base-nonorm --data lists/vgg_test_cleaned.json -o pictures \\
    --ids KlsG1EnBEjc_000361 --masking_ratio 0.75 --mask_mode time
"""

#: indented as the command descriptions are, which add_command dedents
ANCHORS_TEXT = """
        Published anchors, CAV-MAE Scale+ (zoo name cav-mae-scale+) on the released retrieval
        subsets audioset_eval_5_per_class_for_retrieval_cleaned.json and
        vgg_test_5_per_class_for_retrieval_cleaned.json: visual->audio R@1 18.8 (AudioSet) /
        14.8 (VGGSound); audio->visual R@1 15.1 / 12.8.
"""


def _common(p: argparse.ArgumentParser, data_required: bool = True, amp: bool = True) -> None:
    from avprep.train.config import parse_bool

    p.add_argument("--model", metavar="CKPT", required=data_required,
                   help="checkpoint: a file (either key layout) or a model-zoo name; pretrained "
                        "or fine-tuned")
    p.add_argument("--data", metavar="LIST", required=data_required,
                   help="data list (JSON) or pack folder")
    p.add_argument("--dataset_mean", type=float, default=None,
                   help=f"fbank normalization mean (default: {NORM_MEAN})")
    p.add_argument("--dataset_std", type=float, default=None,
                   help=f"fbank normalization std (default: {NORM_STD})")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N (default: the GPU when there is one, else the CPU)")
    if amp:
        p.add_argument("--amp", type=parse_bool, default=None, metavar="BOOL",
                       help="float16 autocast (default: on with CUDA, off on the CPU)")


def _loader(p: argparse.ArgumentParser) -> None:
    add_option(p, "--batch-size", type=int, default=48, metavar="N",
               help="clips per batch (default: %(default)s)")
    add_option(p, "--workers", type=int, default=8, metavar="NW", dest="num_workers",
               help="data-loading workers (default: %(default)s)")


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``retrieval``, ``embed`` and ``reconstruct``."""
    r = add_command(
        subparsers, "retrieval", "audio<->visual retrieval recalls of a checkpoint",
        """
        Audio->visual and visual->audio retrieval as the original src/retrieval.py scores it:
        for every clip the unmasked forward_feat tokens of the middle frame (5) and the fbank,
        mean-pooled; each query ranks every clip of the other modality by cosine similarity.
        Prints R@1, R@5, R@10 (percent) and MR (median rank, 1-based) per direction, with the
        published anchors; --json writes them (as fractions), the clips scored and the
        failures. With --embeddings the vectors come from an 'avprep embed' file instead of
        the model (restricted to and ordered by --data when given).

        Ties: a query's rank counts the candidates scoring strictly higher than its own clip.
        The original also adds an entry per tied candidate to what it averages, so it scores
        lower where ties exist; the number of queries with a tie is reported (a2v_tied,
        v2a_tied; identical clips are the usual cause). Clips whose media cannot be read are
        left out and listed (exit 1).
        """ + ANCHORS_TEXT, RETRIEVAL_EXAMPLE, _retrieval)
    _common(r, data_required=False)
    _loader(r)
    r.add_argument("--embeddings", metavar="FILE",
                   help="read the vectors from this 'avprep embed' file instead of the model")
    r.add_argument("--released", metavar="LIST",
                   help="released list (JSON, pack, or ids one a line): report how many of its "
                        "ids were scored; the ids scored go beside --json as "
                        "<name>.scored_ids.txt")
    r.add_argument("--json", metavar="FILE", help="write the result to this JSON file")

    e = add_command(
        subparsers, "embed", "per-clip audio and visual embeddings into an Arrow file",
        """
        Write each clip's audio and visual embedding (the mean of the unmasked forward_feat
        tokens, middle frame 5, not normalized) to one Arrow IPC file keyed by video id;
        --tokens adds the token sequences (audio [N_a, D], visual [N_v, D]), as the original's
        extract_audio_representation.py saves them (ViT-Base: 512 x 768 audio tokens, about
        2 MB per clip in float32 with both sequences). Resumable: part files are written
        every --chunk clips, a rerun skips the ids already embedded and merges everything into
        the file; clips that fail are listed (exit 1) and retried by the next run.
        Read it with avprep.train.embed.read_embeddings / read_tokens or any Arrow reader.
        """, EMBED_EXAMPLE, _embed)
    _common(e)
    _loader(e)
    add_option(e, "--out", required=True, metavar="FILE",
                   help="the Arrow file to write (e.g. embeddings.arrow)")
    e.add_argument("--tokens", action="store_true", help="also store the token sequences")
    e.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="stored number type (default: %(default)s)")
    e.add_argument("--chunk", type=int, default=1024, metavar="N",
                   help="clips per part file: at most this much work is lost to a kill "
                        "(default: %(default)s)")

    c = add_command(
        subparsers, "reconstruct", "inpainting pictures of a pretraining checkpoint",
        """
        Draw the original src/inpaint.py figure for chosen clips, one PNG per clip in --out
        (<video_id>.png): the frame (top) and the spectrogram (bottom), original, masked, and
        reconstructed (the decoder's output in the removed patches, the visible ones kept).
        Meant for cav-mae-base-nonorm, the released pretraining checkpoint trained without
        --norm_pix_loss: the others predict per-patch standardized pixels, whose pictures
        show structure but not the input's levels. Each clip's masks are drawn after seeding
        with --seed (2, as the original), so they do not depend on the other clips. The audio
        masking mode reaches the model here; the original's figure script always masks
        unstructured whatever its setting.
        """, RECONSTRUCT_EXAMPLE, _reconstruct)
    _common(c, amp=False)
    add_option(c, "--out", required=True, metavar="DIR", help="folder for the PNG files")
    c.add_argument("--ids", nargs="+", metavar="ID",
                   help="video ids to draw (also comma-separated; default: the first --count)")
    c.add_argument("--count", type=int, default=4,
                   help="clips drawn without --ids (default: %(default)s, as the original)")
    c.add_argument("--masking_ratio", type=float, default=0.75,
                   help="masking ratio of both modalities (default: %(default)s)")
    c.add_argument("--masking_ratio_a", type=float, default=None,
                   help="audio masking ratio (default: --masking_ratio)")
    c.add_argument("--masking_ratio_v", type=float, default=None,
                   help="visual masking ratio (default: --masking_ratio)")
    c.add_argument("--mask_mode", default="unstructured",
                   choices=MASK_MODES,
                   help="audio masking (default: %(default)s)")
    c.add_argument("--seed", type=int, default=2, help="seed before each clip (default: 2)")


def _check_loader(args: argparse.Namespace) -> None:
    from avprep.errors import InputError

    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.num_workers < 0:
        raise InputError(f"--workers must not be negative, got {args.num_workers}")


def _show_failures(failures) -> None:
    print_failures(f"{len(failures)} clip(s) could not be read and were left out:", failures,
                   lambda f: f"{f[0]}: {f[1]}")


def _retrieval(args: argparse.Namespace) -> int:
    from avprep.train.outputs import json_safe
    from avprep.train.released import ids_path, summary
    from avprep.train.retrieval import format_scores, retrieval

    _check_loader(args)
    check_outputs([("--model", args.model), *folder_files("--data", args.data),
                   ("--embeddings", args.embeddings), *folder_files("--released", args.released)],
                  [("--json", args.json),
                   ("--json", ids_path(args.json) if args.json and args.released else None)])
    result = retrieval(args.model, args.data, embeddings=args.embeddings,
                       released=args.released, json_path=args.json,
                       batch_size=args.batch_size, num_workers=args.num_workers,
                       mean=args.dataset_mean, std=args.dataset_std, amp=args.amp,
                       device=args.device)
    flat = {k: v for k, v in result.items() if k.startswith(("a2v_", "v2a_"))}
    print(json.dumps(json_safe(flat)))
    for line in format_scores(result):
        print(line, file=sys.stderr)
    print(f"{result['n_clips']} clips scored", file=sys.stderr)
    if "released" in result:
        print(summary(result["released"]), file=sys.stderr)
    if result["failures"]:
        _show_failures([(f["video_id"], f["reason"]) for f in result["failures"]])
        return 1
    return 0


def _embed(args: argparse.Namespace) -> int:
    from avprep.train.embed import embed

    _check_loader(args)
    check_outputs([("--model", args.model), *folder_files("--data", args.data)],
                  [("--out", args.out)])
    res = embed(args.model, args.data, args.out, tokens=args.tokens, dtype=args.dtype,
                batch_size=args.batch_size, num_workers=args.num_workers, chunk=args.chunk,
                mean=args.dataset_mean, std=args.dataset_std, amp=args.amp, device=args.device)
    if res.n_rows:
        print(f"{res.path}: {res.n_rows} clips ({res.n_new} new, {res.n_skipped} already there)")
    else:
        print(f"{res.path}: nothing written (no clip could be embedded)")
    if res.failures:
        _show_failures(res.failures)
        return 1
    return 0


def _reconstruct(args: argparse.Namespace) -> int:
    from avprep.train.reconstruct import reconstruct

    check_outputs([("--model", args.model), *folder_files("--data", args.data)],
                  [("--out", args.out)])
    ids = [i for chunk in (args.ids or []) for i in chunk.split(",") if i]
    ratio_a = args.masking_ratio if args.masking_ratio_a is None else args.masking_ratio_a
    ratio_v = args.masking_ratio if args.masking_ratio_v is None else args.masking_ratio_v
    pictures, failures = reconstruct(
        args.model, args.data, args.out, ids=ids or None, count=args.count,
        mask_ratio_a=ratio_a, mask_ratio_v=ratio_v, mask_mode=args.mask_mode, seed=args.seed,
        mean=args.dataset_mean, std=args.dataset_std, device=args.device)
    for p in pictures:
        print(f"{p.path}: loss audio {p.loss_a:.4f}, visual {p.loss_v:.4f}")
    if pictures:
        mean_a = sum(p.loss_a for p in pictures) / len(pictures)
        mean_v = sum(p.loss_v for p in pictures) / len(pictures)
        print(f"mean loss over removed patches: audio {mean_a:.4f}, visual {mean_v:.4f}",
              file=sys.stderr)
    if failures:
        _show_failures(failures)
        return 1
    return 0
