"""Every missing clip accounted for: build-list, coverage and prepare-report with hand-written
download logs (shard logs, a glob) and an extraction failure log."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from avprep.cli import main
from avprep.lists import read_list
from avprep.lists.accounting import CAUSES
from avprep.prepare.logs import account_from_logs, read_download_logs
from helpers.lists import released


def _log(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _record(video_id: str, status: str, reason: str, time: str) -> dict:
    return {"id": video_id, "status": status, "reason": reason, "time": time}


@pytest.fixture
def logs(released, tmp_path):  # noqa: F811
    """Shard logs and an extraction log for the 5 missing ids of the fixture (2, 5, 7, 8, 10):
    2 downloaded then failed extraction, 5 downloaded and not extracted, 7 unavailable, 8
    pending (an older record in the other shard's log says unavailable), 10 never attempted."""
    ids = released["ids"]
    shard0 = _log(tmp_path / "videos.download-log.shard-0-of-2.jsonl", [
        _record(ids[0], "downloaded", "cut exact", "2026-01-01T00:00:00Z"),
        _record(ids[2], "downloaded", "cut exact", "2026-01-01T00:00:01Z"),
        _record(ids[8], "pending", "server error (HTTP 500) (after 4 attempts)",
                "2026-01-03T00:00:00Z"),
    ])
    shard1 = _log(tmp_path / "videos.download-log.shard-1-of-2.jsonl", [
        _record(ids[5], "downloaded", "cut exact", "2026-01-01T00:00:02Z"),
        _record(ids[7], "pending", "timed out", "2026-01-01T00:00:03Z"),
        _record(ids[7], "unavailable", "not found (HTTP 404)", "2026-01-02T00:00:00Z"),
        _record(ids[8], "unavailable", "private video", "2026-01-02T00:00:00Z"),
    ])
    extract = _log(tmp_path / "extract_log.jsonl", [
        {"id": ids[2], "path": f"/v/{ids[2]}.mp4", "stage": "frames", "reason": "no frames"}])
    expected = {ids[2]: "failed_extraction", ids[5]: "not_extracted", ids[7]: "unavailable",
                ids[8]: "pending", ids[10]: "never_attempted"}
    return {"shards": [shard0, shard1], "glob": str(tmp_path / "videos.download-log*.jsonl"),
            "extract": extract, "expected": expected}


def _per_class(released, expected) -> dict:  # noqa: F811
    """(mid, cause) -> count, from the released entries' labels."""
    out = {}
    for entry in released["data"]:
        cause = expected.get(entry.video_id)
        if cause:
            for mid in set(entry.labels.split(",")):
                out[mid, cause] = out.get((mid, cause), 0) + 1
    return out


def test_shard_logs_merge_by_time_and_a_glob_names_them(logs, released):  # noqa: F811
    state = read_download_logs([logs["glob"]])
    assert state == read_download_logs(logs["shards"][::-1])
    assert state[released["ids"][8]]["status"] == "pending"  # the later record wins
    account = account_from_logs(list(logs["expected"]), [logs["glob"]], logs["extract"])
    assert dict(zip(account.ids, account.causes)) == logs["expected"]
    assert account.reasons[account.ids.index(released["ids"][7])] == "not found (HTTP 404)"
    assert account.reasons[0] == "frames: no frames"


def test_build_list_accounts_for_every_missing_id(released, logs, tmp_path, capsys):  # noqa: F811
    report = tmp_path / "report"
    out = tmp_path / "lists" / "audioset_2m_cleaned.json"
    assert main(["build-list", "--released", str(released["list"]), "--audio-dir",
                 str(released["audio"]), "--frame-dir", str(released["frames"]), "-o", str(out),
                 "--report", str(report), "--download-log", logs["glob"],
                 "--extract-log", str(logs["extract"])]) == 0
    text = capsys.readouterr().out
    assert ("missing: 1 unavailable, 1 pending, 1 never attempted, 1 failed extraction, "
            "1 downloaded, not extracted") in text
    assert "unavailable: 1 not found (HTTP 404)" in text
    build = json.loads((report / "audioset_2m_cleaned_build.json").read_text())
    counts = build["accounting"]["missing"]
    assert sum(counts.values()) == build["missing"] == 5
    assert counts == {c: list(logs["expected"].values()).count(c) for c in CAUSES}
    assert build["accounting"]["download_logs"] == [str(p) for p in logs["shards"]]
    with open(report / "audioset_2m_cleaned_missing.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["video_id"]: r["cause"] for r in rows} == logs["expected"]
    assert [r["video_id"] for r in rows] == (report / "audioset_2m_cleaned_missing_ids.txt") \
        .read_text().split()
    # per class: the coverage CSV's cause columns, and the same in the JSON
    want = _per_class(released, logs["expected"])
    with open(report / "audioset_2m_cleaned_coverage.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    for row in table:
        for cause in CAUSES:
            assert int(row[cause]) == want.get((row["mid"], cause), 0), (row["mid"], cause)
        assert int(row["missing"]) == int(row["released"]) - int(row["local"]) == sum(
            int(row[c]) for c in CAUSES)
    by_class = {item["mid"]: item for item in build["accounting"]["by_class"]}
    assert {(mid, c) for mid, item in by_class.items() for c in CAUSES if item[c]} == set(want)
    # the prepare report carries it on, and can recompute it from the logs
    capsys.readouterr()
    assert main(["prepare-report", str(report)]) == 0
    assert "1 pending, 1 never attempted" in capsys.readouterr().out
    # a build without the logs removes the causes of an earlier run
    assert main(["build-list", "--released", str(released["list"]), "--audio-dir",
                 str(released["audio"]), "--frame-dir", str(released["frames"]), "-o", str(out),
                 "--report", str(report)]) == 0
    assert not (report / "audioset_2m_cleaned_missing.csv").exists()
    assert main(["prepare-report", str(report), "--log", str(logs["extract"]),
                 "--download-log", *map(str, logs["shards"])]) == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["lists"][0]["accounting"]["missing"] == counts
    assert {i["mid"]: i for i in summary["lists"][0]["accounting"]["by_class"]} == by_class
    text = (report / "summary.txt").read_text()
    assert "missing: 1 unavailable, 1 pending, 1 never attempted, 1 failed extraction" in text
    assert "classes most missing: " in text


def test_coverage_with_download_logs(released, logs, tmp_path, capsys):  # noqa: F811
    report = tmp_path / "report"
    local = tmp_path / "local.json"
    assert main(["build-list", "--released", str(released["list"]), "--audio-dir",
                 str(released["audio"]), "--frame-dir", str(released["frames"]),
                 "-o", str(local)]) == 0
    prefix = tmp_path / "cov"
    capsys.readouterr()
    assert main(["coverage", str(local), "--released", str(released["list"]), "--labels",
                 str(released["labels"]), "-o", str(prefix), "--download-log",
                 *map(str, logs["shards"]), "--extract-log", str(logs["extract"])]) == 0
    assert "1 failed extraction, 1 downloaded, not extracted" in capsys.readouterr().out
    with open(f"{prefix}_missing.csv", newline="") as fh:
        assert {r["video_id"]: r["cause"] for r in csv.DictReader(fh)} == logs["expected"]
    want = _per_class(released, logs["expected"])
    with open(f"{prefix}.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            assert [int(row[c]) for c in CAUSES] == [want.get((row["mid"], c), 0)
                                                      for c in CAUSES]
    assert not report.exists() and len(read_list(local)) == 7


def test_a_missing_log_is_exit_2_before_anything_is_written(released, logs, tmp_path,  # noqa: F811
                                                            capsys):
    out = tmp_path / "lists" / "x.json"
    base = ["build-list", "--released", str(released["list"]), "--audio-dir",
            str(released["audio"]), "--frame-dir", str(released["frames"]), "-o", str(out)]
    assert main(base + ["--download-log", str(tmp_path / "none.jsonl")]) == 2
    assert "download log not found" in capsys.readouterr().err
    assert main(base + ["--download-log", str(tmp_path / "nothing*.jsonl")]) == 2
    assert "no download log matches" in capsys.readouterr().err
    assert main(base + ["--extract-log", str(logs["extract"])]) == 2
    assert not out.exists()


def test_reasons_past_the_commonest_are_counted_together():
    from avprep.lists.accounting import OTHER_REASONS, account_missing

    ids = [f"vid{k:08d}" for k in range(30)]
    state = {v: {"id": v, "status": "unavailable", "reason": f"Video {v} is private"}
             for v in ids}
    state[ids[0]]["reason"] = state[ids[1]]["reason"] = "not found (HTTP 404)"
    reasons = account_missing(ids, state).reasons_of("unavailable", top=5)
    assert list(reasons)[0] == "not found (HTTP 404)" and reasons["not found (HTTP 404)"] == 2
    assert len(reasons) == 6 and reasons[OTHER_REASONS] == 30 - 2 - 4
    assert sum(reasons.values()) == 30


def test_prepare_report_reads_escaped_missing_ids_back(tmp_path):
    """The missing-id files escape one id per line; the report reads the ids themselves."""
    from avprep.prepare.report import account_list
    from avprep.safetext import lines_text

    odd = "new\nline\ttab"
    (tmp_path / "x_missing_ids.txt").write_text(lines_text([odd, "plainid0000"]))
    state = {odd: _record(odd, "unavailable", "private video", "2026-01-01T00:00:00Z")}
    info = account_list(tmp_path, {"list": "x"}, state, [])
    assert info["missing"]["unavailable"] == 1 and info["missing"]["never_attempted"] == 1
