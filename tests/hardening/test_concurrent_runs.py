"""Two ``avprep extract`` runs on the same output folders at once end with exactly the files of one
run, none corrupted, and neither run fails a clip because of the other.

There is no lock: every output is written under a temporary name unique to its writer (pid and a
random token) and renamed over the final name, so both runs write the same bytes and the last rename
wins; a run removes only temporary files whose writer is gone, never another live run's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from avprep.cli import main
from helpers import ROOT
from helpers.tools import snapshot, temporaries, tiny_clips


def test_two_runs_at_once_write_what_one_run_writes(tmp_path):
    videos = tmp_path / "videos"
    tiny_clips(videos, 8, duration=3.0)
    (videos / "broken.mp4").write_bytes(os.urandom(3000))
    ref = tmp_path / "ref"
    assert main(["extract", str(videos), "--audio-dir", str(ref / "A"), "--frame-dir",
                 str(ref / "F"), "--log", str(ref / "log.jsonl"), "--workers", "0"]) == 1
    expected = snapshot(ref / "A", ref / "F")  # keys "A/<id>.wav", "F/frame_<i>/<id>.jpg"
    assert len(expected) == 8 * 11

    out = tmp_path / "out"
    env = dict(os.environ, AVPREP_PROGRESS="0")
    for stagger in (0.0, 0.3, 0.8):  # the second run starts while the first is at work
        for folder in (out / "A", out / "F"):
            subprocess.run(["rm", "-rf", str(folder)], check=True)
        procs = []
        for k in range(2):
            if k:
                time.sleep(stagger)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "avprep", "extract", str(videos), "--audio-dir",
                 str(out / "A"), "--frame-dir", str(out / "F"), "--log",
                 str(tmp_path / f"log{k}.jsonl"), "--workers", "1"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True))
        for k, proc in enumerate(procs):
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 1, err  # the broken clip, nothing else
            failed = {json.loads(line)["id"] for line in
                      (tmp_path / f"log{k}.jsonl").read_text().splitlines()}
            assert failed == {"broken"}, (stagger, k, failed)
        assert snapshot(out / "A", out / "F") == expected, stagger
        assert not temporaries(out)


WRITER = """
import sys
from avprep.atomic import atomic_path
final, source = sys.argv[1], sys.argv[2]
with atomic_path(final) as tmp:
    with open(tmp, "wb") as fh:
        fh.write(open(source, "rb").read())
    print(tmp, flush=True)
    sys.stdin.readline()  # still writing, until the test says so
"""


def test_a_run_leaves_a_live_writers_temporary_alone(tmp_path):
    """Deterministic form of the race above: another process is mid-way through writing
    ``A/clip0.wav`` (its temporary exists, its rename is to come) when a run starts. The run
    must not take that temporary for a killed run's leftover: removing it would make the other
    writer's rename fail."""
    videos = tmp_path / "videos"
    tiny_clips(videos, 2)
    ref = tmp_path / "ref"
    assert main(["extract", str(videos), "--audio-dir", str(ref / "A"), "--frame-dir",
                 str(ref / "F"), "--log", str(ref / "log.jsonl"), "--workers", "0"]) == 0
    out = tmp_path / "out"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(out / "A" / "clip0.wav"),
                               str(ref / "A" / "clip0.wav")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        temp = writer.stdout.readline().strip()
        assert temp and os.path.exists(temp)
        assert main(["extract", str(videos), "--audio-dir", str(out / "A"), "--frame-dir",
                     str(out / "F"), "--log", str(tmp_path / "log.jsonl"), "--workers", "1"]) == 0
        assert os.path.exists(temp), "the run removed a live writer's temporary file"
    finally:
        writer.communicate("go\n", timeout=60)
    assert writer.returncode == 0  # its rename worked
    assert snapshot(out / "A", out / "F") == snapshot(ref / "A", ref / "F")
    assert not temporaries(out)
