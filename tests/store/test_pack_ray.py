"""``avprep pack --engine ray`` against the local engine: the same shards, index, manifest, exit
code and left-out entries; resumable; a worker killed mid-shard costs a retry; joining a cluster.

The list holds the three reference clips (wavs and frames in the shared fixtures), a clip made
here, an entry whose wav is missing and a duplicate id, packed two entries per shard with
fbanks. One Ray session (the ``ray_session`` fixture) serves the whole file.
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

from avprep.atomic import is_temp
from avprep.cli import main
from avprep.errors import InputError
from avprep.store import open_store, pack
from helpers import LABEL_CSV, ROOT
from helpers.media import fixture_entries, make_media, write_list

VICTIM = "victim_clip"


@pytest.fixture(scope="module")
def listing(tmp_path_factory) -> Path:
    """The list file: 6 entries in 3 shards of 2; entries 3 (no wav) and 5 (dup) are left out."""
    tmp = tmp_path_factory.mktemp("media")
    ref = fixture_entries()
    made = make_media(tmp / "made", VICTIM, seconds=3.0, seed=7)
    missing = {"video_id": "no_wav", "wav": str(tmp / "no_wav.wav"),
               "video_path": ref[0]["video_path"], "labels": "/m/09x0r"}
    entries = [ref[0], ref[1], made, missing, ref[2], dict(ref[0])]
    return write_list(tmp / "list.json", entries)


def args_for(listing: Path, out: Path, *extra) -> list:
    return ["pack", str(listing), "-o", str(out), "--labels", str(LABEL_CSV), "--fbank",
            "--shard-size", "2", *map(str, extra)]


def contents(out: Path) -> dict:
    """relative path -> bytes of every file in the pack folder, .parts included."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def mtimes(out: Path) -> dict:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns
            for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def local_run(listing, tmp_path_factory):
    """The default engine (in this process), as before engines existed: code, files, output."""
    out = tmp_path_factory.mktemp("local") / "pack"
    code = main(args_for(listing, out))
    return code, contents(out)


def _ray_temp_dirs() -> set:
    return {p.name for p in Path(tempfile.gettempdir()).glob("avprep-ray-*")}



def test_local_run_leaves_out_two_entries(local_run):
    code, files = local_run
    assert code == 1
    assert sorted(f for f in files if not f.startswith(".parts")) == [
        "index.arrow", "manifest.json", "shard-00000.arrow", "shard-00001.arrow",
        "shard-00002.arrow"]


def test_ray_and_local_worker_processes_write_the_same_bytes_and_resume(
        ray_session, listing, local_run, tmp_path, capsys):
    local_code, local_files = local_run
    capsys.readouterr()
    for engine in ("ray", "local"):
        out = tmp_path / engine
        assert main(args_for(listing, out, "--engine", engine, "--workers", 2)) == local_code
        captured = capsys.readouterr()
        assert "packed 4 of 6 entries into 3 shards" in captured.out
        assert "(3 written, 0 already done)" in captured.out
        assert "entry 3 (no_wav): audio file not found" in captured.err
        assert "entry 5 (00W1lcxW-WU_40.000): duplicate video id (first at entry 0)" \
            in captured.err
        assert contents(out) == local_files, engine
    assert ray.is_initialized(), "a session the engine did not start stays up"

    # resumable: a second run rewrites no shard, and a lost shard is the only one written again
    out = tmp_path / "ray"
    stamps = mtimes(out)
    assert main(args_for(listing, out, "--engine", "ray", "--workers", 2)) == local_code
    assert "(0 written, 3 already done)" in capsys.readouterr().out
    shards = [name for name in stamps if name.startswith(("shard-", ".parts"))]
    assert len(shards) == 7  # 3 shards, their 3 records and the plan
    assert {n: t for n, t in mtimes(out).items() if n in shards} == \
        {n: stamps[n] for n in shards}  # index and manifest are written again, the same
    assert contents(out) == local_files
    (out / "shard-00001.arrow").unlink()
    assert main(args_for(listing, out, "--engine", "ray", "--workers", 2)) == local_code
    assert "(1 written, 2 already done)" in capsys.readouterr().out
    assert contents(out) == local_files
    assert (out / "shard-00000.arrow").stat().st_mtime_ns == stamps["shard-00000.arrow"]


@pytest.mark.parametrize("engine", ["ray", "local"])
def test_a_shard_that_cannot_be_written_stops_the_run_after_the_others(
        ray_session, listing, local_run, tmp_path, capsys, engine):
    local_code, local_files = local_run
    out = tmp_path / "p"
    blocker = out / ".parts" / "shard-00001.json"
    blocker.mkdir(parents=True)  # shard 1's record cannot be written there
    assert main(args_for(listing, out, "--engine", engine, "--workers", 2)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pack stopped" in err[0] and "1 shard not written" in err[0], err
    assert (out / ".parts" / "shard-00000.json").is_file()
    assert (out / ".parts" / "shard-00002.json").is_file()
    assert not (out / "manifest.json").exists()
    blocker.rmdir()
    assert main(args_for(listing, out, "--engine", engine, "--workers", 2)) == local_code
    assert "(1 written, 2 already done)" in capsys.readouterr().out
    assert contents(out) == local_files


def _reader_of(fifo: Path) -> int:
    """The pid of a process other than this one that holds ``fifo`` open."""
    target = os.path.realpath(fifo)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return 0


def test_a_worker_killed_mid_shard_costs_one_retry(ray_session, listing, local_run, tmp_path):
    _, local_files = local_run
    # a frame, not the wav: a wav that is a named pipe is refused unread (not a complete output)
    wav = listing.parent / "made" / "frames" / "frame_0" / f"{VICTIM}.jpg"
    real = wav.with_name("real.jpg")
    os.replace(wav, real)
    os.mkfifo(wav)  # the worker packing shard 1 blocks reading it until it is killed
    killed = []

    def killer():
        end = time.monotonic() + 60
        fd = None
        while fd is None and time.monotonic() < end:
            try:
                fd = os.open(wav, os.O_WRONLY | os.O_NONBLOCK)  # succeeds once a reader waits
            except OSError:
                time.sleep(0.02)
        pid = 0
        while fd is not None and not pid and time.monotonic() < end:
            pid = _reader_of(wav)
        if pid:
            os.replace(real, wav)  # the retry reads the real wav
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        if fd is not None:
            os.close(fd)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        result = pack(listing, tmp_path / "p", labels=LABEL_CSV, shard_size=2, fbank="float32",
                      workers=2, engine="ray")
    finally:
        thread.join(timeout=5)
        if real.exists():
            os.replace(real, wav)
    assert killed, "no worker was seen reading the victim's frame"
    assert result.retries == 1 and result.written == 3
    assert [f.entry for f in result.failures] == [3, 5]
    assert not [p for p in (tmp_path / "p").rglob("*") if is_temp(p)], "nothing half-written"
    assert contents(tmp_path / "p") == local_files
    assert open_store(tmp_path / "p").by_id(VICTIM).list_index == 2


def test_cli_joins_an_existing_cluster_and_leaves_it_running(
        ray_session, listing, local_run, tmp_path):
    local_code, local_files = local_run
    before = _ray_temp_dirs()
    env = dict(os.environ, AVPREP_PROGRESS="0")
    env.pop("RAY_ADDRESS", None)
    run = subprocess.run(
        [sys.executable, "-m", "avprep", *args_for(listing, tmp_path / "p", "--engine", "ray",
                                                   "--workers", 2, "--address", ray_session)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == local_code, run.stderr
    assert "packed 4 of 6 entries into 3 shards" in run.stdout
    assert contents(tmp_path / "p") == local_files
    assert _ray_temp_dirs() <= before, "joining must not start a cluster"
    assert ray.get(ray.remote(lambda: 42).remote(), timeout=60) == 42


def test_engine_arguments_that_cannot_work_exit_2_before_writing(listing, tmp_path, capsys):
    out = tmp_path / "p"
    assert main(args_for(listing, out, "--address", "127.0.0.1:6379")) == 2
    assert "--address needs --engine ray" in capsys.readouterr().err
    assert main(args_for(listing, out, "--engine", "local", "--address", "127.0.0.1:6379")) == 2
    assert main(args_for(listing, out, "--engine", "ray", "--workers", 0)) == 2
    assert "--workers 1 or more" in capsys.readouterr().err
    assert main(args_for(listing, out, "--engine", "ray", "--address", "127.0.0.1:1")) == 2
    assert "cannot join the Ray cluster at 127.0.0.1:1" in capsys.readouterr().err
    assert main(["pack", "--verify", str(out), "--engine", "ray"]) == 2
    with pytest.raises(InputError, match="--address needs --engine ray"):
        pack(listing, out, address="127.0.0.1:6379")
    with pytest.raises(InputError, match="unknown engine 'spark'"):
        pack(listing, out, engine="spark")
    assert not out.exists()


def test_pack_from_videos_is_the_same_on_every_engine(ray_session, tmp_path, capsys):
    """``extract --pack``: Ray tasks and local worker processes write what one process writes,
    and log the same failures."""
    from avprep.media.log import read_failures
    from avprep.synth import make_clip

    videos = tmp_path / "videos"
    for k in range(4):
        make_clip(videos / f"clip_{k}.mp4", duration=2, width=160, height=120, tone=300 + 60 * k)
    (videos / "broken.mp4").write_bytes(os.urandom(2000))
    runs = {}
    for engine, workers in (("inline", 1), ("local", 2), ("ray", 2)):
        out = tmp_path / engine / "pack"
        args = ["extract", str(videos), "--pack", str(out), "--fbank", "--shard-size", "2",
                "--workers", str(workers)]
        if engine != "inline":
            args += ["--engine", engine]
        assert main(args) == 1
        assert "5 clips: 4 packed, 1 failed (open 1)" in capsys.readouterr().err
        runs[engine] = (contents(out), read_failures(out.parent / "pack.extract-failures.jsonl"))
    assert len([name for name in runs["inline"][0] if name.startswith("shard-")]) == 3
    assert runs["local"] == runs["inline"] and runs["ray"] == runs["inline"]
