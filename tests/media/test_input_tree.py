"""extract's inputs: links to folders are followed once (loops and repeats guarded); a path list
with a byte-order mark is read as the JSON and CSV readers read one."""

from __future__ import annotations

import os
from pathlib import Path

from avprep.cli import main
from avprep.media.runner import find_inputs
from avprep.synth import make_clip


def _tree(tmp_path: Path) -> Path:
    videos = tmp_path / "videos"
    (videos / "real").mkdir(parents=True)
    (videos / "real" / "a.mp4").write_bytes(b"")
    elsewhere = tmp_path / "elsewhere" / "deep"
    elsewhere.mkdir(parents=True)
    (elsewhere / "b.mkv").write_bytes(b"")
    os.symlink(tmp_path / "elsewhere", videos / "linked")        # a folder outside the tree
    os.symlink(videos, videos / "real" / "loop")                 # a loop back to the top
    os.symlink(videos / "real", videos / "twice")                # a second way to one folder
    os.symlink(tmp_path / "gone", videos / "dangling")           # a link to nothing
    return videos


def test_linked_folders_are_followed_once(tmp_path):
    videos = _tree(tmp_path)
    found = find_inputs(videos)
    assert found == [videos / "linked" / "deep" / "b.mkv", videos / "real" / "a.mp4"]


def test_extract_reads_clips_through_a_linked_folder(tmp_path):
    videos = _tree(tmp_path)
    for path in (videos / "real" / "a.mp4", tmp_path / "elsewhere" / "deep" / "b.mkv"):
        path.unlink()
        make_clip(path, width=64, height=48, duration=1)
    out = tmp_path / "out"
    code = main(["extract", str(videos), "--audio-dir", str(out / "a"), "--frame-dir",
                 str(out / "f"), "--workers", "0", "--log", str(tmp_path / "log.jsonl")])
    assert code == 0
    assert sorted(p.name for p in (out / "a").iterdir()) == ["a.wav", "b.wav"]
    assert (tmp_path / "log.jsonl").read_text() == ""


def test_a_path_list_with_a_byte_order_mark(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"")
    (tmp_path / "y.webm").write_bytes(b"")
    listing = tmp_path / "list.txt"
    listing.write_bytes("\ufeffx.mp4\r\ny.webm\n".encode("utf-8"))
    assert find_inputs(listing) == [tmp_path / "x.mp4", tmp_path / "y.webm"]
