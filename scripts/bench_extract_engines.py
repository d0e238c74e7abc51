#!/usr/bin/env python
"""Benchmark: clips/s of ``avprep extract`` on the local engine and on the Ray engine, with 1 and
2 workers, on the same clips in one run; plus each engine's own cost per item (a no-op function).

The Ray session is started before each Ray run and its start-up time is reported apart, so the
clips/s compare steady-state throughput; a one-off run pays the start-up once (about 3 s). Each
engine first extracts ``workers`` clips untimed (its workers load their decoders), then every
timed run writes to a fresh output folder, so each one extracts every clip.

    python scripts/bench_extract_engines.py                    # 12 synthetic 10 s 640x360 clips
    python scripts/bench_extract_engines.py --videos DIR --clips 24   # DIR's videos, repeated
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import List

from avprep.media.clip import ClipTask, process_clip
from avprep.engines.local import LocalEngine
from avprep.engines.ray import (LOCAL_OBJECT_STORE_BYTES, LOCAL_SYSTEM_CONFIG, RayEngine,
                                      loopback_only, remove_temp_dir, session_root)
from avprep.media.runner import find_inputs, run_extract
from avprep.synth import make_clip


def prepare_inputs(folder: Path, videos: str, clips: int, seconds: float, width: int,
                   height: int) -> List[Path]:
    """``clips`` input files in ``folder``: links to ``videos``' files (cycled) or new clips."""
    folder.mkdir(parents=True)
    if videos:
        sources = find_inputs(videos)
        for i in range(clips):
            src = Path(sources[i % len(sources)]).resolve()
            (folder / f"c{i:04d}_{src.name}").symlink_to(src)
    else:
        for i in range(clips):
            make_clip(folder / f"c{i:04d}.mp4", duration=seconds, width=width, height=height,
                      tone=220 + 20 * i)
    paths = sorted(folder.iterdir())
    for path in paths:  # warm the page cache so that the first run pays no disk reads
        path.read_bytes()
    return paths


def start_ray(workers: int, temp: str) -> float:
    """Start a local Ray session as the engine would, with ``workers`` CPUs; seconds it took."""
    import ray

    start = time.perf_counter()
    with loopback_only():
        ray.init(address="local", num_cpus=workers, include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=False, logging_level=logging.ERROR,
                 object_store_memory=LOCAL_OBJECT_STORE_BYTES, _temp_dir=temp,
                 _system_config=LOCAL_SYSTEM_CONFIG)
    ray.get(ray.remote(lambda: None).remote())  # a worker is up
    return time.perf_counter() - start


def warm_up(paths: List[Path], out: Path, engine: str, workers: int) -> None:
    """Extract ``workers`` clips untimed, so that every worker has loaded its decoders."""
    listing = out.parent / "warm.txt"
    listing.write_text("".join(f"{p}\n" for p in paths[:workers]), encoding="utf-8")
    extract_rate(listing, out, engine, workers)


def extract_rate(source: Path, out: Path, engine: str, workers: int) -> float:
    """clips/s of one ``run_extract`` into a fresh folder."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    summary = run_extract(source, out / "A", out / "F", out / "log.jsonl", workers=workers,
                          engine=engine, show_progress=False)
    seconds = time.perf_counter() - start
    if summary.failed:
        raise SystemExit(f"{engine}: {summary.line()}")
    return summary.clips / seconds


def cpu_seconds_per_clip(paths: List[Path], out: Path) -> float:
    """CPU seconds (this process's) to extract each clip once, in process, one decoder thread.

    CPU time rather than wall time, so that other work on the machine does not count.
    """
    start = time.process_time()
    for path in paths:
        result = process_clip(ClipTask(path=str(path), video_id=path.stem,
                                       audio_dir=str(out / "A"), frame_dir=str(out / "F"),
                                       threads=1))
        if result.failures:
            raise SystemExit(f"{path}: {result.failures}")
    return (time.process_time() - start) / len(paths)


def per_item_ms(engine, items: int) -> float:
    """Milliseconds per item the engine adds around a function that does nothing."""
    start = time.perf_counter()
    n = sum(1 for _ in engine.map(abs, range(items)))
    assert n == items
    return (time.perf_counter() - start) * 1000 / items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", help="folder (or list) of videos to use instead of new clips")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (median reported)")
    parser.add_argument("--noop-items", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("AVPREP_PROGRESS", "0")
    import ray

    root = Path(tempfile.mkdtemp(prefix="avprep-bench-"))
    try:
        paths = prepare_inputs(root / "in", args.videos, args.clips, args.seconds, args.width,
                               args.height)
        print(f"{len(paths)} clips; {os.cpu_count()} CPUs here; "
              f"load average {os.getloadavg()[0]:.1f} at start")
        rows = []
        for workers in args.workers:
            temp = session_root()
            try:
                startup = start_ray(workers, temp)
                warm_up(paths, root / "out", "local", workers)
                warm_up(paths, root / "out", "ray", workers)
                local, remote = [], []
                for _ in range(args.repeat):  # alternate, so both see the same load
                    local.append(extract_rate(root / "in", root / "out", "local", workers))
                    remote.append(extract_rate(root / "in", root / "out", "ray", workers))
                local_ms = per_item_ms(LocalEngine(workers=workers), args.noop_items)
                with RayEngine(workers=workers) as engine:
                    ray_ms = per_item_ms(engine, args.noop_items)
            finally:
                ray.shutdown()
                remove_temp_dir(temp)
            rows.append((workers, statistics.median(local), statistics.median(remote), startup,
                         local_ms, ray_ms))
        cpu = cpu_seconds_per_clip(paths, root / "cpu")
        print(f"{'workers':>7} {'local clips/s':>13} {'ray clips/s':>11} {'ray/local':>9} "
              f"{'ray start s':>11} {'local ms/item':>13} {'ray ms/item':>11}")
        for workers, local, remote, startup, local_ms, ray_ms in rows:
            print(f"{workers:>7} {local:>13.2f} {remote:>11.2f} {remote / local:>9.2f} "
                  f"{startup:>11.1f} {local_ms:>13.2f} {ray_ms:>11.2f}")
        print(f"CPU time per clip, one decoder thread: {cpu:.3f} s, so {1 / cpu:.2f} clips/s "
              f"per core")
        if len(rows) > 1:
            first, last = rows[0], rows[-1]
            scale = last[0] / first[0]
            print(f"scaling {first[0]}->{last[0]} workers: local x{last[1] / first[1]:.2f}, "
                  f"ray x{last[2] / first[2]:.2f} (ideal x{scale:g})")
        print(f"load average {os.getloadavg()[0]:.1f} at end")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
