"""Kill anywhere: ``avprep extract``, ``avprep pack`` and ``make prepare-audioset`` are killed with
SIGKILL (the whole process group: make, the shell, avprep and its workers) at seeded random moments,
run again to the end, and must then hold exactly the files of one uninterrupted run, byte for byte,
with no temporary file left.

Each trial starts from empty outputs, kills the run once or twice (each kill at a moment drawn
uniformly from the length of an uninterrupted run, so kills land while starting, decoding,
writing temporaries and renaming), then lets a last run finish. 21 trials in all: 10 for extract,
6 for pack, 5 for prepare.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List

import pytest

from helpers import ROOT

from helpers.media import make_media, write_list

from helpers.tools import snapshot, temporaries, tiny_clips

STAMP = ".venv/.avprep-installed"


def run_to_end(cmd: List[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
                          start_new_session=True)


def run_and_kill(cmd: List[str], env: dict, cwd: Path, delay: float) -> bool:
    """Start ``cmd``, SIGKILL its process group after ``delay`` s; whether it was still running."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True
    finally:
        with_group_gone(proc.pid)


def with_group_gone(pgid: int) -> None:
    """Wait until no process of group ``pgid`` is left (killed workers are reaped by init)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.02)


def kill_trials(cmd: List[str], outputs: List[Path], env: dict, cwd: Path, trials: int,
                seed: int, compare: Callable[[], dict]) -> dict:
    """Run the trials described in the module docstring; return counts for the report."""
    for out in outputs:
        shutil.rmtree(out, ignore_errors=True)
    run_to_end(cmd, env, cwd)  # warms the caches: the span is measured on the second run
    for out in outputs:
        shutil.rmtree(out, ignore_errors=True)
    start = time.monotonic()
    reference_run = run_to_end(cmd, env, cwd)
    span = time.monotonic() - start
    expected = compare()
    assert expected, "the uninterrupted run wrote nothing"
    rng = random.Random(seed)
    landed = 0
    for trial in range(trials):
        for out in outputs:
            shutil.rmtree(out, ignore_errors=True)
        moments = [rng.uniform(0.0, span) for _ in range(rng.choice((1, 1, 2)))]
        for delay in moments:
            landed += run_and_kill(cmd, env, cwd, delay)
        final = run_to_end(cmd, env, cwd)
        assert final.returncode == reference_run.returncode, (trial, moments, final.stderr)
        got = compare()
        assert sorted(got) == sorted(expected), (trial, moments)
        different = [name for name in expected if got[name] != expected[name]]
        assert not different, (trial, moments, different)
        assert not temporaries(*outputs), (trial, moments)
    # most moments fall inside a run; a few may come after a fast run ended
    assert landed >= trials // 2, landed
    return {"trials": trials, "kills": landed, "seconds": span}


@pytest.fixture
def env(tmp_path) -> dict:
    return dict(os.environ, AVPREP_PROGRESS="0", AVPREP_CACHE=str(tmp_path / "cache"))


def test_extract_killed_at_random_moments(tmp_path, env):
    videos = tmp_path / "videos"
    tiny_clips(videos, 3)
    (videos / "broken.mp4").write_bytes(os.urandom(3000))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "avprep", "extract", str(videos), "--audio-dir",
           str(out / "A"), "--frame-dir", str(out / "F"), "--log", str(tmp_path / "log.jsonl"),
           "--workers", "1"]
    stats = kill_trials(cmd, [out], env, ROOT, trials=10, seed=11,
                        compare=lambda: {**snapshot(out),
                                         "log": (tmp_path / "log.jsonl").read_bytes()})
    print(f"extract: {stats}")


def test_pack_killed_at_random_moments(tmp_path, env):

    media = tmp_path / "media"
    entries = [make_media(media, f"clip_{k}", seconds=1.0, seed=k) for k in range(3)]
    entries.insert(2, {"video_id": "gone", "wav": str(media / "gone.wav"),
                       "video_path": str(media / "frames"), "labels": "/m/09x0r"})
    listing = write_list(tmp_path / "list.json", entries)
    out = tmp_path / "packed"
    cmd = [sys.executable, "-m", "avprep", "pack", str(listing), "-o", str(out),
           "--shard-size", "1"]
    stats = kill_trials(cmd, [out], env, ROOT, trials=6, seed=12,
                        compare=lambda: snapshot(out))
    print(f"pack: {stats}")


def test_prepare_killed_at_random_moments(tmp_path, env):
    from avprep.synth import make_samples

    info = make_samples(tmp_path / "samples", "audioset", clips=3, missing=2, duration=2.0,
                        seed=5)
    out = tmp_path / "prepared"
    cmd = ["make", "--no-print-directory", "-C", str(ROOT), "-o", STAMP, "prepare-audioset",
           f"VIDEOS={info['videos']}", f"OUT={out}", f"LISTS={info['released']}", "WORKERS=2"]
    stats = kill_trials(cmd, [out], env, tmp_path, trials=5, seed=13,
                        compare=lambda: snapshot(out))
    print(f"prepare: {stats}")
