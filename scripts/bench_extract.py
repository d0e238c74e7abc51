#!/usr/bin/env python
"""Benchmark extraction: the original way vs avprep vs a bare decode, on the same clips, one run.

Methods, each over every clip, best of --repeat rounds (every method once a round):
- original: per clip an ffmpeg process resampling to 16 kHz, a second process keeping channel 0
  (the original's sox step), and OpenCV seeks for the ten frames, each then resized, cropped and
  taken through a float tensor to a JPEG as the original's torchvision steps did
  (avprep.media.reference), with the outputs written as the original wrote them;
- avprep: avprep.media.extract_clip per clip, one decoding thread, in this process (frames that
  are neither scheduled nor referenced are left undecoded), and the same decoding every frame;
- bare decode: PyAV decoding all audio and the video up to the last scheduled frame, one thread,
  nothing converted or written: the floor for any in-process extractor;
- avprep runner with 1 and 2 worker processes (``run_extract`` on the folder, worker start-up
  included);
- the frame resize alone: Pillow's plain resize + crop against avprep's split resize.

Machines are shared and busy, so besides wall time the script reports CPU time (this process and
its children): "clips/s per core" is clips per CPU-second (runner rows: wall time only, their
workers are forked by a fork server). Ratios compare methods of this run only.

    python scripts/bench_extract.py                 # fixtures + 3 synthesized 10 s clips
    python scripts/bench_extract.py --synth 0 --repeat 3
    python scripts/bench_extract.py --clips DIR --workers 1,2,4,8
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "cavmae-samples"


def cpu_seconds() -> float:
    """CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def original_way(path: Path, out: Path) -> None:
    """ffmpeg + channel-0 process for audio, OpenCV seeks for frames, outputs written."""
    from avprep.media.audio import write_wav
    from avprep.media.reference import reference_audio, reference_frames

    video_id = path.stem
    write_wav(out / "A" / f"{video_id}.wav", reference_audio(path))
    for i, jpeg in enumerate(reference_frames(path)):
        if jpeg is not None:
            target = out / "F" / f"frame_{i}" / f"{video_id}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(jpeg)


def avprep_way(path: Path, out: Path) -> None:
    """avprep.media.extract_clip, one decoding thread."""
    from avprep.media import extract_clip

    extract_clip(path, out / "A", out / "F", threads=1)


def avprep_every_frame(path: Path, out: Path) -> None:
    """The same, decoding every frame up to the last scheduled one (no frame skipping)."""
    from avprep.media.clip import ClipTask, process_clip

    result = process_clip(ClipTask(str(path), path.stem, str(out / "A"), str(out / "F"),
                                   threads=1, skip_frames=False))
    assert result.ok, result.failures


def resize_rows(sizes=((1280, 720), (854, 480), (480, 360), (256, 144)), rounds: int = 50):
    """Per-frame ms of Pillow's plain resize + crop against avprep's split resize, same pixels."""
    import numpy as np
    from PIL import Image

    from avprep.media.frames import crop_box, resize_and_crop, resized_size

    rows = []
    for width, height in sizes:
        image = Image.fromarray(np.random.default_rng(0).integers(
            0, 256, (height, width, 3), dtype=np.uint8))
        w, h = resized_size(width, height)

        def plain(image=image, w=w, h=h):
            return image.resize((w, h), Image.Resampling.BILINEAR).crop(crop_box(w, h))

        best = {}
        for _ in range(3):
            for name, fn in (("plain", plain), ("split", lambda image=image: resize_and_crop(image))):
                t0 = time.process_time()
                for _ in range(rounds):
                    fn()
                ms = (time.process_time() - t0) / rounds * 1e3
                best[name] = min(best.get(name, ms), ms)
        same = np.array_equal(np.asarray(plain()), np.asarray(resize_and_crop(image)))
        rows.append((f"{width}x{height}", best["plain"], best["split"], same))
    return rows


def bare_decode(path: Path, out: Path) -> None:
    """Decode all audio and the video up to the last scheduled frame; convert and write nothing."""
    import av

    from avprep.media import probe

    with av.open(str(path)) as container:
        audio = probe.pick_audio_stream(container)
        video = probe.pick_video_stream(container)
        timing = probe.video_timing(container, video)
        last = max(probe.frame_schedule(timing.fps, timing.frame_count))
        video.codec_context.thread_count = 1
        decoded = 0
        for packet in container.demux(*[s for s in (audio, video) if s is not None]):
            if packet.stream is video:
                if decoded > last:
                    continue
                for _frame in packet.decode():
                    decoded += 1
            else:
                for _frame in packet.decode():
                    pass


def timed(fn: Callable[[], None], repeat: int) -> Dict[str, float]:
    best = None
    for _ in range(repeat):
        c0, t0 = cpu_seconds(), time.perf_counter()
        fn()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        if best is None or cpu < best["cpu"]:
            best = {"wall": wall, "cpu": cpu}
    return best


def timed_together(passes: Dict[str, Callable[[], None]],
                   repeat: int) -> Dict[str, Dict[str, float]]:
    """Best of ``repeat`` rounds, each round running every pass once in turn, so that a burst of
    load from elsewhere falls on all methods alike rather than on one."""
    best: Dict[str, Dict[str, float]] = {}
    for _ in range(repeat):
        for name, fn in passes.items():
            r = timed(fn, 1)
            if name not in best or r["cpu"] < best[name]["cpu"]:
                best[name] = r
    return best


def per_clip_pass(method: Callable[[Path, Path], None], clips: List[Path], scratch: Path):
    def run() -> None:
        out = Path(tempfile.mkdtemp(dir=scratch))
        for clip in clips:
            method(clip, out)
        shutil.rmtree(out)
    return run


def runner_pass(folder: Path, workers: int, scratch: Path):
    from avprep.media.runner import run_extract

    def run() -> None:
        out = Path(tempfile.mkdtemp(dir=scratch))
        summary = run_extract(folder, out / "A", out / "F", log_path=out / "log.jsonl",
                              workers=workers, show_progress=False)
        assert summary.failed == 0, summary.line()
        shutil.rmtree(out)
    return run


def original_available() -> bool:
    """Whether OpenCV and the packaged ffmpeg (the original way's tools) are installed."""
    try:
        import cv2  # noqa: F401

        from avprep.synth import ffmpeg_exe

        return Path(ffmpeg_exe()).exists()
    except Exception:
        return False


def gather_clips(args, folder: Path) -> List[Path]:
    if args.clips:
        for clip in sorted(Path(args.clips).iterdir()):
            if clip.is_file():
                os.symlink(clip.resolve(), folder / clip.name)
        return sorted(folder.iterdir())
    if not args.no_fixtures:
        for clip in sorted(FIXTURES.glob("*.mp4")) + sorted(FIXTURES.glob("*.webm")):
            os.symlink(clip, folder / clip.name)
    if args.synth:
        from avprep.synth import make_clip

        for k in range(args.synth):
            # YouTube-like h264: B-frames, a keyframe every 2 s
            make_clip(folder / f"synth{k}.mp4", duration=10, width=480, height=360,
                      tone=300 + 100 * k, pattern=("testsrc2", "testsrc", "smptebars")[k % 3],
                      extra_args=("-preset", "veryfast", "-g", "50"))
    return sorted(folder.iterdir())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synth", type=int, default=3,
                        help="synthesized 10 s 480x360 h264/aac clips to add (default 3)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds (each method once per round), best kept (default 5)")
    parser.add_argument("--no-fixtures", action="store_true", help="leave the fixture clips out")
    parser.add_argument("--clips", metavar="DIR", help="use the videos in DIR instead")
    parser.add_argument("--workers", default="1,2", metavar="LIST",
                        help="worker counts for the runner rows (default 1,2)")
    parser.add_argument("--runner-only", action="store_true",
                        help="only the runner rows (worker scaling)")
    parser.add_argument("--per-clip-max", type=int, default=20, metavar="N",
                        help="per-clip table for the first N clips only (default 20)")
    args = parser.parse_args(argv)
    import torch

    # one thread for the original's tensor step: a thread pool's spinning would count as its CPU
    torch.set_num_threads(1)
    worker_counts = [int(w) for w in args.workers.split(",")]

    scratch = Path(tempfile.mkdtemp(prefix="bench_extract_"))
    try:
        folder = scratch / "clips"
        folder.mkdir()
        clips = gather_clips(args, folder)
        n = len(clips)
        print(f"{n} clips: {', '.join(c.name for c in clips)}")
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        for clip in clips:  # warm the page cache and the imports
            bare_decode(clip, scratch)
        avprep_way(clips[0], scratch / "warm")
        with_original = original_available()
        if not with_original:
            print("OpenCV or the packaged ffmpeg is missing: the original way is left out")

        methods = [("avprep extract_clip", avprep_way),
                   ("avprep, every frame decoded", avprep_every_frame),
                   ("bare PyAV decode", bare_decode)]
        if with_original:
            methods.insert(0, ("original (ffmpeg x2 + OpenCV seeks)", original_way))
        if args.runner_only:
            methods, with_original = [], False
        rows = timed_together({name: per_clip_pass(fn, clips, scratch) for name, fn in methods},
                              args.repeat)
        for workers in worker_counts:
            rows[f"avprep runner, {workers} workers"] = timed(
                runner_pass(folder, workers, scratch), args.repeat)
        print(f"\n{'method':38s} {'wall s':>8s} {'clips/s':>8s} {'CPU s/clip':>11s} "
              f"{'clips/s/core':>13s}")
        for name, r in rows.items():
            if name.startswith("avprep runner"):  # workers are not this process's children
                print(f"{name:38s} {r['wall']:8.2f} {n / r['wall']:8.2f} {'n/a':>11s} "
                      f"{'n/a':>13s}")
                continue
            print(f"{name:38s} {r['wall']:8.2f} {n / r['wall']:8.2f} {r['cpu'] / n:11.3f} "
                  f"{n / r['cpu']:13.2f}")

        if args.runner_only:
            base = rows[f"avprep runner, {worker_counts[0]} workers"]
            for workers in worker_counts[1:]:
                r = rows[f"avprep runner, {workers} workers"]
                print(f"  runner {workers} workers vs {worker_counts[0]}, wall: "
                      f"{base['wall'] / r['wall']:.2f}x")
            return 0
        print(f"\nper clip, CPU ms (best of {args.repeat}):")
        labels = [("original", original_way)] if with_original else []
        labels += [("avprep", avprep_way), ("no-skip", avprep_every_frame), ("bare", bare_decode)]
        print(f"{'clip':28s}" + "".join(f" {label:>9s}" for label, _ in labels)
              + (f" {'orig/avprep':>12s}" if with_original else "") + f" {'avprep/bare':>12s}")
        for clip in clips[:args.per_clip_max]:
            cost = {label: r["cpu"] for label, r in timed_together(
                {label: per_clip_pass(fn, [clip], scratch) for label, fn in labels},
                args.repeat).items()}
            line = f"{clip.name[:28]:28s}" + "".join(f" {cost[l] * 1e3:9.0f}" for l, _ in labels)
            if with_original:
                line += f" {cost['original'] / cost['avprep']:12.2f}"
            print(line + f" {cost['avprep'] / cost['bare']:12.2f}")

        ours, bare = rows["avprep extract_clip"], rows["bare PyAV decode"]
        print("\nratios (same run):")
        if with_original:
            orig = rows["original (ffmpeg x2 + OpenCV seeks)"]
            print(f"  avprep vs original, per core (CPU): {orig['cpu'] / ours['cpu']:.2f}x faster "
                  f"(goal >= 3x); wall: {orig['wall'] / ours['wall']:.2f}x")
        print(f"  avprep vs bare decode, per core (CPU): {ours['cpu'] / bare['cpu']:.2f}x the "
              f"time (goal <= 1.5x); wall: {ours['wall'] / bare['wall']:.2f}x")
        every = rows["avprep, every frame decoded"]
        print(f"  frame skipping saves {1 - ours['cpu'] / every['cpu']:.0%} of avprep's CPU time")
        base = rows[f"avprep runner, {worker_counts[0]} workers"]
        for workers in worker_counts[1:]:
            r = rows[f"avprep runner, {workers} workers"]
            print(f"  runner {workers} workers vs {worker_counts[0]}, wall: "
                  f"{base['wall'] / r['wall']:.2f}x")
        print("\nframe resize, CPU ms per frame (plain Pillow resize + crop vs avprep's split):")
        for size, plain_ms, split_ms, same in resize_rows():
            print(f"  {size:>9s}: plain {plain_ms:.2f}, split {split_ms:.2f} "
                  f"({1 - split_ms / plain_ms:.0%} less), same pixels: {same}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
