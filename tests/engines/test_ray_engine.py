"""The Ray engine against the local engine on clips made here: same bytes, same log, same exit code;
a worker killed mid-run costs a retry; time limits; joining a cluster without stopping it.

The first test lets the engine start (and stop) its own Ray cluster; the others share one Ray
session started by the ``ray_session`` fixture, so Ray starts twice in this file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import ray

from avprep.cli import main
from avprep.errors import InputError
from avprep.media.clip import WRITTEN, process_clip
from avprep.engines import get_engine
from avprep.engines.ray import RayEngine, check_address
from avprep.media.log import read_failures
from avprep.media.runner import find_inputs, plan_clips
from avprep.synth import make_clip

CLIP = dict(width=160, height=120, duration=2)
VICTIM = "kill me"  # third of the first batch of four (inputs are sorted)
GOOD = ["-dash", "plain", VICTIM, "naïve", "mono"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    make_clip(folder / "-dash.mp4", tone=330, **CLIP)
    make_clip(folder / "plain.mov", tone=550, **CLIP)
    make_clip(folder / f"{VICTIM}.mp4", tone=660, duration=3, width=160, height=120)
    make_clip(folder / "naïve.webm", vcodec="libvpx-vp9", acodec="libopus", sample_rate=48000,
              **CLIP)
    make_clip(folder / "mono.mkv", acodec="libvorbis", channels=1, **CLIP)
    make_clip(folder / "noaudio.mp4", acodec=None, **CLIP)
    (folder / "garbage.mkv").write_bytes(os.urandom(5000))
    return folder


def extract(*args) -> int:
    return main(["extract", *map(str, args)])


def contents(out: Path) -> dict:
    """relative path -> bytes of every file under out/A and out/F."""
    return {str(p.relative_to(out)): p.read_bytes()
            for sub in ("A", "F") for p in sorted((out / sub).rglob("*")) if p.is_file()}


def mtimes(out: Path) -> dict:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns
            for sub in ("A", "F") for p in sorted((out / sub).rglob("*")) if p.is_file()}


def records(log: Path) -> list:
    return sorted((r["id"], r["path"], r["stage"], r["reason"]) for r in read_failures(log))


@pytest.fixture(scope="module")
def local_run(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    code = extract(videos, "--audio-dir", out / "A", "--frame-dir", out / "F",
                   "--log", out / "log.jsonl", "--workers", 2)
    return code, contents(out), records(out / "log.jsonl")


def _ray_temp_dirs() -> set:
    return {p.name for p in Path(tempfile.gettempdir()).glob("avprep-ray-*")}


def test_cli_ray_engine_starts_its_own_cluster_and_matches_local(videos, local_run, tmp_path):
    local_code, local_files, local_log = local_run
    assert local_code == 1 and len(local_files) == len(GOOD) * 11 + 10  # noaudio: frames only
    assert {r[0] for r in local_log} == {"noaudio", "garbage"}
    assert not ray.is_initialized()
    before = _ray_temp_dirs()
    out = tmp_path / "ray"
    args = (videos, "--audio-dir", out / "A", "--frame-dir", out / "F", "--log",
            out / "log.jsonl", "--workers", 2, "--engine", "ray")
    assert extract(*args) == local_code
    assert contents(out) == local_files
    assert records(out / "log.jsonl") == local_log
    assert not ray.is_initialized(), "the cluster the engine started must be shut down"
    assert _ray_temp_dirs() <= before, "the engine's temporary folder must be removed"

    # resumable: a second run writes nothing and records the same failures
    stamps = mtimes(out)
    assert extract(*args) == local_code
    assert mtimes(out) == stamps
    assert records(out / "log.jsonl") == local_log


def _victim_first_time(task):
    """process_clip, except that the first attempt at VICTIM reports its pid and hangs."""
    marker = Path(task.audio_dir).parent / "victim.pid"
    if task.video_id == VICTIM and not marker.exists():
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(str(os.getpid()))
        tmp.rename(marker)
        time.sleep(120)
    return process_clip(task)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_dead(pid: int, seconds: float = 20.0) -> bool:
    end = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return not _alive(pid)


def test_a_killed_worker_costs_one_retry_and_the_outputs_match_local(
        ray_session, videos, local_run, tmp_path):
    _, local_files, _ = local_run
    plan = plan_clips(find_inputs(videos), tmp_path / "A", tmp_path / "F", threads=1)
    marker = tmp_path / "victim.pid"
    killed = []

    def killer():
        end = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < end:
            time.sleep(0.02)
        pid = int(marker.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    engine = RayEngine(workers=2, batch=4)
    try:
        outcomes = list(engine.map(_victim_first_time, plan.tasks))
    finally:
        engine.close()
    thread.join(timeout=5)
    assert killed and _wait_dead(killed[0])
    assert ray.is_initialized(), "a session the engine did not start stays up"
    assert sorted(o.item.video_id for o in outcomes) == sorted(t.video_id for t in plan.tasks)
    assert all(o.error is None for o in outcomes)
    assert not any(o.value.skipped for o in outcomes), "no item ran twice"
    assert engine.retries == 1
    victim = next(o.value for o in outcomes if o.item.video_id == VICTIM)
    assert victim.audio == WRITTEN and victim.frames == WRITTEN and not victim.failures
    assert contents(tmp_path) == local_files  # nothing half-written, nothing extra


def _suicide_on_garbage(task):
    """process_clip, except that the worker handling "garbage" dies every time."""
    if task.video_id == "garbage":
        os.kill(os.getpid(), signal.SIGKILL)
    return process_clip(task)


def test_an_item_that_always_kills_its_worker_is_recorded_after_its_retries(
        ray_session, videos, tmp_path):
    plan = plan_clips(find_inputs(videos), tmp_path / "A", tmp_path / "F", threads=1)
    with RayEngine(workers=2, max_retries=1, batch=3) as engine:
        outcomes = {o.item.video_id: o for o in engine.map(_suicide_on_garbage, plan.tasks)}
    assert set(outcomes) == {t.video_id for t in plan.tasks}
    assert outcomes["garbage"].error.startswith("worker process died 2 times")
    assert engine.retries == 1
    assert all(outcomes[name].value.ok for name in GOOD)


def _sleep_and_report(seconds_and_folder):
    seconds, folder = seconds_and_folder
    (Path(folder) / f"{seconds:g}.pid").write_text(str(os.getpid()))
    time.sleep(seconds)
    return seconds


def test_an_item_past_the_time_limit_is_stopped_and_reported(ray_session, tmp_path):
    items = [(0.1, str(tmp_path)), (300.0, str(tmp_path)), (0.2, str(tmp_path))]
    with RayEngine(workers=1, item_timeout=3, batch=3) as engine:  # one task for all three
        outcomes = {o.item[0]: o for o in engine.map(_sleep_and_report, items)}
    assert outcomes[300.0].error == "timed out after 3 s"
    assert outcomes[0.1].value == 0.1 and outcomes[0.2].value == 0.2
    assert _wait_dead(int((tmp_path / "300.pid").read_text())), "its worker must be stopped"


def test_cli_joins_an_existing_cluster_and_leaves_it_running(
        ray_session, videos, local_run, tmp_path):
    local_code, local_files, local_log = local_run
    before = _ray_temp_dirs()
    env = dict(os.environ, AVPREP_PROGRESS="0")
    env.pop("RAY_ADDRESS", None)
    run = subprocess.run(
        [sys.executable, "-m", "avprep", "extract", str(videos), "--audio-dir",
         str(tmp_path / "A"), "--frame-dir", str(tmp_path / "F"), "--log",
         str(tmp_path / "log.jsonl"), "--workers", "2", "--engine", "ray",
         "--address", ray_session],
        capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == local_code, run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("avprep extract: 7 clips: 5 written")
    assert contents(tmp_path) == local_files
    assert records(tmp_path / "log.jsonl") == local_log
    assert _ray_temp_dirs() <= before, "joining must not start a cluster"
    # the cluster is still there and still runs work
    assert ray.get(ray.remote(lambda: 42).remote(), timeout=60) == 42


def test_address_needs_the_ray_engine_and_workers(videos, tmp_path):
    code = extract(videos, "--audio-dir", tmp_path / "A", "--frame-dir", tmp_path / "F",
                   "--log", tmp_path / "log.jsonl", "--address", "127.0.0.1:6379")
    assert code == 2 and not (tmp_path / "A").exists()
    with pytest.raises(ValueError, match="does not take an address"):
        get_engine("local", workers=1, address="127.0.0.1:6379")
    with pytest.raises(InputError, match="workers"):
        RayEngine(workers=0)
    assert isinstance(get_engine("ray", workers=2, address="127.0.0.1:6379"), RayEngine)
    with pytest.raises(InputError, match="cannot join the Ray cluster at 127.0.0.1:1"):
        check_address("127.0.0.1:1")  # nothing listens there: refused at once


def test_batch_size_gives_each_worker_several_tasks_and_caps_them():
    assert RayEngine(workers=2).batch_size(7) == 1
    assert RayEngine(workers=2).batch_size(80) == 10
    assert RayEngine(workers=16).batch_size(1_790_000) == 16
    assert RayEngine(workers=2, batch=5).batch_size(7) == 5
