"""A clip counts as done only when it is: one check for extract, build-list, validate and pack."""

from __future__ import annotations

import json
import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from avprep import layout
from avprep.cli import main
from avprep.lists import DataList, read_labels, read_list, write_list
from avprep.lists.build import MediaIndex
from avprep.lists.validate import validate
from avprep.synth import make_clip
from helpers import REF, SAMPLES

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
VID = "clipAAAAAAA"


def _wav(path: Path, rate=16000, channels=1, samples=1600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(channels)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(np.zeros(samples * channels, dtype="<i2").tobytes())
    return path


def _broken_outputs(root: Path) -> dict:
    """name -> (path, reason fragment): every kind of output that is present but not done."""
    real_wav = next((REF / "audio").glob("*.wav"))
    real_jpg = next((REF / "frames" / "frame_0").glob("*.jpg"))
    root.mkdir(parents=True, exist_ok=True)
    cases = {}
    (root / "empty.wav").write_bytes(b"")
    cases["empty.wav"] = "empty"
    os.symlink(root / "nowhere.wav", root / "dangling.wav")
    cases["dangling.wav"] = "dangling"
    (root / "folder.wav").mkdir()
    cases["folder.wav"] = "folder"
    _wav(root / "rate.wav", rate=44100)
    cases["rate.wav"] = "44100"
    _wav(root / "stereo.wav", channels=2)
    cases["stereo.wav"] = "2 channels"
    _wav(root / "nosamples.wav", samples=0)
    cases["nosamples.wav"] = "no audio samples"
    data = real_wav.read_bytes()
    (root / "cut.wav").write_bytes(data[: len(data) // 2])
    cases["cut.wav"] = "cut short"
    (root / "text.wav").write_bytes(b"hello, not a wav at all")
    cases["text.wav"] = "RIFF"
    os.mkfifo(root / "pipe.wav")  # nobody writes to it: the check must not block
    cases["pipe.wav"] = "not a regular file"
    jpg = real_jpg.read_bytes()
    (root / "empty.jpg").write_bytes(b"")
    cases["empty.jpg"] = "empty"
    (root / "cut.jpg").write_bytes(jpg[: len(jpg) - 100])
    cases["cut.jpg"] = "cut short"
    (root / "png.jpg").write_bytes(b"\x89PNG\r\n\x1a\n" + jpg[8:])
    cases["png.jpg"] = "not a JPEG"
    os.symlink(root / "nowhere.jpg", root / "dangling.jpg")
    cases["dangling.jpg"] = "dangling"
    (root / "folder.jpg").mkdir()
    cases["folder.jpg"] = "folder"
    return {name: (root / name, why) for name, why in cases.items()}


def test_each_broken_output_is_named_with_its_reason(tmp_path):
    from avprep.complete import MISSING, jpeg_problem, wav_problem

    assert all(wav_problem(p) is None for p in (REF / "audio").glob("*.wav"))
    assert all(jpeg_problem(p) is None for p in (REF / "frames").rglob("*.jpg"))
    assert wav_problem(tmp_path / "none.wav") == MISSING
    assert jpeg_problem(tmp_path / "none" / "x.jpg") == MISSING
    assert wav_problem(_wav(tmp_path / "ok.wav")) is None
    assert wav_problem(_wav(tmp_path / "s.wav", channels=2), channels=None) is None
    for name, (path, why) in _broken_outputs(tmp_path / "b").items():
        check = wav_problem if name.endswith(".wav") else jpeg_problem
        problem = check(path)
        assert problem is not None and why in problem, (name, problem)


def _extract(src: Path, out: Path, log: Path) -> int:
    return main(["extract", str(src), "--audio-dir", str(out / "audio"), "--frame-dir",
                 str(out / "frames"), "--workers", "0", "--log", str(log)])


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("complete")
    videos = tmp / "videos"
    for k in range(3):
        make_clip(videos / f"clip{k}AAAAAAA.mp4", width=96, height=64, duration=1.5,
                  tone=440.0 + 100 * k)
    out = tmp / "out"
    assert _extract(videos, out, tmp / "log.jsonl") == 0
    good = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    return {"tmp": tmp, "videos": videos, "out": out, "good": good}


def _damage(out: Path) -> None:
    (out / "audio" / "clip0AAAAAAA.wav").write_bytes(b"")                      # zero bytes
    frame = out / "frames" / "frame_3" / "clip1AAAAAAA.jpg"
    frame.write_bytes(frame.read_bytes()[:-50])                                # JPEG cut short
    dangling = out / "frames" / "frame_5" / "clip2AAAAAAA.jpg"
    dangling.unlink()
    os.symlink(out / "gone.jpg", dangling)                                     # dangling link


def test_extract_redoes_broken_outputs(extracted, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(extracted["out"], out, symlinks=True)
    _damage(out)
    assert _extract(extracted["videos"], out, tmp_path / "log.jsonl") == 0
    now = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert now == extracted["good"]
    assert not (out / "frames" / "frame_5" / "clip2AAAAAAA.jpg").is_symlink()


def test_extract_reports_a_folder_in_place_of_a_wav(extracted, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(extracted["out"], out)
    wav = out / "audio" / "clip0AAAAAAA.wav"
    wav.unlink()
    wav.mkdir()
    (wav / "keep.txt").write_text("a user's file")
    assert _extract(extracted["videos"], out, tmp_path / "log.jsonl") == 1
    record = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    assert record["id"] == "clip0AAAAAAA" and record["stage"] == "audio"
    assert (wav / "keep.txt").read_text() == "a user's file"  # never removed
    assert "2 already complete" in capsys.readouterr().err


def _entries(out: Path):
    return [{"video_id": f"clip{k}AAAAAAA", "wav": str(out / "audio" / f"clip{k}AAAAAAA.wav"),
             "video_path": str(out / "frames"), "labels": "/m/09x0r"} for k in range(3)]


def test_validate_build_list_and_pack_see_broken_outputs(extracted, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(extracted["out"], out, symlinks=True)
    _damage(out)
    data = DataList.from_entries(_entries(out))
    report = validate(data, read_labels(LABEL_CSV), files=True)
    assert report.problems["broken_wav"]["examples"] == ["clip0AAAAAAA"]
    assert "empty" in report.problems["broken_wav"]["detail"]
    assert report.problems["broken_frames"]["examples"] == ["clip1AAAAAAA", "clip2AAAAAAA"]
    assert "missing_wav" not in report.problems and "missing_frames" not in report.problems
    assert report.summary["files"] == {"checked": 3, "complete": 0}
    listing = tmp_path / "released.json"
    write_list(listing, data)
    code = main(["validate", str(listing), "--labels", str(LABEL_CSV), "--check-files"])
    assert code == 1 and "broken_wav: 1" in capsys.readouterr().out

    assert MediaIndex(out / "audio", out / "frames").ids() == set()
    assert main(["build-list", "--released", str(listing), "--labels", str(LABEL_CSV),
                 "--audio-dir", str(out / "audio"), "--frame-dir", str(out / "frames"),
                 "-o", str(tmp_path / "local.json")]) == 1  # none complete
    assert len(read_list(tmp_path / "local.json", cache=False)) == 0

    from avprep.store import pack

    result = pack(listing, tmp_path / "pack")
    reasons = {f.video_id: f.reason for f in result.failures}
    assert "empty" in reasons["clip0AAAAAAA"]
    assert "frame 3" in reasons["clip1AAAAAAA"] and "cut short" in reasons["clip1AAAAAAA"]
    assert result.manifest.incomplete == [{"entry": 2, "video_id": "clip2AAAAAAA",
                                           "missing_frames": [5]}]


def test_scan_agrees_with_the_per_clip_check(tmp_path):
    """MediaIndex (one listing per folder) and layout.has_media (per clip) agree on a mix."""
    audio, frames = tmp_path / "audio", tmp_path / "frames"
    real_jpg = next((REF / "frames" / "frame_0").glob("*.jpg")).read_bytes()
    ids = [f"id{k:02d}AAAAAAAA"[:11] for k in range(12)]
    for k, vid in enumerate(ids):
        _wav(audio / f"{vid}.wav", rate=16000 if k != 3 else 8000, samples=0 if k == 4 else 160)
        for i in range(layout.N_FRAMES):
            path = frames / f"frame_{i}" / f"{vid}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            body = real_jpg if not (k == 5 and i == 9) else real_jpg[:-2]
            if not (k == 6 and i == 0):
                path.write_bytes(body)
    (audio / f"{ids[7]}.wav").unlink()
    (audio / f"{ids[7]}.wav").mkdir()
    index = MediaIndex(audio, frames)
    expected = {vid for vid in ids if layout.has_media(audio, frames, vid)}
    assert index.ids() == expected == set(ids) - {ids[3], ids[4], ids[5], ids[6], ids[7]}
    assert all(index.has_media(v) == (v in expected) for v in ids)
