"""Untrusted text is printed safely everywhere: cut, escaped, one id per line in id files."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from avprep.cli import main
from avprep.lists import DataList, read_list, write_list
from helpers import SAMPLES

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
SAMPLE_LIST = SAMPLES / "sample_json_as.json"
HUGE = "\x1b[2J\x1b]0;owned\x07" + "x" * 500_000          # clears the screen, retitles it
NASTY = ["line\nbreak", "back\\slash", "esc\x1b[31mred", "tab\there", "sep\u2028x",
         "cr\rreturn", "plain_id___"]


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue() + err.getvalue()


def _assert_safe(text: str, limit: int = 2000) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\u2028" not in text
    assert max(len(line) for line in text.splitlines()) <= limit, \
        max(len(line) for line in text.splitlines())


def test_shown_and_the_line_escapes():
    from avprep.safetext import escape_line, lines_text, shown, unescape_line

    text = shown(HUGE)
    assert text.startswith("\\x1b[2J\\x1b]0;owned\\x07") and "\x1b" not in text
    assert text.endswith(f"({len(HUGE)} characters)") and len(text) < 200
    assert shown("plain_id___") == "plain_id___"
    assert shown("a\nb\ud800") == "a\\nb\\ud800"
    for value in NASTY + ["\\n", "\\\\x1b", "\ud800", ""]:
        line = escape_line(value)
        assert len(line.splitlines()) <= 1 and unescape_line(line) == value
    assert lines_text(["plain_id___", "a\nb"]) == "plain_id___\na\\nb\n"


@pytest.fixture
def lists(tmp_path):
    sample = read_list(SAMPLE_LIST, cache=False).select(range(5))
    entries = list(sample) + [
        {"video_id": vid, "wav": f"/nowhere/{k}.wav", "video_path": "/nowhere",
         "labels": sample[0].labels} for k, vid in enumerate([HUGE] + NASTY)]
    released = tmp_path / "released.json"
    write_list(released, DataList.from_entries(entries))
    local = tmp_path / "local.json"
    write_list(local, sample)
    shutil.copy(LABEL_CSV, tmp_path / "class_labels_indices.csv")
    return {"dir": tmp_path, "released": released, "local": local}


def test_build_list_prints_safely_and_writes_one_id_per_line(lists, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "f").mkdir()
    code, text = _run(["build-list", "--released", lists["released"], "--audio-dir",
                       tmp_path / "a", "--frame-dir", tmp_path / "f", "-o", tmp_path / "o.json",
                       "--report", tmp_path / "report"])
    assert code == 1  # the huge id cannot name a file
    _assert_safe(text)
    assert f"({len(HUGE)} characters)" in text
    missing = (tmp_path / "report" / "o_missing_ids.txt").read_text(encoding="utf-8")
    lines = missing.split("\n")[:-1]
    assert len(lines) == 5 + len(NASTY) + 1
    from avprep.safetext import unescape_line

    assert [unescape_line(v) for v in lines[5:]] == [HUGE] + NASTY


def test_coverage_missing_file_one_id_per_line(lists, tmp_path):
    code, text = _run(["coverage", lists["local"], "--released", lists["released"], "--labels",
                       LABEL_CSV, "-o", tmp_path / "cov", "--missing", tmp_path / "m.txt"])
    assert code == 0
    lines = (tmp_path / "m.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == 1 + len(NASTY)
    from avprep.safetext import unescape_line

    assert [unescape_line(v) for v in lines] == [HUGE] + NASTY


def test_pack_prints_safely(lists, tmp_path):
    code, text = _run(["pack", lists["released"], "-o", tmp_path / "pack"])
    assert code == 1
    _assert_safe(text)
    assert "esc\\x1b[31mred" in text


def test_prepare_report_prints_safely(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"id": vid, "path": f"/v/{k}.mp4", "stage": "open",
                                       "reason": "cannot open: \x1b[2J" + vid}) + "\n"
                           for k, vid in enumerate([HUGE] + NASTY[:4])))
    code, text = _run(["prepare-report", report, "--log", log])
    assert code == 0
    _assert_safe(text)
    _assert_safe((report / "summary.txt").read_text())


def test_error_lines_escape_file_names(tmp_path):
    code, text = _run(["validate", tmp_path / "list\x1b[2J.json", "--labels", LABEL_CSV])
    assert code == 2 and "list\\x1b[2J.json" in text
    _assert_safe(text)
