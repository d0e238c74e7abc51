"""A download run killed (SIGKILL) at random moments and run again ends with the same clips as an
uninterrupted run and never a partial file in DIR."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time

from avprep.download import read_download_log
from avprep.download.run import partial_dir
from helpers import ROOT
from helpers.media_server import MediaServer, assert_covers, make_timed_clip

YTIDS = ["-0RWZT-miFs", "--4gqARaEJE", "KlsG1EnBEjc", "Kill000000a", "Kill000000b",
         "Kill000000c"]
IDS = [f"{y}_{1 + i:06d}" for i, y in enumerate(YTIDS)]


def _check_dest(dest) -> set:
    """Every file in DIR is a finished clip that covers its segment."""
    names = set(os.listdir(dest)) if dest.exists() else set()
    assert names <= {f"{v}.mp4" for v in IDS}, names
    for name in names:
        start = float(int(name[12:18]))
        assert_covers(dest / name, start, start + 10.0)
    return names


def _temporaries(dest) -> list:
    folder = partial_dir(dest)
    return list(folder.iterdir()) if folder.is_dir() else []


def test_kill_anywhere_then_rerun(tmp_path):
    clip = make_timed_clip(tmp_path / "src.mp4", duration=16.0).read_bytes()
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(IDS) + "\n")
    dest = tmp_path / "videos"
    rng = random.Random(15)
    with MediaServer() as srv:
        for y in YTIDS:
            srv.files[y] = clip
        srv.pace = 0.05  # a run takes seconds however fast the machine, so kills fall mid-run
        cmd = [sys.executable, "-m", "avprep", "download", str(ids), "--dest", str(dest),
               "--url-template", srv.template, "--workers", "2", "--sleep", "0",
               "--max-per-hour", "1000000", "--backoff", "0.05"]
        env = dict(os.environ, PYTHONPATH=str(ROOT), AVPREP_PROGRESS="0")
        seen_partial, counts = False, []
        for round_ in range(4):
            before, stale = len(_check_dest(dest)), set(_temporaries(dest))
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            if round_ == 0:
                time.sleep(rng.uniform(0.2, 1.5))  # while it starts up
            else:  # once a clip is being cut (odd rounds) or has landed, at a random moment
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and proc.poll() is None:
                    landed = dest.is_dir() and len(os.listdir(dest)) > before
                    if landed or round_ % 2 and set(_temporaries(dest)) - stale:
                        break
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.0, 0.5))
            with contextlib.suppress(ProcessLookupError):  # unless it finished already
                os.killpg(proc.pid, signal.SIGKILL)  # avprep and the ffmpeg it runs
            proc.wait()
            seen_partial |= bool(_temporaries(dest))
            counts.append(len(_check_dest(dest)))
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    print("clips after each kill:", counts, "temporary seen:", seen_partial)
    assert any(0 < n < len(IDS) for n in counts) or seen_partial  # a kill fell mid-run
    assert done.returncode == 0, done.stderr
    assert _check_dest(dest) == {f"{v}.mp4" for v in IDS}
    assert not partial_dir(dest).exists()
    state = read_download_log(tmp_path / "videos.download-log.jsonl")
    assert {k: v["status"] for k, v in state.items()} == {v: "downloaded" for v in IDS}
    assert "6 downloaded" in done.stdout or "already in DIR" in done.stdout
