"""SIGKILL at any moment, then run again: exactly the files of an uninterrupted run.

Each killed run is stopped right after it makes progress (a new file appears) plus a random delay
of 0 to 50 ms, so the kills land in different phases (writing temporaries, renaming, decoding the
next clip); the whole process group goes, worker included. Then a last run completes and the output folders must hold exactly the
uninterrupted run's files, byte for byte, and nothing else.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from avprep.cli import main
from avprep.synth import make_clip

# runs only the extract command (the full CLI also loads every other command's modules)
RUNNER = """
import argparse, sys
from avprep.cli import extract
parser = argparse.ArgumentParser(prog="avprep")
extract.register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""


def files(*folders: Path) -> dict:
    return {str(p.relative_to(f.parent)): p.read_bytes()
            for f in folders if f.exists() for p in sorted(f.rglob("*")) if p.is_file()}


def count(*folders: Path) -> int:
    return sum(1 for f in folders if f.exists() for p in f.rglob("*") if p.is_file())


def test_killed_runs_then_a_full_run_equal_one_uninterrupted_run(tmp_path):
    videos = tmp_path / "videos"
    for k in range(8):
        make_clip(videos / f"clip {k}.mp4", width=320, height=240, duration=3 + k % 2,
                  tone=300 + 50 * k)
    (videos / "broken.mp4").write_bytes(os.urandom(4000))

    ref = tmp_path / "ref"
    assert main(["extract", str(videos), "--audio-dir", str(ref / "A"), "--frame-dir",
                 str(ref / "F"), "--log", str(ref / "log.jsonl"), "--workers", "0"]) == 1
    expected = files(ref / "A", ref / "F")
    assert len(expected) == 8 * 11

    out = tmp_path / "out"
    args = [sys.executable, "-c", RUNNER, "extract", str(videos), "--audio-dir", str(out / "A"),
            "--frame-dir", str(out / "F"), "--log", str(tmp_path / "log.jsonl"), "--workers", "1"]
    rng = random.Random(3)
    kills = 0
    for _attempt in range(6):
        seen = count(out / "A", out / "F")
        proc = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and count(out / "A", out / "F") <= seen \
                and time.monotonic() < deadline:
            time.sleep(0.0005)
        # the wav of a clip lands first, then its frames: a few ms later hits the frame writes
        time.sleep(rng.choice([0, 0.001, 0.002, 0.004, rng.uniform(0, 0.05)]))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        if count(out / "A", out / "F") >= len(expected) and proc.returncode is not None \
                and proc.returncode >= 0:
            break
    assert kills >= 1

    final = subprocess.run(args, capture_output=True, text=True)
    assert final.returncode == 1, final.stderr
    assert files(out / "A", out / "F") == expected
