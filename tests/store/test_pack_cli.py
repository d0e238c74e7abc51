"""``avprep pack`` and ``avprep pack --verify`` from the command line, including a killed run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from avprep.cli import main
from avprep.store import open_store
from helpers import LABEL_CSV, ROOT
from helpers.media import fixture_entries, make_media, write_list


def test_pack_then_verify(tmp_path, capsys):
    entries = fixture_entries()
    listing = write_list(tmp_path / "l.json", entries)
    assert main(["pack", str(listing), "-o", str(tmp_path / "p"), "--labels", str(LABEL_CSV),
                 "--fbank", "--shard-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "packed 3 of 3 entries into 2 shards" in out
    assert open_store(tmp_path / "p").manifest.fbank == "float32"
    assert main(["pack", "--verify", str(tmp_path / "p")]) == 0
    assert "ok: 2 shards, 3 rows" in capsys.readouterr().out
    (tmp_path / "p" / "shard-00000.arrow").unlink()
    assert main(["pack", "--verify", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert "shard-00000.arrow: missing shard" in err


def test_left_out_entries_exit_1_and_are_listed(tmp_path, capsys):
    entries = fixture_entries()[:1] + [{"video_id": "nowav", "wav": str(tmp_path / "nowav.wav"),
                                        "video_path": str(tmp_path), "labels": "/m/09x0r"}]
    listing = write_list(tmp_path / "l.json", entries)
    assert main(["pack", str(listing), "-o", str(tmp_path / "p"), "--fbank", "float16"]) == 1
    captured = capsys.readouterr()
    assert "packed 1 of 2 entries" in captured.out
    assert "entry 1 (nowav): audio file not found" in captured.err
    assert len(open_store(tmp_path / "p")) == 1


def test_unusable_input_exit_2(tmp_path, capsys):
    assert main(["pack", str(tmp_path / "none.json"), "-o", str(tmp_path / "p")]) == 2
    assert "none.json" in capsys.readouterr().err
    assert main(["pack", "--verify", str(tmp_path / "nothing")]) == 2
    assert main(["pack", str(tmp_path / "x.json")]) == 2
    assert "-o DIR" in capsys.readouterr().err


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["pack", "--help"])
    text = capsys.readouterr().out
    assert "example:" in text and "avprep pack --verify" in text


def test_killed_run_resumes(tmp_path):
    media = tmp_path / "m"
    entries = [make_media(media, f"k_{i}", seed=30 + i) for i in range(4)]
    # A frame of the third entry is a named pipe: reading it blocks, so the run is certainly
    # mid-way when it is killed, with shards 0 and 1 finished. (A wav that is a named pipe is
    # refused without reading it: not a complete output.)
    blocked = tmp_path / "m" / "frames" / "frame_0" / "k_2.jpg"
    real = blocked.with_name("k_2.real.jpg")
    shutil.move(blocked, real)
    os.mkfifo(blocked)
    listing = write_list(tmp_path / "l.json", entries)
    out = tmp_path / "p"
    cmd = [sys.executable, "-m", "avprep", "pack", str(listing), "-o", str(out),
           "--shard-size", "1", "--fbank"]
    env = dict(os.environ, AVPREP_PROGRESS="0")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (out / ".parts" / "shard-00001.json").exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "pack did not reach the blocking entry"
            time.sleep(0.05)
        time.sleep(0.2)
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    assert not (out / "manifest.json").exists()
    done = {name: (out / name).stat() for name in ("shard-00000.arrow", "shard-00001.arrow")}
    blocked.unlink()
    shutil.move(real, blocked)
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "(2 written, 2 already done)" in result.stdout
    for name, st in done.items():
        now = (out / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert open_store(out).video_ids == [f"k_{i}" for i in range(4)]
    assert main(["pack", "--verify", str(out)]) == 0
