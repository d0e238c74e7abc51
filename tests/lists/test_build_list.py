"""build-list: keep the released entries whose media exist, rewrite paths, weights, report."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avprep import layout
from avprep.cli import main
from avprep.errors import InputError
from avprep.lists import (DataList, Entry, LabelSet, compute_weights, read_list,
                          read_weights, write_labels, write_list, write_weights)
from avprep.lists.build import MediaIndex, build_list
from avprep.media.log import read_failures
from avprep.prepare.report import format_summary, summarize
from helpers.lists import CLASSES, released

def run_cli(*args) -> int:
    return main(["build-list", *map(str, args)])


def test_keeps_exactly_complete_entries_in_order_with_local_paths(released, tmp_path):
    out = tmp_path / "out" / "lists" / "audioset_2m_cleaned.json"
    rc = run_cli("--released", released["list"], "--audio-dir", released["audio"],
                 "--frame-dir", released["frames"], "-o", out)
    assert rc == 0
    raw = json.loads(out.read_text())
    kept = raw["data"]
    expected = [released["ids"][k] for k in released["complete"]]
    assert [e["video_id"] for e in kept] == expected
    # the same answer as the layout's per-file check, for every released id
    assert expected == [vid for vid in released["ids"]
                        if layout.has_media(released["audio"], released["frames"], vid)]
    originals = {e.video_id: e for e in released["data"]}
    for e in kept:
        assert set(e) == {"video_id", "wav", "video_path", "labels"}
        assert os.path.isabs(e["wav"]) and os.path.isabs(e["video_path"])
        assert Path(e["wav"]) == layout.wav_path(released["audio"], e["video_id"]).absolute()
        assert Path(e["video_path"]) == released["frames"].absolute()
        # the original loader's path rule finds every frame
        for i in range(layout.N_FRAMES):
            assert os.path.isfile(e["video_path"] + "/frame_" + str(i) + "/"
                                  + e["video_id"] + ".jpg")
        assert e["labels"] == originals[e["video_id"]].labels


def test_relative_media_folders_become_absolute(released, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "out")
    out = tmp_path / "local.json"
    assert run_cli("--released", released["list"], "--audio-dir", "audio",
                   "--frame-dir", "frames", "-o", out) == 0
    data = read_list(out, cache=False)
    assert all(p == str(tmp_path / "out" / "frames") for p in data.video_path)
    assert all(p.startswith(str(tmp_path / "out" / "audio") + os.sep) for p in data.wav)


def test_recomputed_weights_match_the_formula_on_the_kept_list(released, tmp_path):
    out, wout = tmp_path / "l.json", tmp_path / "w.csv"
    assert run_cli("--released", released["list"], "--audio-dir", released["audio"],
                   "--frame-dir", released["frames"], "-o", out, "--weights", released["weights"],
                   "--weights-out", wout) == 0
    kept = read_list(out, cache=False)
    weights = read_weights(wout)
    assert len(weights) == len(kept) == len(released["complete"])
    expected = compute_weights(kept, released["label_set"])
    np.testing.assert_allclose(weights, expected, rtol=1e-15, atol=0)
    # the released rows are for the authors' copy: a cut copy needs other weights
    released_rows = read_weights(released["weights"])[released["complete"]]
    assert not np.allclose(weights, released_rows)


def test_keep_released_weights_takes_the_kept_rows(released, tmp_path):
    out, wout = tmp_path / "l.json", tmp_path / "w.csv"
    assert run_cli("--released", released["list"], "--audio-dir", released["audio"],
                   "--frame-dir", released["frames"], "-o", out, "--weights", released["weights"],
                   "--weights-out", wout, "--keep-released-weights") == 0
    np.testing.assert_array_equal(read_weights(wout),
                                  read_weights(released["weights"])[released["complete"]])


def test_weight_file_of_wrong_length_is_an_error_and_writes_nothing(released, tmp_path, capsys):
    short = tmp_path / "short.csv"
    short.write_text("".join(released["weights"].read_text().splitlines(True)[:-1]))
    out, wout, report = tmp_path / "l.json", tmp_path / "w.csv", tmp_path / "report"
    for extra in ([], ["--keep-released-weights"]):
        rc = run_cli("--released", released["list"], "--audio-dir", released["audio"],
                     "--frame-dir", released["frames"], "-o", out, "--weights", short,
                     "--weights-out", wout, "--report", report, *extra)
        assert rc == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(short) in err
        assert "11 rows" in err and "12 entries" in err
        assert not out.exists() and not wout.exists() and not report.exists()


def test_report_has_coverage_missing_ids_and_summary(released, tmp_path):
    out, report = tmp_path / "lists" / "audioset_2m_cleaned.json", tmp_path / "report"
    assert run_cli("--released", released["list"], "--audio-dir", released["audio"],
                   "--frame-dir", released["frames"], "-o", out, "--report", report) == 0
    name = "audioset_2m_cleaned"
    missing = [vid for k, vid in enumerate(released["ids"]) if k not in released["complete"]]
    assert (report / f"{name}_missing_ids.txt").read_text().split() == missing
    summary = json.loads((report / f"{name}_build.json").read_text())
    assert (summary["released"], summary["kept"], summary["missing"]) == (12, 7, 5)
    assert summary["outputs"]["list"] == str(out.absolute())
    assert (report / f"{name}_coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(report / f"{name}_coverage.csv", newline="") as fh:
        written = list(csv.DictReader(fh))
    assert len(written) == len(CLASSES)
    rows = sorted(written, key=lambda r: int(r["index"]))
    kept = read_list(out, cache=False)
    for (mid, name), row in zip(CLASSES, rows):
        assert (row["mid"], row["display_name"]) == (mid, name)
        assert int(row["released"]) == sum(mid in e.label_list() for e in released["data"])
        assert int(row["local"]) == sum(mid in e.label_list() for e in kept)
    assert sum(int(r["local"]) for r in rows) < sum(int(r["released"]) for r in rows)
    # the worst classes first, in the CSV and by name in the summary and the run's report
    kept_share = [(int(r["local"]) / int(r["released"]), int(r["local"]) - int(r["released"]),
                   int(r["index"]), r["display_name"]) for r in rows if int(r["released"])]
    worst = [n for share, *_, n in sorted(kept_share) if share < 1]
    assert [r["display_name"] for r in written][:len(worst)] == worst
    assert [w["display_name"] for w in summary["classes"]["worst"]] == worst[:5]
    named = format_summary(summarize(report)).split("worst: ", 1)[1].split("\n", 1)[0]
    places = [named.index(f"{w['display_name']} {w['local']} of {w['released']} (")
              for w in summary["classes"]["worst"]]
    assert places == sorted(places)
    assert not [p for p in report.iterdir() if ".avprep-tmp-" in p.name]


def test_nothing_local_exits_1_with_an_empty_list(released, tmp_path, capsys):
    empty = tmp_path / "empty"
    out = tmp_path / "l.json"
    rc = run_cli("--released", released["list"], "--audio-dir", empty, "--frame-dir", empty,
                 "-o", out)
    assert rc == 1
    assert json.loads(out.read_text()) == {"data": []}
    assert "none of the 12 released entries" in capsys.readouterr().err


def test_unsafe_ids_are_never_kept_and_exit_1(released, tmp_path, capsys):
    data = released["data"]
    bad = DataList.from_entries(list(data) + [Entry("../escape", "/x.flac", "/f/", "/m/a")])
    rel = tmp_path / "bad.json"
    write_list(rel, bad)
    # a file the unsafe id would reach if it were used as a path
    (released["audio"].parent / "escape.wav").write_bytes(b"x")
    out = tmp_path / "l.json"
    rc = run_cli("--released", rel, "--labels", released["labels"],
                 "--audio-dir", released["audio"], "--frame-dir", released["frames"], "-o", out)
    assert rc == 1
    assert "../escape" not in read_list(out, cache=False).video_id
    assert len(read_list(out, cache=False)) == len(released["complete"])
    assert "entry 12" in capsys.readouterr().err


def test_unknown_label_in_a_kept_entry_names_the_released_entry(released, tmp_path, capsys):
    entries = list(released["data"])
    entries[3] = Entry(entries[3].video_id, entries[3].wav, entries[3].video_path, "/m/zzz")
    rel = tmp_path / "unknown.json"
    write_list(rel, entries)
    out, wout = tmp_path / "l.json", tmp_path / "w.csv"
    rc = run_cli("--released", rel, "--labels", released["labels"],
                 "--audio-dir", released["audio"], "--frame-dir", released["frames"], "-o", out,
                 "--weights-out", wout)
    assert rc == 2
    err = capsys.readouterr().err
    assert str(rel) in err and "entry 3" in err and "/m/zzz" in err
    assert not out.exists() and not wout.exists()


def test_label_csv_is_found_beside_the_released_list_or_asked_for(released, tmp_path, capsys):
    out = tmp_path / "l.json"
    args = ["--released", released["list"], "--audio-dir", released["audio"],
            "--frame-dir", released["frames"], "-o", out, "--weights-out", tmp_path / "w.csv"]
    assert run_cli(*args) == 0
    write_labels(released["dir"] / "class_labels_indices_vgg.csv", released["label_set"])
    out.unlink()
    assert run_cli(*args) == 2
    assert "pass --labels" in capsys.readouterr().err and not out.exists()
    assert run_cli(*args, "--labels", released["labels"]) == 0


def test_unusable_released_list_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [')
    out = tmp_path / "l.json"
    assert run_cli("--released", bad, "--audio-dir", tmp_path, "--frame-dir", tmp_path,
                   "-o", out) == 2
    assert str(bad) in capsys.readouterr().err and not out.exists()


def test_media_index_agrees_with_has_media(released):
    index = MediaIndex(released["audio"], released["frames"])
    for vid in released["ids"]:
        assert index.has_media(vid) == layout.has_media(released["audio"], released["frames"], vid)
    assert index.ids() == {released["ids"][k] for k in released["complete"]}


def test_build_list_api_requires_what_each_weight_mode_needs(released):
    with pytest.raises(InputError, match="label CSV"):
        build_list(released["data"], released["audio"], released["frames"], weights=True)
    with pytest.raises(InputError, match="released weight file"):
        build_list(released["data"], released["audio"], released["frames"], weights=True,
                   keep_released_weights=True)
    result = build_list(released["data"], released["audio"], released["frames"])
    assert result.weights is None
    assert list(result.kept) == released["complete"]
    assert result.missing_ids == [v for k, v in enumerate(released["ids"])
                                  if k not in released["complete"]]


def test_prepare_report_summarizes_builds_and_failures(released, tmp_path, capsys):
    report = tmp_path / "report"
    out = tmp_path / "lists" / "audioset_2m_cleaned.json"
    assert run_cli("--released", released["list"], "--audio-dir", released["audio"],
                   "--frame-dir", released["frames"], "-o", out, "--report", report) == 0
    log = report / "extract_log.jsonl"
    log.write_text(json.dumps({"id": "brokenclip1", "path": "/v/brokenclip1.mp4",
                               "stage": "open", "reason": "moov atom not found"}) + "\n")
    capsys.readouterr()
    assert main(["prepare-report", str(report), "--log", str(log), "--audio-dir",
                 str(released["audio"]), "--frame-dir", str(released["frames"])]) == 0
    text = capsys.readouterr().out
    assert "7 of 12 released entries" in text and "extraction failures: 1" in text
    summary = json.loads((report / "summary.json").read_text())
    assert summary["media"]["complete_clips"] == 7
    assert summary["extraction"]["failures"][0]["id"] == "brokenclip1"
    assert (report / "summary.txt").read_text() == text
    assert summarize(report)["lists"][0]["kept"] == 7


def test_failure_log_keeps_the_last_record_per_clip(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "path": "/v/a.mp4", "stage": "audio", "reason": "x"},
        {"id": "b", "path": "/v/b.mp4", "stage": "frames", "reason": "y"},
        {"id": "a", "path": "/v/a.mp4", "stage": "audio", "reason": "z"},
        {"summary": {"ok": 3}},
    ]) + "\n")
    failures = read_failures(log, latest=True)
    assert sorted((f["id"], f["reason"]) for f in failures) == [("a", "z"), ("b", "y")]
    log.write_text("not json\n")
    with pytest.raises(InputError, match="line 1"):
        read_failures(log, latest=True)


def test_failure_log_in_order_keeps_every_stage_and_names_bad_input(tmp_path):
    """Without ``latest`` each failure record stays, in order (a clip failing in both stages has
    two); summary and success lines are still skipped; bad input names the file and line."""
    log = tmp_path / "log.jsonl"
    records = [{"id": "a", "path": "/v/a.mp4", "stage": "audio", "reason": "x"},
               {"id": "a", "path": "/v/a.mp4", "stage": "frames", "reason": "y"},
               {"id": "b", "path": "/v/b.mp4", "stage": "audio", "reason": "z"}]
    log.write_text("\n".join(json.dumps(r) for r in records + [
        {"id": "b", "path": "/v/b.mp4", "status": "ok", "reason": ""}, {"summary": {"ok": 3}},
    ]) + "\n\n")
    assert read_failures(log) == records
    assert [(f["id"], f["stage"]) for f in read_failures(log, latest=True)] == [("a", "frames")]
    with pytest.raises(InputError, match="not found") as err:
        read_failures(tmp_path / "none.jsonl")
    assert str(tmp_path / "none.jsonl") in str(err.value)
    log.write_bytes(json.dumps(records[0]).encode() + b"\n\xff\n")
    with pytest.raises(InputError, match="line 2") as err:
        read_failures(log)
    assert str(log) in str(err.value)


def test_unreadable_log_or_summary_exits_2_naming_it(tmp_path, capsys):
    """Bytes that are not UTF-8 are unusable input (exit 2), not an internal error (exit 3)."""
    report = tmp_path / "report"
    report.mkdir()
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"id": "a", "reason": "x"}\n\xff{"id": "b"}\n')
    assert main(["prepare-report", str(report), "--log", str(log)]) == 2
    assert f"{log}: entry line 2: not UTF-8 text" in capsys.readouterr().err
    (report / "x_build.json").write_bytes(b"\xff")
    assert main(["prepare-report", str(report)]) == 2
    assert f"{report / 'x_build.json'}: unreadable build summary" in capsys.readouterr().err


def test_help_has_an_example(capsys):
    for command in ("build-list", "prepare-report"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert f"example:\n  avprep {command}" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "-2.5"])
def test_kept_released_weights_are_checked_as_validate_checks_them(released, tmp_path, bad):
    rows = released["weights"].read_text().splitlines()
    rows[4] = bad
    bad_weights = tmp_path / "bad_weight.csv"
    bad_weights.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out" / "lists" / "audioset_2m_cleaned.json"
    weights_out = out.with_name("audioset_2m_cleaned_weight.csv")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = run_cli("--released", released["list"], "--audio-dir", released["audio"],
                     "--frame-dir", released["frames"], "-o", out, "--weights", bad_weights,
                     "--weights-out", weights_out, "--keep-released-weights")
    assert rc == 2
    line = err.getvalue().strip()
    assert len(line.splitlines()) == 1
    assert str(bad_weights) in line and "line 5" in line and released["ids"][4] in line
    assert not out.exists() and not weights_out.exists()
    # validate flags the same row
    from avprep.lists.validate import validate

    report = validate(released["data"], released["label_set"], weights=read_weights(bad_weights))
    kind = "negative_weight" if bad == "-2.5" else "nonfinite_weight"
    assert report.problems[kind]["examples"] == [released["ids"][4]]
    # recomputing needs no released weights: the same call without the flag works
    assert run_cli("--released", released["list"], "--audio-dir", released["audio"],
                   "--frame-dir", released["frames"], "-o", out, "--weights", bad_weights,
                   "--weights-out", weights_out) == 0
