#!/usr/bin/env python
"""Benchmark reading a released-size data list: ``json.load`` vs ``read_list`` vs its cache.

Generates a list of ``--entries`` entries (default 1,772,023, the AudioSet-2M size) in the
released format (YouTube-like ids, labels from the AudioSet label CSV, the authors' paths) in a
temporary folder, then times, each in a fresh process so that peak memory is its own:

- ``json.load``            the straightforward baseline (what the original scripts do)
- ``read_list`` no cache   parse only
- ``read_list`` cold       parse and write the Arrow cache (first read of a file)
- ``read_list`` cached     memory-mapped reload of the cache
- ``compute_weights``      on the loaded list

and prints seconds (best of ``--repeat``), peak RSS growth over the process's start, and the
ratios against ``json.load`` measured in the same run.

    python scripts/bench_lists.py                 # full size, about a minute on 2 cores
    python scripts/bench_lists.py --entries 100000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = ROOT.parent / "shared" / "fixtures" / "cavmae-samples" / \
    "class_labels_indices_as.csv"
MODES = ("json.load", "read_list (no cache)", "read_list (cold, writes cache)",
         "read_list (cached)", "compute_weights")


def _rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    VmHWM belongs to this process image; getrusage's ru_maxrss would carry over the parent's
    peak through fork and exec.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(mode: str, path: str, cache_dir: str, labels: str) -> None:
    """Run one measurement in this process and print it as JSON."""
    import gc

    from avprep.lists import compute_weights, read_labels, read_list

    label_set = read_labels(labels)
    # initialise both readers on a small file first: library start-up is not reading
    warm = Path(cache_dir) / "warm-up.json"
    warm.write_text(json.dumps({"data": [{"video_id": "x", "wav": "w", "video_path": "p",
                                          "labels": "l"}] * 100}, indent=1))
    read_list(warm, cache=False)
    with open(warm, "r", encoding="utf-8") as fh:
        json.load(fh)
    if mode == "compute_weights":
        data = read_list(path, cache=Path(cache_dir))
    gc.collect()
    base = _rss_mb()
    start = time.perf_counter()
    if mode == "json.load":
        with open(path, "r", encoding="utf-8") as fh:
            result = json.load(fh)["data"]
    elif mode == "read_list (no cache)":
        result = read_list(path, cache=False)
    elif mode == "read_list (cold, writes cache)":
        for stale in Path(cache_dir).glob("*.arrow"):
            stale.unlink()
        result = read_list(path, cache=Path(cache_dir))
    elif mode == "read_list (cached)":
        result = read_list(path, cache=Path(cache_dir))
    elif mode == "compute_weights":
        result = compute_weights(data, label_set)
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": _rss_mb() - base, "n": len(result)}))


def measure(mode: str, path: Path, cache_dir: Path, labels: Path) -> dict:
    """One measurement in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(cache_dir),
                          str(labels)], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={**os.environ, "AVPREP_PROGRESS": "0"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Generate the list, run every measurement, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_772_023)
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; best is shown")
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    sys.path.insert(0, str(ROOT))
    from avprep.lists import LabelSet, read_labels, write_labels, write_list
    from avprep.synth.lists import synthetic_list

    with tempfile.TemporaryDirectory(prefix="bench_lists_") as tmp:
        tmp = Path(tmp)
        path, cache_dir = tmp / "audioset_2m_like.json", tmp / "cache"
        cache_dir.mkdir()
        if not args.labels.is_file():  # no fixtures: 527 made-up classes
            args.labels = tmp / "labels.csv"
            write_labels(args.labels, LabelSet([f"/m/c{i:04d}" for i in range(527)],
                                               [f"class {i}" for i in range(527)]))
        t0 = time.perf_counter()
        data = synthetic_list(args.entries, read_labels(args.labels), seed=0)
        t1 = time.perf_counter()
        write_list(path, data)
        t2 = time.perf_counter()
        dicts = data.to_dicts()
        t3 = time.perf_counter()
        with open(tmp / "json_dump.json", "w") as fh:
            json.dump({"data": dicts}, fh, indent=1)
        t4 = time.perf_counter()
        same = (tmp / "json_dump.json").read_bytes() == path.read_bytes()
        (tmp / "json_dump.json").unlink()
        del data, dicts
        size_mb = path.stat().st_size / 1e6
        print(f"list: {args.entries} entries, {size_mb:.1f} MB, generated in {t1 - t0:.1f} s; "
              f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
        print(f"writing: write_list {t2 - t1:.2f} s, json.dump(indent=1) {t4 - t3:.2f} s "
              f"({(t4 - t3) / (t2 - t1):.1f}x); identical bytes: {same}")
        results = {}
        for _ in range(args.repeat):
            for mode in MODES:
                got = measure(mode, path, cache_dir, args.labels)
                assert got["n"] == args.entries, got
                best = results.get(mode)
                if best is None or got["seconds"] < best["seconds"]:
                    results[mode] = got
        base = results["json.load"]
        print(f"{'':32s} {'seconds':>9s} {'vs json.load':>13s} {'peak MB':>9s} "
              f"{'vs json.load':>13s}")
        for mode in MODES:
            r = results[mode]
            print(f"{mode:32s} {r['seconds']:9.3f} {base['seconds'] / r['seconds']:12.1f}x "
                  f"{r['peak_mb']:9.0f} {r['peak_mb'] / max(base['peak_mb'], 1e-9):12.2f}x")
        cold = results["read_list (no cache)"]["seconds"]
        cached = results["read_list (cached)"]["seconds"]
        print(f"read_list / json.load time: {cold / base['seconds']:.2f} (must be <= 1); "
              f"cached reload is {cold / cached:.0f}x faster than read_list "
              f"(must be >= 10)")


if __name__ == "__main__":
    main()
