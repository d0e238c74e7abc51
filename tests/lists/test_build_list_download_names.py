"""build-list notices clips extracted under download names, and extract --ids fixes them.

Real clips made with the packaged ffmpeg under the names download tools give them
(``Y<ytid>_<start>_<end>.mp4`` for AudioSet, ``<ytid>_<start>.mp4`` for VGGSound), extracted by
``avprep extract`` with and without ``--ids``, then ``avprep build-list`` on the released ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avprep.cli import main
from avprep.lists import DataList, Entry, LabelSet, write_labels, write_list
from avprep.lists.build import download_named
from avprep.synth import make_clip

CLIP = dict(duration=1.0, width=64, height=48, fps=10)
LABELS = [("/m/a", "Alpha"), ("/m/b", "Beta")]


def released_list(folder: Path, ids) -> Path:
    """A released-format list of ``ids`` (authors' paths) with its label CSV beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = LabelSet.from_pairs(LABELS)
    write_labels(folder / "class_labels_indices.csv", labels)
    data = DataList.from_entries([Entry(vid, f"/data/audio/{vid}.flac", "/data/frames/",
                                        labels.mids[k % 2]) for k, vid in enumerate(ids)])
    write_list(folder / "released.json", data)
    return folder / "released.json"


def extract(videos: Path, out: Path, *ids_option: str) -> int:
    return main(["extract", str(videos), "--audio-dir", str(out / "audio"),
                 "--frame-dir", str(out / "frames"), "--workers", "0", *ids_option])


def build(released: Path, out: Path) -> int:
    return main(["build-list", "--released", str(released), "--audio-dir", str(out / "audio"),
                 "--frame-dir", str(out / "frames"), "-o", str(out / "lists" / "local.json"),
                 "--report", str(out / "report")])


@pytest.mark.parametrize("scheme, files, ids", [
    ("audioset", ["Y--abcdefghi_30.000_40.000.mp4", "Yklmnopqrstu_0.000_10.000.mp4",
                  "zyxwvutsrqp.mp4"],
     ["--abcdefghi", "klmnopqrstu", "zyxwvutsrqp", "nobodyhasit"]),
    ("vggsound", ["--abcdefghi_30.mp4", "klmnopqrstu_125.000.mp4", "zyxwvutsrqp_000007.mp4"],
     ["--abcdefghi_000030", "klmnopqrstu_000125", "zyxwvutsrqp_000007", "nobodyhasit_000001"]),
])
def test_download_names_warn_once_and_extract_ids_fixes_them(tmp_path, capsys, scheme, files,
                                                              ids):
    videos = tmp_path / "videos"
    for name in files:
        make_clip(videos / name, **CLIP)
    released = released_list(tmp_path / "released", ids)
    out = tmp_path / "out"
    assert extract(videos, out) == 0
    capsys.readouterr()

    assert build(released, out) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if "named like downloads" in line]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("avprep build-list: warning: 2 wav file(s)")
    assert f"--ids {scheme}" in warnings[0] and files[0][:-4] + ".wav" in warnings[0]
    summary = json.loads((out / "report" / "local_build.json").read_text())
    assert summary["kept"] == 1 and summary["missing"] == 3
    assert summary["download_named"]["files"] == 2
    assert summary["download_named"]["ids_option"] == f"--ids {scheme}"
    assert summary["download_named"]["examples"][0] == {"file": files[0][:-4] + ".wav",
                                                        "video_id": ids[0]}

    # what the warning says to do: the clips then carry list ids and nothing is left to warn of
    fixed = tmp_path / "fixed"
    assert extract(videos, fixed, "--ids", scheme) == 0
    capsys.readouterr()
    assert build(released, fixed) == 0
    assert "named like downloads" not in capsys.readouterr().err
    summary = json.loads((fixed / "report" / "local_build.json").read_text())
    assert (summary["kept"], summary["missing"], summary["download_named"]) == (3, 1, None)


def test_only_missing_ids_count_and_other_splits_are_not_parsed(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ["Y--abcdefghi_30.000_40.000.wav",   # maps to a missing id
                 "Yklmnopqrstu_0_10.wav",            # maps to an id that is not missing
                 "otherspliti.wav",                  # another split's clip, list-id shaped
                 ".Yzzzzzzzzzzz_1_2.avprep-tmp-1-ab.wav", "notes.txt"]:
        (audio / name).write_bytes(b"")
    found = download_named(audio, {"--abcdefghi", "zzzzzzzzzzz"})
    assert found is not None and (found.files, found.scheme) == (1, "audioset")
    assert found.examples == [("Y--abcdefghi_30.000_40.000.wav", "--abcdefghi")]
    assert download_named(audio, {"klmnopqrstv"}) is None
    assert download_named(tmp_path / "absent", {"--abcdefghi"}) is None
