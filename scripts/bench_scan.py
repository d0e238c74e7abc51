#!/usr/bin/env python
"""Benchmark finding the complete clips of an output tree: per-clip checks vs one scan.

Synthesizes ``--clips`` clips (default 20,000: a wav and ten JPEG frames each, 220,000 files) in
the extract layout in a temporary folder, then times, best of ``--repeat``, with the files in
the page cache:

- ``per clip``      the straightforward baseline: :func:`avprep.layout.has_media` for every id
                    (eleven opens, each reading a header or the JPEG markers)
- ``names only``    one listing per folder and no file opened (what the scan did before it
                    checked headers; it took a zero-byte wav for a complete one)
- ``scan_media``    :func:`avprep.complete.scan_media`: one listing per folder, then the header
                    and JPEG-marker checks for the names that can be complete

and prints seconds, clips per second and the ratios against the baseline, measured in the same
run. ``--clips 2000000`` gives the AudioSet-2M size (22M files: ~9 GB of inodes and a long set-up).

    python scripts/bench_scan.py
    python scripts/bench_scan.py --clips 5000 --repeat 1
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avprep import layout  # noqa: E402
from avprep.complete import N_FRAMES, frame_folder, scan_media  # noqa: E402


def _wav_bytes() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(layout.SAMPLE_RATE)
        fh.writeframes(b"\x00\x01" * 160)
    return buf.getvalue()


def _jpeg_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 100, 200)).save(buf, format="JPEG", quality=75)
    return buf.getvalue()


def synthesize(root: Path, clips: int) -> list:
    """Write ``clips`` complete clips under ``root``/audio and ``root``/frames; return the ids."""
    ids = [f"{k:011d}" for k in range(clips)]
    wav, jpg = _wav_bytes(), _jpeg_bytes()
    audio = root / "audio"
    audio.mkdir(parents=True)
    for vid in ids:
        (audio / f"{vid}.wav").write_bytes(wav)
    for i in range(N_FRAMES):
        folder = Path(frame_folder(root / "frames", i))
        folder.mkdir(parents=True)
        for vid in ids:
            (folder / f"{vid}.jpg").write_bytes(jpg)
    return ids


def names_only(audio: Path, frames: Path, ids: list) -> set:
    """The previous scan: ids whose eleven names exist, from one listing per folder."""
    wanted = set(ids)
    found = {n[:-4] for n in os.listdir(audio) if n.endswith(".wav")} & wanted
    for i in range(N_FRAMES):
        found &= {n[:-4] for n in os.listdir(frame_folder(frames, i)) if n.endswith(".jpg")}
    return found


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="avprep-bench-scan-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        ids = synthesize(root, args.clips)
        print(f"synthesized {args.clips} clips ({args.clips * (N_FRAMES + 1)} files) in "
              f"{time.perf_counter() - start:.1f} s")
        audio, frames = root / "audio", root / "frames"
        assert len(scan_media(audio, frames, ids, both=True).complete()) == args.clips
        rows = [
            ("per clip (layout.has_media)",
             best(lambda: [v for v in ids if layout.has_media(audio, frames, v)], args.repeat)),
            ("names only (no file opened)",
             best(lambda: names_only(audio, frames, ids), args.repeat)),
            ("scan_media (build-list: both)",
             best(lambda: scan_media(audio, frames, ids, both=True), args.repeat)),
            ("scan_media (extract: apart, temps)",
             best(lambda: scan_media(audio, frames, ids, temps=True), args.repeat)),
        ]
        base = rows[0][1]
        print(f"{'method':38s} {'seconds':>8s} {'clips/s':>10s} {'vs per clip':>12s}")
        for name, seconds in rows:
            print(f"{name:38s} {seconds:8.3f} {args.clips / seconds:10.0f} "
                  f"{base / seconds:11.2f}x")


if __name__ == "__main__":
    main()
