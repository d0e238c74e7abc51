"""``avprep extract``: raw videos -> ``<A>/<id>.wav`` and ``<F>/frame_<i>/<id>.jpg``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Optional, Tuple

from avprep.cli import (add_command, add_engine_options, add_option, check_engine_options,
                        default_workers)
from avprep.constants import DEFAULT_CLIP_TIMEOUT, IMAGE_RES, N_FRAMES
from avprep.errors import InputError

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
