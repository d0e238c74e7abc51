"""``avprep prepare audioset --download`` (and ``make prepare-audioset DOWNLOAD=1``) against the
media server on 127.0.0.1: released-format lists whose ids are served, 404 (unavailable), 500
(pending), not in the split chosen (never attempted) or a clip that does not decode (failed
extraction); the report accounts for every released id, per list and per class."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from avprep.cli import main
from avprep.download import read_download_log
from avprep.lists import DataList, Entry, LabelSet, read_list, write_labels, write_list
from avprep.lists.accounting import CAUSES
from helpers.media_server import MediaServer, make_timed_clip
from helpers import ROOT, STAMP
from helpers.serve import serve_folder

CLASSES = [("/m/speech", "Speech"), ("/m/music", "Music"), ("/m/dog", "Dog")]
SERVED = ["-0RWZT-miFs", "servedBBBBB"]
GONE, BUSY, BROKEN, OTHER = "goneCCCCCCC", "busyDDDDDDD", "brokenEEEEE", "otherFFFFFF"
EVAL = {SERVED[0]: "/m/speech", SERVED[1]: "/m/music,/m/dog", GONE: "/m/speech,/m/dog",
        BUSY: "/m/music", BROKEN: "/m/dog"}
TWENTY_K = {SERVED[0]: "/m/speech", OTHER: "/m/music,/m/speech", GONE: "/m/speech,/m/dog"}
FAST = ["--sleep", "0", "--max-per-hour", "100000", "--backoff", "0.05", "--retries", "0"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_timed_clip(tmp_path_factory.mktemp("src") / "c.mp4", duration=10.5,
                           gop_seconds=2.0).read_bytes()


def _released(folder: Path) -> Path:
    folder.mkdir(parents=True)
    write_labels(folder / "class_labels_indices.csv", LabelSet.from_pairs(CLASSES))
    for name, ids in (("audioset_eval_cleaned", EVAL), ("audioset_20k_cleaned", TWENTY_K)):
        write_list(folder / f"{name}.json", DataList.from_entries(
            [Entry(v, f"/x/{v}.flac", "/x/", labels) for v, labels in ids.items()]))
    return folder


def _segments(folder: Path) -> dict:
    """Google's three segment CSVs, every id at [0, 10] s."""
    folder.mkdir(parents=True, exist_ok=True)
    head = "# Segments csv created Sun Mar  5 10:54:31 2017\n# num_ytids={n}, num_segs={n}, " \
           "num_unique_labels=1, num_positive_labels={n}\n# YTID, start_seconds, " \
           "end_seconds, positive_labels\n"
    tables = {"eval_segments.csv": list(EVAL), "balanced_train_segments.csv": list(TWENTY_K),
              "unbalanced_train_segments.csv": [OTHER]}
    for name, ids in tables.items():
        (folder / name).write_text(head.format(n=len(ids)) + "".join(
            f'{v}, 0.000, 10.000, "/m/speech"\n' for v in ids))
    return {name: len(ids) for name, ids in tables.items()}


def _serve(server: MediaServer, clip: bytes) -> None:
    for ytid in SERVED + [OTHER, BUSY]:
        server.files[ytid] = clip
    server.fail[BUSY] = 500  # GONE is not served: 404


def _expected(ids: dict, causes: dict) -> dict:
    """(mid, cause) -> count of the released entries of ``ids`` with that cause."""
    out = {}
    for vid, labels in ids.items():
        if vid in causes:
            for mid in labels.split(","):
                out[mid, causes[vid]] = out.get((mid, causes[vid]), 0) + 1
    return out


def _check_report(out: Path, name: str, ids: dict, causes: dict) -> None:
    """The list keeps exactly the ids without a cause; each missing id has its cause in the
    build summary, the per-id CSV, the per-class CSV columns and summary.json."""
    local = read_list(out / "lists" / f"{name}.json", cache=False)
    assert local.video_id == [v for v in ids if v not in causes]
    build = json.loads((out / "report" / f"{name}_build.json").read_text())
    counts = build["accounting"]["missing"]
    assert counts == {c: list(causes.values()).count(c) for c in CAUSES}
    assert sum(counts.values()) == build["missing"] == len(ids) - len(local)
    with open(out / "report" / f"{name}_missing.csv", newline="") as fh:
        assert {r["video_id"]: r["cause"] for r in csv.DictReader(fh)} == causes
    want = _expected(ids, causes)
    with open(out / "report" / f"{name}_coverage.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            assert [int(row[c]) for c in CAUSES] == [want.get((row["mid"], c), 0)
                                                      for c in CAUSES], row
    summary = json.loads((out / "report" / "summary.json").read_text())
    item = next(i for i in summary["lists"] if i["list"] == name)
    assert item["accounting"]["missing"] == counts
    assert {(k["mid"], c): k[c] for k in item["accounting"]["by_class"] for c in CAUSES
            if k[c]} == want


def test_prepare_download_accounts_for_every_released_id(clip, tmp_path, capsys):
    released = _released(tmp_path / "released")
    segs = tmp_path / "segments"
    _segments(segs)
    out = tmp_path / "out"
    videos = out / "videos"
    videos.mkdir(parents=True)
    (videos / f"{BROKEN}.mp4").write_bytes(clip[:3000])  # a clip placed by hand, truncated
    with MediaServer() as server:
        _serve(server, clip)
        args = ["prepare", "audioset", "--out", str(out), "--lists", str(released),
                "--workers", "0", "--download", "--splits", "audioset_eval_cleaned",
                "--segments", *[str(p) for p in sorted(segs.iterdir())],
                "--url-template", server.template, "--download-workers", "2", *FAST]
        assert main(args) == 1  # BUSY is pending: a re-run could fetch it
        std = capsys.readouterr()
        assert "1 pending" in std.err and "run the same command again" in std.err
        assert {y for y, _ in server.requests} == {SERVED[0], SERVED[1], GONE, BUSY}
        assert sorted(os.listdir(videos)) == sorted(f"{v}.mp4" for v in SERVED + [BROKEN])
        state = read_download_log(out / "videos.download-log.jsonl")
        assert {v: r["status"] for v, r in state.items()} == {
            SERVED[0]: "downloaded", SERVED[1]: "downloaded", BROKEN: "downloaded",
            GONE: "unavailable", BUSY: "pending"}
        eval_causes = {GONE: "unavailable", BUSY: "pending", BROKEN: "failed_extraction"}
        twenty_k_causes = {OTHER: "never_attempted", GONE: "unavailable"}
        _check_report(out, "audioset_eval_cleaned", EVAL, eval_causes)
        _check_report(out, "audioset_20k_cleaned", TWENTY_K, twenty_k_causes)
        summary = json.loads((out / "report" / "summary.json").read_text())
        assert {k: summary["download"][k] for k in ("splits", "ids", "downloaded",
                                                    "already_there", "unavailable",
                                                    "pending", "exit_code")} == {
            "splits": ["audioset_eval_cleaned"], "ids": 5, "downloaded": 2,
            "already_there": 1, "unavailable": 1, "pending": 1, "exit_code": 1}
        text = (out / "report" / "summary.txt").read_text()
        assert text in std.out
        assert ("audioset_eval_cleaned: 2 of 5 released entries (40.0%), 3 missing\n"
                "    missing: 1 unavailable, 1 pending, 0 never attempted, "
                "1 failed extraction") in text
        assert "unavailable: 1 not found (HTTP 404)" in text
        assert "pending: 1 server error (HTTP 500)" in text

        # the server recovers: the same command fetches the pending clip, skips the rest
        del server.fail[BUSY]
        server.requests.clear()
        assert main(args) == 0
        assert {y for y, _ in server.requests} == {BUSY}
        del eval_causes[BUSY]
        _check_report(out, "audioset_eval_cleaned", EVAL, eval_causes)
        _check_report(out, "audioset_20k_cleaned", TWENTY_K, twenty_k_causes)


def test_prepare_download_arguments(tmp_path, capsys):
    released = _released(tmp_path / "released")
    out = tmp_path / "out"
    base = ["prepare", "audioset", "--out", str(out), "--lists", str(released)]
    assert main(base) == 2
    assert "--videos DIR is needed" in capsys.readouterr().err
    assert main(base + ["--videos", str(tmp_path), "--splits", "audioset_eval_cleaned"]) == 2
    assert "needs --download" in capsys.readouterr().err
    assert main(base + ["--download", "--splits", "audioset_2m_cleaned", "--segments",
                        str(tmp_path / "none.csv")]) == 2
    assert "split 'audioset_2m_cleaned'" in capsys.readouterr().err
    assert main(base + ["--download", "--splits", "nonsense"]) == 2
    assert "no split of audioset" in capsys.readouterr().err
    assert main(base + ["--download", "--download-log", str(tmp_path / "none.jsonl")]) == 2
    assert "download log not found" in capsys.readouterr().err
    assert not (out / "lists").exists()


def test_make_prepare_audioset_download_fetches_the_segment_csvs(clip, tmp_path):
    """make prepare-audioset OUT=... DOWNLOAD=1 SPLITS=...: no videos, no segment CSVs; they
    are fetched (from a mirror on 127.0.0.1 here) into the cache."""
    released = _released(tmp_path / "released")
    mirror = tmp_path / "mirror"
    counts = _segments(mirror)
    manifests = tmp_path / "manifests"
    shutil.copytree(ROOT / "manifests", manifests)
    toml = manifests / "audioset.toml"
    text = toml.read_text()
    for name, n in counts.items():
        text = re.sub(rf'(file = "{re.escape(name)}"\n(?:[^\[\n]*\n)*?)segments = \d+',
                      rf"\g<1>segments = {n}", text)
    toml.write_text(text)
    out, cache = tmp_path / "out", tmp_path / "cache"
    with MediaServer() as server, serve_folder(mirror) as url:
        _serve(server, clip)
        env = dict(os.environ, AVPREP_FETCH_BASE_URL=url, no_proxy="127.0.0.1",
                   NO_PROXY="127.0.0.1", AVPREP_CACHE=str(cache),
                   AVPREP_MANIFESTS=str(manifests))
        run = subprocess.run(
            ["make", "--no-print-directory", "-C", str(ROOT), "-o", STAMP, "prepare-audioset",
             f"OUT={out}", f"LISTS={released}", "WORKERS=2", "DOWNLOAD=1",
             "SPLITS=audioset_20k_cleaned.json",  # the file's name does as well
             f"DOWNLOAD_ARGS=--url-template {server.template} " + " ".join(FAST)],
            capture_output=True, text=True, env=dict(env, AVPREP_PROGRESS="0"), timeout=300,
            cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in counts:
        assert (cache / "released" / "audioset-segments" / name).read_bytes() == \
            (mirror / name).read_bytes()
    assert sorted(os.listdir(out / "videos")) == [f"{SERVED[0]}.mp4", f"{OTHER}.mp4"]
    _check_report(out, "audioset_20k_cleaned", TWENTY_K, {GONE: "unavailable"})
    _check_report(out, "audioset_eval_cleaned", EVAL,
                  {SERVED[1]: "never_attempted", GONE: "unavailable",
                   BUSY: "never_attempted", BROKEN: "never_attempted"})
    assert "prepare-audioset: done" in run.stdout


def test_vggsound_download_in_python_then_own_logs_account(clip, tmp_path):
    """prepare_dataset(download=True) for VGGSound (ids carry their start: no segment CSVs),
    then a run on the same videos without download, accounting with the log given."""
    from avprep.prepare import prepare_dataset

    released = tmp_path / "released"
    released.mkdir()
    write_labels(released / "class_labels_indices_vgg.csv", LabelSet.from_pairs(CLASSES))
    ids = {"KlsG1EnBEjc_000000": "/m/dog", "NoSuchVideo_000004": "/m/music,/m/dog"}
    write_list(released / "vgg_test_cleaned.json", DataList.from_entries(
        [Entry(v, f"/x/{v}.flac", "/x/", labels) for v, labels in ids.items()]))
    out = tmp_path / "out"
    with MediaServer() as server:
        server.files["KlsG1EnBEjc"] = clip
        result = prepare_dataset(
            "vggsound", None, out, lists=released, workers=0, clip_timeout=None,
            download=True, download_options=dict(url_template=server.template, sleep=0.0,
                                                  max_per_hour=1e6, show_progress=False))
    assert result.exit_code == 0 and result.download.downloaded == 1
    causes = {"NoSuchVideo_000004": "unavailable"}
    assert dict(zip(result.accounts["vgg_test_cleaned"].ids,
                    result.accounts["vgg_test_cleaned"].causes)) == causes
    _check_report(out, "vgg_test_cleaned", ids, causes)

    again = prepare_dataset("vggsound", out / "videos", tmp_path / "again", lists=released,
                            workers=0, clip_timeout=None,
                            download_logs=[str(out / "videos.download-log*.jsonl")])
    assert again.download is None and again.exit_code == 0
    _check_report(tmp_path / "again", "vgg_test_cleaned", ids, causes)
