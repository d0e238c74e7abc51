#!/usr/bin/env python
"""Benchmark: random-access samples/s reading clips from a pack against the same clips as loose
files (a wav and ten JPEGs each), and the bytes both take on disk. With ``--engines``: packing
clips/s on the local engine and on Ray, with 1 and 2 workers, on the same list (the shards of
every run must be byte-identical).

A sample here is what the loader needs from storage: the wav's samples and the ten frames' bytes.
Both sides read through the page cache on a local disk, so the figure measures per-file costs
(open, stat, small reads) that grow on network file systems; it is a lower bound of the gap there.

    python scripts/bench_store.py --clips 200 --reads 2000
    python scripts/bench_store.py --engines --clips 160 --shard-size 20 --fbank float32
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
from PIL import Image

from avprep.features import read_pcm16
from avprep.layout import frame_paths
from avprep.store import open_store, pack


def make_media(root: Path, n: int, seconds: float, seed: int = 0):
    """n clips: a 16 kHz mono wav and ten 224x224 JPEGs (smooth images, realistic sizes)."""
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True)
    entries = []
    yy, xx = np.mgrid[0:224, 0:224]
    for i in range(n):
        vid = f"bench_{i:05d}"
        pcm = (3000 * np.sin(np.arange(int(seconds * 16000)) * rng.uniform(0.01, 0.5))
               + rng.normal(0, 300, int(seconds * 16000))).astype(np.int16)
        with wave.open(str(root / "audio" / f"{vid}.wav"), "wb") as fh:
            fh.setnchannels(1)
            fh.setsampwidth(2)
            fh.setframerate(16000)
            fh.writeframes(pcm.tobytes())
        for j, path in enumerate(frame_paths(root / "frames", vid)):
            path.parent.mkdir(parents=True, exist_ok=True)
            img = np.stack([(xx * rng.uniform(0.5, 1.1) + j * 9) % 256,
                            (yy * rng.uniform(0.5, 1.1)) % 256,
                            ((xx + yy) / 2 + rng.normal(0, 12, xx.shape)) % 256], -1)
            Image.fromarray(img.astype(np.uint8)).save(path, quality=75)
        entries.append({"video_id": vid, "wav": str(root / "audio" / f"{vid}.wav"),
                        "video_path": str(root / "frames"), "labels": "/m/09x0r"})
    return entries


def disk_usage(paths):
    """(apparent bytes, allocated bytes) of files."""
    apparent = allocated = 0
    for p in paths:
        st = os.stat(p)
        apparent += st.st_size
        allocated += st.st_blocks * 512
    return apparent, allocated


def shard_bytes(folder: Path) -> dict:
    """name -> bytes of every shard, the index and the manifest of a pack."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def bench_engines(root: Path, listing: Path, clips: int, shard_size: int, fbank, workers) -> None:
    """Time ``pack`` on the local engine and on Ray with each worker count; check the bytes.

    Each Ray run gets a cluster of as many CPUs as workers, started before the run (its
    start-up is reported on its own), as one joined with ``--address`` would be. Two figures
    per run: over the whole run, which includes starting worker processes and their first
    imports and calls, and the steady rate from the shard that finishes once every worker has
    had one to the last shard, which is what a long run sees.
    """
    import logging

    import ray

    from avprep.engines.ray import (LOCAL_SYSTEM_CONFIG, loopback_only, remove_temp_dir,
                                          session_root)

    runs = {}
    reference = None
    ray_start = []
    for engine in ("local", "ray"):
        for n in workers:
            if engine == "ray":  # a cluster of n CPUs, as the engine starts for n workers
                temp = session_root()
                t = time.perf_counter()
                with loopback_only():
                    ray.init(address="local", num_cpus=n, include_dashboard=False,
                             _node_ip_address="127.0.0.1", log_to_driver=False,
                             logging_level=logging.ERROR, object_store_memory=128 * 2**20,
                             _temp_dir=temp, _system_config=LOCAL_SYSTEM_CONFIG)
                ray_start.append(time.perf_counter() - t)
            try:
                out = root / f"pack-{engine}-{n}"
                finished = []
                t = time.perf_counter()
                result = pack(listing, out, shard_size=shard_size, fbank=fbank, workers=n,
                              engine=engine, on_shard=lambda info: finished.append(
                                  (time.perf_counter(), info.entries)))
                total = time.perf_counter() - t
                assert not result.failures
                got = shard_bytes(out)
                reference = reference or got
                assert got == reference, f"{engine} with {n} workers wrote other bytes"
                finished.sort()
                if len(finished) > n:
                    steady = (sum(e for _, e in finished[n:])
                              / (finished[-1][0] - finished[n - 1][0]))
                else:
                    steady = float("nan")
                runs[(engine, n)] = (clips / total, steady)
            finally:
                if engine == "ray":
                    ray.shutdown()
                    remove_temp_dir(temp)
    starts = ", ".join(f"{t:.1f}" for t in ray_start)
    print(f"pack of {clips} clips, {shard_size} per shard, fbank {fbank}; Ray cluster start "
          f"{starts} s (not included below); shards, index and manifest byte-identical")
    base = runs[("local", workers[0])]
    print(f"{'':16s}{'whole run':>24s}{'steady':>26s}")
    for (engine, n), (whole, steady) in runs.items():
        print(f"{engine:5s} {n} worker{'s' if n > 1 else ' '}  {whole:10.1f} clips/s "
              f"({whole / base[0]:.2f}x)  {steady:10.1f} clips/s ({steady / base[1]:.2f}x)")
    print(f"(x: against the local engine with {workers[0]} worker{'s' if workers[0] > 1 else ''})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--reads", type=int, default=2000)
    ap.add_argument("--shard-size", type=int, default=100)
    ap.add_argument("--dir", help="work folder (default: a temporary one)")
    ap.add_argument("--engines", action="store_true",
                    help="time packing on the local and Ray engines instead")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="worker counts for --engines (default: 1 2)")
    ap.add_argument("--fbank", choices=("float32", "float16"),
                    help="store fbanks in the --engines runs")
    args = ap.parse_args()
    os.environ.setdefault("AVPREP_PROGRESS", "0")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        entries = make_media(root / "media", args.clips, args.seconds)
        made = time.perf_counter() - t
        listing = root / "list.json"
        listing.write_text(json.dumps({"data": entries}))
        if args.engines:
            bench_engines(root, listing, args.clips, args.shard_size, args.fbank, args.workers)
            return
        t = time.perf_counter()
        result = pack(listing, root / "pack", shard_size=args.shard_size)
        packed = time.perf_counter() - t
        t = time.perf_counter()
        result_fb = pack(listing, root / "pack_fb", shard_size=args.shard_size, fbank="float16")
        packed_fb = time.perf_counter() - t
        assert not result.failures and not result_fb.failures

        order = [random.Random(1).randrange(args.clips) for _ in range(args.reads)]

        def loose(i):
            e = entries[i]
            pcm, _ = read_pcm16(e["wav"])
            frames = [p.read_bytes() for p in frame_paths(e["video_path"], e["video_id"])]
            return pcm, frames

        store = open_store(root / "pack")

        def packed_read(i):
            rec = store[i]
            return rec.pcm, rec.frames

        for i in range(args.clips):  # same warm page cache for both
            loose(i)
            packed_read(i)
        a, b = loose(order[0]), packed_read(order[0])
        assert np.array_equal(a[0], b[0]) and a[1] == b[1]
        timings = {}
        for name, fn in (("loose files", loose), ("pack", packed_read)):
            t = time.perf_counter()
            for i in order:
                fn(i)
            timings[name] = time.perf_counter() - t

        loose_files = [e["wav"] for e in entries] + [
            p for e in entries for p in frame_paths(e["video_path"], e["video_id"])]
        pack_files = [p for p in (root / "pack").iterdir() if p.is_file()]
        fb_files = [p for p in (root / "pack_fb").iterdir() if p.is_file()]
        print(f"{args.clips} clips of {args.seconds:g} s (media made in {made:.1f} s); "
              f"{args.reads} random reads")
        print(f"pack written in {packed:.2f} s ({args.clips / packed:.0f} clips/s), with float16 "
              f"fbank in {packed_fb:.2f} s ({args.clips / packed_fb:.0f} clips/s)")
        for name, t in timings.items():
            print(f"{name:12s} {args.reads / t:9.0f} samples/s  "
                  f"({timings['loose files'] / t:.2f}x loose)")
        for name, files in (("loose files", loose_files), ("pack", pack_files),
                            ("pack+fbank16", fb_files)):
            apparent, allocated = disk_usage(files)
            print(f"{name:12s} {len(files):6d} files  {apparent / 1e6:9.2f} MB apparent  "
                  f"{allocated / 1e6:9.2f} MB allocated")


if __name__ == "__main__":
    main()
