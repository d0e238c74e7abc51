"""Ctrl-C on a run of the local engine: one ``interrupted`` line, exit 130, nothing half-written.

A terminal sends SIGINT to the whole process group, workers included. ``avprep pack --workers 2``
runs in a process group of its own and the group gets SIGINT while the worker pool starts (the
fork server still importing torch: where workers printed tracebacks) and while shards are being
written. The run must print only ``avprep pack: interrupted``, exit 130, leave no temporary and
no record without its shard, and a later run must finish the pack.
``extract --workers 2``, on the same engine, behaves the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List

import pytest

from avprep.cli import main
from avprep.store import open_store
from helpers import ROOT
from helpers.media import make_media, write_list
from helpers.tools import temporaries, tiny_clips

ENTRIES = 16


@pytest.fixture(scope="module")
def listing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("interrupt")
    entries = [make_media(root / "media", f"clip_{k}", seconds=2.0, seed=k) for k in range(ENTRIES)]
    return write_list(root / "list.json", entries)


def group(pgid: int) -> List[int]:
    """Pids of the processes in process group ``pgid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[2]) == pgid:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return pids


def fork_server_importing(pgid: int) -> bool:
    """Whether the group's fork server is up and still importing the work's module: Python has
    installed its SIGINT handler (a signal before that kills it without a word) and the server
    has not yet set SIGINT to ignored, which it does once its imports are done."""
    for pid in group(pgid):
        try:
            if b"multiprocessing.forkserver" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            status = dict(line.split(":\t", 1) for line in
                          Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        bit = 1 << (signal.SIGINT - 1)
        if int(status["SigCgt"], 16) & bit and not int(status["SigIgn"], 16) & bit:
            return True
    return False


def interrupt_when(cmd: List[str], ready: Callable[[int], bool]) -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own process group, SIGINT the group once ``ready(pgid)``; its result."""
    env = dict(os.environ, AVPREP_PROGRESS="0")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready(proc.pid):
            assert proc.poll() is None, f"ended before the signal: {proc.communicate()}"
            assert time.monotonic() < deadline, "never got to the moment of the signal"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.parametrize("moment", ["pool starting", "shards being written"])
def test_ctrl_c_on_pack_with_workers_prints_one_line(listing, tmp_path, moment):
    out = tmp_path / "packed"
    cmd = [sys.executable, "-m", "avprep", "pack", str(listing), "-o", str(out),
           "--shard-size", "2", "--fbank", "--workers", "2"]
    if moment == "pool starting":
        ready = fork_server_importing
    else:
        ready = lambda pgid: any((out / ".parts").glob("shard-*.json"))  # noqa: E731
    run = interrupt_when(cmd, ready)
    assert run.returncode == 130, run.stderr
    assert run.stderr.splitlines() == ["avprep pack: interrupted"], run.stderr
    out.mkdir(exist_ok=True)  # the signal may come before pack made it
    assert not temporaries(out)
    assert not (out / "manifest.json").exists()
    shards = {p.name for p in out.glob("shard-*.arrow")}
    records = {p.stem + ".arrow" for p in (out / ".parts").glob("shard-*.json")}
    # a shard whose worker was stopped between writing it and its record is redone next time
    assert records <= shards, "a record without its shard"
    assert len(records) < ENTRIES // 2, "the run was not interrupted mid-way"

    assert main(["pack", str(listing), "-o", str(out), "--shard-size", "2", "--fbank"]) == 0
    assert open_store(out).video_ids == [f"clip_{k}" for k in range(ENTRIES)]


def test_ctrl_c_on_extract_with_workers_prints_one_line(tmp_path):
    """The same engine, the same behaviour: extract interrupted while its workers start."""
    videos = tmp_path / "videos"
    tiny_clips(videos, 4)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "avprep", "extract", str(videos), "--audio-dir", str(out / "A"),
           "--frame-dir", str(out / "F"), "--log", str(tmp_path / "log.jsonl"), "--workers", "2"]
    run = interrupt_when(cmd, fork_server_importing)
    assert run.returncode == 130, run.stderr
    assert run.stderr.splitlines() == ["avprep extract: interrupted"], run.stderr
    out.mkdir(exist_ok=True)
    assert not temporaries(out)
