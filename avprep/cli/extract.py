"""``avprep extract``: raw videos -> ``<A>/<id>.wav`` and ``<F>/frame_<i>/<id>.jpg``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Optional, Tuple

from avprep.cli import (add_command, add_engine_options, add_option, check_engine_options,
                        default_workers)
from avprep.constants import DEFAULT_CLIP_TIMEOUT, IMAGE_RES, N_FRAMES
from avprep.errors import InputError, WriteError

if TYPE_CHECKING:
    from avprep.framespec import FrameSpec
    from avprep.media.keep import ClipKeep


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``avprep extract``."""
    p = add_command(
        subparsers, "extract",
        "extract 16 kHz mono wavs and 10 frames per video, as the original CAV-MAE scripts",
        """
        Turn raw videos into what the original CAV-MAE extraction scripts write:
        A/<id>.wav (the audio resampled to 16 kHz by ffmpeg's default resampler, channel 0 kept,
        16-bit PCM; every sample within 1 LSB of the original's, which itself differs by that
        much across FFmpeg builds) and F/frame_<i>/<id>.jpg for i = 0..9 (the original frame
        schedule, shorter side 224, centre crop 224x224, JPEG quality 75: byte-identical JPEGs).
        Each video is decoded once, in process.

        INPUT is a folder (searched recursively for video files, following links to folders; a
        folder reached twice is searched once) or a UTF-8 text file with one path per line
        (relative paths are relative to the list file). The id is the file name without its
        last extension; --ids maps download names such as Y<ytid>_<start>_<end>.mp4 to list ids.

        Complete outputs are kept as they are: a re-run skips complete clips, redoes only the
        missing or incomplete outputs (a zero-byte or cut-short file, a dangling link, a wav that
        is not 16 kHz mono, a JPEG without its end marker; a folder in the way is reported, not
        removed) and removes temporary files a killed run left. Every failure is recorded
        in the log (JSON lines: id, path, stage, reason); the run goes on. A video that ends
        before one of its scheduled frames repeats the last earlier frame in the missing slots
        (the image the original loader would have read). --shard i/N takes the clips whose id
        hashes to i of N, so N copies can run with no coordination (e.g. a SLURM array).

        --frames N takes N frames per clip instead of ten (frame i at decoded frame
        max(int(i * total / N) - 1, 0) of the first 10 s, the original's rule), --frame-size S
        scales the shorter side to S instead of 224, and --no-crop keeps the whole frame at that
        scale instead of its centre square. Settings other than the default are recorded in
        F/frames.json, which the Dataset, build-list and later runs read; a run with other
        settings than a folder records is refused. The default writes the original's bytes.
        --keep-clip DIR also writes DIR/<id>.mp4, the clip's first 10 s (streams copied; with
        --clip-gop or --clip-size the video is re-encoded with H.264), for loaders that decode
        on the fly.

        With --pack DIR the clips go straight into a pack (as avprep pack writes one, Arrow
        shards of --shard-size clips, an index and a manifest) and no loose file is written:
        a few thousand files for AudioSet-2M instead of millions. Each shard holds the same wav
        samples and the same JPEG bytes that A and F would hold and, with --fbank, each clip's
        fbank as avprep pack --fbank stores it. Shard k holds the videos k*S .. (k+1)*S-1 of
        INPUT in order; a re-run with the same INPUT keeps every finished shard and writes the
        rest (another INPUT or other options are refused). --workers writes that many shards
        at once (--engine ray: as Ray tasks); --shard i/N writes the shards k with k % N == i,
        and the run that finds every shard finished writes the index and manifest. Failures are
        logged as without --pack (default log: DIR.extract-failures.jsonl). avprep unpack
        writes the loose layout back; avprep build-list --pack makes lists that point into it.
        --frame-size and --no-crop apply (recorded in DIR/frames.json); a pack holds ten
        frames per clip, and --keep-clip and --clip-timeout do not apply (a shard is one
        job).

        Exit status: 0 every clip succeeded; 1 some failed (the rest were written); 2 unusable
        input.
        """,
        """
        avprep extract videos/ --audio-dir out/audio --frame-dir out/frames --workers 8
        avprep extract list.txt --audio-dir out/audio --frame-dir out/frames \\
            --ids audioset --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT
        avprep extract videos/ --audio-dir out/audio --frame-dir out/frames16 --frames 16
        avprep extract videos/ --only frames --frame-dir out/full --frame-size 256 --no-crop \\
            --keep-clip out/clips --clip-gop 16 --clip-size 256
        avprep extract videos/ --ids audioset --pack out/pack --fbank --workers 8
        """,
        _extract)
    p.add_argument("input", metavar="INPUT", help="folder of videos, or a text file of paths")
    p.add_argument("--audio-dir", metavar="A", help="folder for <id>.wav")
    p.add_argument("--frame-dir", metavar="F", help="folder for frame_<i>/<id>.jpg")
    p.add_argument("--only", choices=("audio", "frames"),
                   help="extract only the audio or only the frames")
    add_option(p, "--workers", type=int, default=default_workers(), metavar="N",
                   help="worker processes (default: the CPUs available, %(default)s here; "
                        "0 runs in this process)")
    p.add_argument("--log", metavar="LOG",
                   help="failure log, JSON lines, rewritten each run (default: beside the "
                        "audio folder A, named A.extract-failures.jsonl, or "
                        "A.extract-failures.shard-<i>-of-<N>.jsonl with --shard; beside F "
                        "with --only frames)")
    p.add_argument("--shard", metavar="i/N",
                   help="process only shard i of N (0 <= i < N), chosen by a hash of the id")
    p.add_argument("--ids", choices=("audioset", "vggsound"),
                   help="map download file names to AudioSet or VGGSound list ids")
    p.add_argument("--pack", metavar="DIR",
                   help="write the clips into a pack folder DIR instead of A and F")
    p.add_argument("--fbank", nargs="?", const="float32", choices=("float32", "float16"),
                   help="with --pack: also store each clip's fbank (bare --fbank: float32)")
    p.add_argument("--shard-size", type=int, metavar="N",
                   help="with --pack: videos per shard (default 1000)")
    p.add_argument("--frames", type=int, default=N_FRAMES, metavar="N",
                   help="frames per clip (default: %(default)s, as the original; CAV-MAE Sync "
                        "uses 16)")
    p.add_argument("--frame-size", type=int, default=IMAGE_RES, metavar="S",
                   help="shorter side of each frame in pixels (default: %(default)s)")
    p.add_argument("--no-crop", action="store_true",
                   help="keep the whole frame at --frame-size instead of its centre square "
                        "(the loader then crops)")
    p.add_argument("--keep-clip", metavar="DIR",
                   help="also write DIR/<id>.mp4: the clip's first 10 s, streams copied")
    p.add_argument("--clip-gop", type=int, metavar="G",
                   help="re-encode the kept clip's video (H.264) with a keyframe every G frames")
    p.add_argument("--clip-size", type=int, metavar="S",
                   help="re-encode the kept clip's video (H.264) with its shorter side S pixels "
                        "(even)")
    add_engine_options(p)
    p.add_argument("--clip-timeout", type=float, default=DEFAULT_CLIP_TIMEOUT, metavar="S",
                   help="seconds one clip may take before its worker is stopped and the clip "
                        "recorded as failed (default: %(default)g; 0: no limit; needs "
                        "--workers >= 1)")


def frame_options(args: argparse.Namespace) -> "Tuple[FrameSpec, Optional[ClipKeep]]":
    """The ``FrameSpec`` and the ``ClipKeep`` (or None) that ``--frames``, ``--frame-size``,
    ``--no-crop``, ``--keep-clip``, ``--clip-gop`` and ``--clip-size`` ask for."""
    from avprep.framespec import FrameSpec
    from avprep.media.keep import ClipKeep

    if args.keep_clip is None and (args.clip_gop is not None or args.clip_size is not None):
        raise InputError("--clip-gop and --clip-size need --keep-clip DIR")
    spec = FrameSpec(count=args.frames, size=args.frame_size, crop=not args.no_crop)
    keep = None
    if args.keep_clip is not None:
        keep = ClipKeep(args.keep_clip, gop=args.clip_gop, size=args.clip_size)
    return spec, keep


def _extract(args: argparse.Namespace) -> int:
    from avprep.media.runner import parse_shard, run_extract

    if args.pack is not None:
        return _extract_pack(args)
    if args.fbank is not None or args.shard_size is not None:
        raise InputError("--fbank and --shard-size need --pack DIR")
    audio_dir = args.audio_dir if args.only != "frames" else None
    frame_dir = args.frame_dir if args.only != "audio" else None
    if args.only != "frames" and not args.audio_dir:
        raise InputError("--audio-dir is required (or use --only frames)")
    if args.only != "audio" and not args.frame_dir:
        raise InputError("--frame-dir is required (or use --only audio)")
    if args.workers < 0:
        raise InputError("--workers must be 0 or more")
    shard = parse_shard(args.shard)
    check_engine_options(args)
    frame_spec, keep = frame_options(args)
    summary = run_extract(args.input, audio_dir, frame_dir, log_path=args.log,
                          workers=args.workers, scheme=args.ids, shard=shard,
                          engine=args.engine, clip_timeout=args.clip_timeout or None,
                          address=args.address, frame_spec=frame_spec, keep=keep)
    print(f"avprep extract: {summary.line()}", file=sys.stderr)
    return 1 if summary.failed else 0


def _extract_pack(args: argparse.Namespace) -> int:
    from avprep.media.runner import parse_shard
    from avprep.store.from_videos import pack_videos
    from avprep.store.pack import DEFAULT_SHARD_SIZE

    if args.audio_dir or args.frame_dir or args.only:
        raise InputError("--pack DIR takes no --audio-dir, --frame-dir or --only (a pack holds "
                         "both; avprep unpack writes them out)")
    if args.keep_clip is not None:
        raise InputError("--keep-clip writes a file per clip: not with --pack DIR")
    shard = parse_shard(args.shard)
    check_engine_options(args)
    frame_spec, _keep = frame_options(args)
    try:
        result = pack_videos(args.input, args.pack, scheme=args.ids, shard=shard,
                             shard_size=args.shard_size or DEFAULT_SHARD_SIZE, fbank=args.fbank,
                             workers=args.workers, engine=args.engine, address=args.address,
                             log_path=args.log, frame_spec=frame_spec)
    except OSError as err:  # a full disk or a size limit: finished shards stay, a re-run resumes
        raise WriteError(f"pack stopped: {err.strerror or err}",
                         err.filename or args.pack) from None
    print(f"avprep extract: {result.line()}", file=sys.stderr)
    return 1 if result.failed else 0
