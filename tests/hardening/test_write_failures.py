"""Writes that fail: a file-size limit (``RLIMIT_FSIZE``, set in the child before it starts) and an
output folder that cannot exist (its parent is a regular file; the tests run as root, so a
read-only folder would not stop them). Each gives a clear one-line error or log record naming the
file, leaves no partial file and no temporary, and the run goes on (extract: the clip's other
output is still written) or stops cleanly (pack, weights, build-list: exit 2); a later run without
the limit completes, and its files equal those of a run that never failed.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

from avprep.layout import N_FRAMES
from avprep.lists import read_list
from helpers import ROOT, SAMPLES
from helpers.media import make_media, write_list
from helpers.tools import snapshot, temporaries, tiny_clips

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"


def limited(max_bytes: int):
    """A ``preexec_fn`` that caps the size of any file the child writes."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def avprep(*argv, max_bytes=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avprep", *map(str, argv)], cwd=ROOT,
                          env=dict(os.environ, AVPREP_PROGRESS="0"), capture_output=True,
                          text=True, timeout=300,
                          preexec_fn=limited(max_bytes) if max_bytes else None)


def one_line(err: str) -> str:
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def test_extract_records_a_wav_that_cannot_be_written_and_goes_on(tmp_path):
    videos = tmp_path / "videos"
    tiny_clips(videos, 3)  # 2 s: a 64 kB wav, frames of a few kB each
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert avprep("extract", videos, "--audio-dir", ref / "A", "--frame-dir", ref / "F",
                  "--log", tmp_path / "ref.jsonl", "--workers", "1").returncode == 0

    res = avprep("extract", videos, "--audio-dir", out / "A", "--frame-dir", out / "F",
                 "--log", tmp_path / "log.jsonl", "--workers", "1", max_bytes=32 * 1024)
    assert res.returncode == 1, res.stderr
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(r["id"], r["stage"]) for r in records] == [(f"clip{k}", "audio") for k in range(3)]
    for r in records:
        assert "File too large" in r["reason"] and f"{r['id']}.wav" in r["reason"], r
    assert not (out / "A").exists() or not any((out / "A").iterdir())
    for k in range(3):  # the frames fit under the limit and were written
        assert all((out / "F" / f"frame_{i}" / f"clip{k}.jpg").is_file() for i in range(N_FRAMES))
    assert not temporaries(out)

    frames_before = {p: p.stat().st_mtime_ns for p in (out / "F").rglob("*.jpg")}
    res = avprep("extract", videos, "--audio-dir", out / "A", "--frame-dir", out / "F",
                 "--log", tmp_path / "log.jsonl", "--workers", "1")
    assert res.returncode == 0, res.stderr
    assert snapshot(out / "A", out / "F") == snapshot(ref / "A", ref / "F")
    assert {p: p.stat().st_mtime_ns for p in (out / "F").rglob("*.jpg")} == frames_before


def test_extract_into_a_folder_that_cannot_exist_stops_before_any_work(tmp_path):
    videos = tmp_path / "videos"
    tiny_clips(videos, 1)
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    res = avprep("extract", videos, "--audio-dir", blocker / "A", "--frame-dir", tmp_path / "F",
                 "--log", tmp_path / "log.jsonl", "--workers", "1")
    assert res.returncode == 2
    assert str(blocker / "A") in one_line(res.stderr)
    assert not (tmp_path / "F").exists()


def test_pack_stops_cleanly_and_resumes(tmp_path):

    media = tmp_path / "media"
    entries = [make_media(media, f"clip_{k}", seconds=1.0, seed=k) for k in range(3)]
    listing = write_list(tmp_path / "list.json", entries)
    out = tmp_path / "packed"
    assert avprep("pack", listing, "-o", out, "--shard-size", "1").returncode == 0
    expected = snapshot(out)
    subprocess.run(["rm", "-rf", str(out)], check=True)

    res = avprep("pack", listing, "-o", out, "--shard-size", "1", max_bytes=40000)
    assert res.returncode == 2
    line = one_line(res.stderr)
    assert str(out) in line and "pack stopped" in line
    assert not (out / "manifest.json").exists() and not temporaries(out)
    assert not list(out.glob("shard-*.arrow"))  # each shard is ~46 kB: none was completed

    assert avprep("pack", listing, "-o", out, "--shard-size", "1").returncode == 0
    assert snapshot(out) == expected


def test_list_commands_stop_cleanly(tmp_path):
    entries = [{"video_id": f"v{i:06d}", "wav": "w" * 50, "video_path": "p",
                "labels": "/m/09x0r"} for i in range(3000)]
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps({"data": entries}, indent=1))
    out = tmp_path / "out"
    out.mkdir()

    res = avprep("weights", listing, "--labels", LABEL_CSV, "-o", out / "w.csv", max_bytes=4096)
    assert res.returncode == 2 and "File too large" in one_line(res.stderr)
    assert not (out / "w.csv").exists()

    res = avprep("build-list", "--released", listing, "--labels", LABEL_CSV, "--audio-dir", out,
                 "--frame-dir", out, "-o", out / "l.json", "--report", out / "report",
                 max_bytes=4096)  # the list is small (nothing is local), the report is not
    assert res.returncode == 2 and "File too large" in one_line(res.stderr)
    assert not temporaries(out)
    for path in out.rglob("*"):  # what was written is whole
        if path.suffix == ".json":
            json.loads(path.read_text())
    if (out / "l.json").exists():
        assert read_list(out / "l.json", cache=False).video_id == []
