"""``avprep validate``, ``weights``, ``coverage``: every problem kind, report shape, exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avprep.cli import main
from avprep.lists import (DataList, read_labels, read_list, read_weights, write_list,
                          write_weights)
from avprep.lists.coverage import class_summary, coverage, missing_ids, write_coverage
from avprep.lists.validate import validate
from avprep.synth.lists import synthetic_list
from helpers import REF, ROOT, SAMPLES

SAMPLE_LIST = SAMPLES / "sample_json_as.json"
LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
REF_WEIGHTS = REF / "sample_json_as_weight.csv"


@pytest.fixture(scope="module")
def labels():
    return read_labels(LABEL_CSV)


def _entry(vid, labels="/m/09x0r", wav=None, video_path="/frames/"):
    return {"video_id": vid, "wav": wav if wav is not None else f"/audio/{vid}.wav",
            "video_path": video_path, "labels": labels}


def _run(*argv):
    """``avprep ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exit_:
            rc = exit_.code
    return subprocess.CompletedProcess(argv, rc, out.getvalue(), err.getvalue())


def _run_process(*argv):
    """``python -m avprep ARGV`` in a child process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "avprep", *map(str, argv)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


# the Python API ----------------------------------------------------------------------------

def test_released_sample_is_clean(labels):
    report = validate(read_list(SAMPLE_LIST, cache=False), labels,
                      weights=read_weights(REF_WEIGHTS))
    assert report.ok and report.to_json()["problems"] == {}
    assert report.summary["entries"] == 1725 and report.summary["classes"] == 527
    assert report.summary["weights"]["lines"] == 1725


def test_every_list_problem_is_found(labels):
    entries = [
        _entry("--4gqARaEJE"),                          # 0 fine
        _entry("--4gqARaEJE"),                          # 1 duplicate_id
        _entry("KlsG1EnBEjc_000361"),                   # 2 fine (VGGSound form)
        _entry("../../etc/passwd"),                     # 3 unsafe_id
        _entry("abc_40.000"),                           # 4 malformed_id
        _entry("AAAAAAAAAAA", labels=""),               # 5 empty_labels
        _entry("BBBBBBBBBBB", labels="/m/09x0r,,/m/04rlf"),  # 6 malformed_labels
        _entry("CCCCCCCCCCC", labels="/m/09x0r,/m/nope"),     # 7 unknown_label
        _entry("DDDDDDDDDDD", labels="/m/09x0r, /m/04rlf"),   # 8 unknown_label (space)
        _entry("EEEEEEEEEEE", labels="/m/04rlf,/m/04rlf"),    # 9 duplicate_label
        _entry("FFFFFFFFFFF", labels="/m/04rlf,"),            # 10 malformed_labels
    ]
    report = validate(DataList.from_entries(entries), labels)
    p = report.to_json()["problems"]
    assert p["duplicate_id"] == {"count": 1, "examples": ["--4gqARaEJE"]}
    assert p["unsafe_id"]["count"] == 1 and p["unsafe_id"]["examples"] == ["../../etc/passwd"]
    assert p["malformed_id"] == {"count": 1, "examples": ["abc_40.000"]}
    assert p["empty_labels"] == {"count": 1, "examples": ["AAAAAAAAAAA"]}
    assert p["malformed_labels"] == {"count": 2, "examples": ["BBBBBBBBBBB", "FFFFFFFFFFF"]}
    assert p["unknown_label"]["count"] == 2
    assert p["unknown_label"]["examples"] == ["CCCCCCCCCCC", "DDDDDDDDDDD"]
    assert sorted(p["unknown_label"]["labels"]) == [" /m/04rlf", "/m/nope"]
    assert p["duplicate_label"] == {"count": 1, "examples": ["EEEEEEEEEEE"]}
    assert not report.ok
    assert report.summary["problem_count"] == sum(v["count"] for v in p.values())
    text = report.text("x.json")
    assert "duplicate_id: 1" in text and "unsafe_id: 1" in text


def test_examples_are_capped_and_counts_exact(labels):
    data = synthetic_list(200, labels, seed=5)
    doubled = data.select(list(range(200)) + list(range(150)))
    report = validate(doubled, labels)
    dup = report.problems["duplicate_id"]
    assert dup["count"] == 150 and len(dup["examples"]) == 10
    assert dup["examples"] == data.video_id[:10]


def test_weight_problems(labels):
    data = read_list(SAMPLE_LIST, cache=False)
    ref = read_weights(REF_WEIGHTS)
    short = validate(data, labels, weights=ref[:-5]).problems
    assert short["weights_length"]["count"] == 5
    assert "1725 entries" in short["weights_length"]["detail"]
    bad = ref.copy()
    bad[[3, 9]] = [np.nan, np.inf]
    bad[4] = -1.0
    p = validate(data, labels, weights=bad).problems
    assert p["nonfinite_weight"] == {"count": 2, "examples": [data[3].video_id,
                                                              data[9].video_id]}
    assert p["negative_weight"] == {"count": 1, "examples": [data[4].video_id]}
    assert "weights_length" not in p


def test_against_released(labels):
    released = read_list(SAMPLE_LIST, cache=False)
    keep = list(range(0, 1725, 3))
    local = released.select(keep)
    changed = local.labels
    changed[2] = "/m/09x0r"                                 # differs
    changed[5] = ",".join(reversed(changed[5].split(",")))  # same set: not a difference
    local = local.replace(labels=changed)
    local = DataList.from_entries(list(local) + [_entry("ZZZZZZZZZZZ")])
    report = validate(local, labels, released=released)
    p = report.problems
    assert p["not_in_released"] == {"count": 1, "examples": ["ZZZZZZZZZZZ"]}
    assert p["labels_differ"]["count"] == (0 if released[6].labels == "/m/09x0r" else 1)
    assert p["labels_differ"]["examples"] == [released[6].video_id]
    rel = report.summary["released"]
    assert rel["entries"] == 1725 and rel["local_in_released"] == len(keep)
    assert rel["missing_locally"] == 1725 - len(keep)


def test_check_files_on_real_media(tmp_path, labels):
    ids = sorted(p.stem for p in (REF / "audio").glob("*.wav"))
    frames = tmp_path / "frames"
    shutil.copytree(REF / "frames", frames)
    (frames / "frame_7" / f"{ids[1]}.jpg").unlink()
    entries = [_entry(v, wav=str(REF / "audio" / f"{v}.wav"), video_path=str(frames) + "/")
               for v in ids]
    entries.append(_entry("GGGGGGGGGGG", wav=str(tmp_path / "none.wav"),
                          video_path=str(frames)))
    report = validate(DataList.from_entries(entries), labels, files=True)
    p = report.problems
    assert p["missing_wav"] == {"count": 1, "examples": ["GGGGGGGGGGG"]}
    assert p["missing_frames"]["count"] == 2
    assert p["missing_frames"]["examples"] == [ids[1], "GGGGGGGGGGG"]
    assert p["missing_frames"]["frames"]["frame_7"] == 2
    assert p["missing_frames"]["frames"]["frame_0"] == 1
    assert report.summary["files"] == {"checked": 4, "complete": 2}


def test_check_files_relative_to_root(tmp_path, labels):
    ids = sorted(p.stem for p in (REF / "audio").glob("*.wav"))
    entries = [_entry(v, wav=f"audio/{v}.wav", video_path="frames") for v in ids]
    report = validate(DataList.from_entries(entries), labels, files=True, root=REF)
    assert "missing_wav" not in report.problems and "missing_frames" not in report.problems
    report = validate(DataList.from_entries(entries), labels, files=True, root=tmp_path)
    assert report.problems["missing_wav"]["count"] == 3


def test_coverage_counts_plot_and_missing(tmp_path, labels):
    released = read_list(SAMPLE_LIST, cache=False)
    local = released.select(list(range(0, 1725, 2)))
    local = DataList.from_entries(list(local) + [_entry("ZZZZZZZZZZZ", "/m/09x0r")])
    table = coverage(local, released, labels)
    assert list(table.columns) == ["index", "mid", "display_name", "released", "local",
                                   "fraction", "missing"]
    assert len(table) == 527
    speech = table.loc[table["mid"] == "/m/09x0r"].iloc[0]
    assert speech["released"] == sum("/m/09x0r" in e.label_list() for e in released)
    assert speech["local"] == sum("/m/09x0r" in e.label_list() for e in local) - 1
    assert (table["local"] <= table["released"]).all()
    assert (table["missing"] == table["released"] - table["local"]).all()
    assert np.isnan(table.loc[table["released"] == 0, "fraction"]).all()
    assert missing_ids(local, released) == released.video_id[1::2]
    write_coverage(table, tmp_path / "c.csv", tmp_path / "c.png", "test")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import pandas as pd
    back = pd.read_csv(tmp_path / "c.csv")
    assert back.sort_values("index")["local"].tolist() == table["local"].tolist()
    # worst first: kept fraction rising, the most missing first among equals, NaN last
    keys = [(f if f == f else 2.0, -m) for f, m in zip(back["fraction"], back["missing"])]
    assert keys == sorted(keys) and back["fraction"].isna().sum() == (table["released"] == 0).sum()


def expected_worst(local, released, labels, n) -> list:
    """The ``n`` classes with the lowest kept fraction (then most missing, then lowest index)
    among those that lost an entry, counted entry by entry from the label lists."""
    kept_ids = set(local.video_id)
    rel, loc = {}, {}
    for e in released:
        for mid in set(e.label_list()):
            rel[mid] = rel.get(mid, 0) + 1
            loc[mid] = loc.get(mid, 0) + (e.video_id in kept_ids)
    lost = [(loc[m] / rel[m], -(rel[m] - loc[m]), labels.index[m], m) for m in rel
            if loc[m] < rel[m]]
    return [labels.names[labels.index[m]] for *_, m in sorted(lost)[:n]]


def test_coverage_names_the_worst_classes_in_line_csv_and_summary(tmp_path, labels, capsys):
    """527 AudioSet classes; five frequent ones lose 50-100% of their entries, the rest about 3%:
    the worst classes come first in the CSV and by name in the printed line."""
    released = synthetic_list(6000, labels, seed=11)
    counts = {}
    for e in released:
        for mid in e.label_list():
            counts[mid] = counts.get(mid, 0) + 1
    targets = dict(zip(sorted(counts, key=lambda m: (-counts[m], m))[:5],
                       [1.0, 0.9, 0.75, 0.6, 0.5]))
    rng = np.random.default_rng(0)
    keep = []
    for i, e in enumerate(released):
        drop = [targets[m] for m in e.label_list() if m in targets]
        if rng.random() >= (max(drop) if drop else 0.03):
            keep.append(i)
    local = released.select(keep)
    worst = expected_worst(local, released, labels, 5)
    lost_all = labels.names[labels.index[next(iter(targets))]]
    assert worst[0] == lost_all  # the class that lost every entry leads

    summary = class_summary(coverage(local, released, labels))
    assert [w["display_name"] for w in summary["worst"]] == worst
    assert summary["classes"] == len(counts) and summary["lost_all"] >= 1

    local_path, released_path = tmp_path / "local.json", tmp_path / "released.json"
    write_list(local_path, local)
    write_list(released_path, released)
    capsys.readouterr()
    assert main(["coverage", str(local_path), "--released", str(released_path), "--labels",
                 str(LABEL_CSV), "-o", str(tmp_path / "cov")]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "class labels" not in line
    named = line.split("worst: ", 1)[1]
    assert [named.index(name) for name in worst] == sorted(named.index(name) for name in worst)
    assert f"{lost_all} 0 of {counts[next(iter(targets))]} (0%)" in line
    import pandas as pd
    rows = pd.read_csv(tmp_path / "cov.csv")
    assert rows["display_name"].tolist()[:5] == worst
    assert rows["fraction"].iloc[0] == 0 and rows["missing"].iloc[0] == rows["released"].iloc[0]
    assert (tmp_path / "cov.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# the command line --------------------------------------------------------------------------

def test_cli_clean_list_exit_0(tmp_path):
    report = tmp_path / "r.json"
    res = _run("validate", SAMPLE_LIST, "--labels", LABEL_CSV, "--weights", REF_WEIGHTS,
               "--json", report)
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout
    got = json.loads(report.read_text())
    assert got["problems"] == {} and got["summary"]["entries"] == 1725


def test_cli_problems_exit_1_with_report(tmp_path, labels):
    src = tmp_path / "bad.json"
    write_list(src, [_entry("--4gqARaEJE"), _entry("--4gqARaEJE"), _entry("a/b"),
                     _entry("HHHHHHHHHHH", labels="/m/nope")])
    weights = tmp_path / "w.csv"
    write_weights(weights, np.ones(3))
    report = tmp_path / "r.json"
    released = tmp_path / "released.json"
    write_list(released, [_entry("--4gqARaEJE", labels="/m/04rlf")])
    rc = main(["validate", str(src), "--labels", str(LABEL_CSV), "--weights", str(weights),
               "--against", str(released), "--json", str(report), "--coverage",
               str(tmp_path / "cov")])
    assert rc == 1
    got = json.loads(report.read_text())
    assert set(got) == {"problems", "summary"}
    assert {k: v["count"] for k, v in got["problems"].items()} == {
        "duplicate_id": 1, "unsafe_id": 1, "unknown_label": 1, "weights_length": 1,
        "not_in_released": 2, "labels_differ": 2}
    assert all(isinstance(v["examples"], list) for v in got["problems"].values())
    assert (tmp_path / "cov.csv").is_file() and (tmp_path / "cov.png").is_file()


@pytest.mark.parametrize("case", ["missing_list", "bad_json", "wrong_columns", "bad_weights",
                                  "missing_labels", "no_labels_arg"])
def test_cli_unusable_input_exit_2_writes_nothing(tmp_path, case):
    good = tmp_path / "good.json"
    write_list(good, [_entry("--4gqARaEJE")])
    args = {"list": good, "labels": LABEL_CSV, "extra": []}
    if case == "missing_list":
        args["list"] = tmp_path / "none.json"
    elif case == "bad_json":
        args["list"] = tmp_path / "bad.json"
        args["list"].write_text('{"data": [{"video_id": "x",')
    elif case == "wrong_columns":
        args["labels"] = tmp_path / "l.csv"
        args["labels"].write_text("id,name\n0,x\n")
    elif case == "bad_weights":
        (tmp_path / "w.csv").write_text("1.0\nnot-a-number\n")
        args["extra"] = ["--weights", tmp_path / "w.csv"]
    elif case == "missing_labels":
        args["labels"] = tmp_path / "none.csv"
    report = tmp_path / "out" / "r.json"
    argv = ["validate", args["list"], *args["extra"], "--json", report]
    if case != "no_labels_arg":
        argv[2:2] = ["--labels", args["labels"]]
    res = _run(*argv)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert not report.exists() and not report.parent.exists()
    lines = res.stderr.strip().splitlines()
    if case != "no_labels_arg":
        assert len(lines) == 1 and "Traceback" not in res.stderr
        named = {"missing_list": args["list"], "bad_json": args["list"],
                 "wrong_columns": args["labels"], "bad_weights": tmp_path / "w.csv",
                 "missing_labels": args["labels"]}[case]
        assert str(named) in lines[0]


def test_cli_weights_reproduces_reference(tmp_path):
    out = tmp_path / "w.csv"
    res = _run("weights", SAMPLE_LIST, "--labels", LABEL_CSV, "-o", out)
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == REF_WEIGHTS.read_bytes()
    assert "1725 weights" in res.stdout


def test_cli_weights_unknown_label_exit_2(tmp_path):
    src = tmp_path / "l.json"
    write_list(src, [_entry("--4gqARaEJE"), _entry("HHHHHHHHHHH", labels="/m/nope")])
    out = tmp_path / "w.csv"
    assert main(["weights", str(src), "--labels", str(LABEL_CSV), "-o", str(out)]) == 2
    assert not out.exists()


def test_cli_weights_on_generated_list_filtered(tmp_path, labels):
    data = synthetic_list(3000, labels, seed=11)
    src = tmp_path / "l.json"
    write_list(src, data.select(range(0, 3000, 7)))
    out = tmp_path / "w.csv"
    assert main(["weights", str(src), "--labels", str(LABEL_CSV), "-o", str(out)]) == 0
    assert len(read_weights(out)) == len(range(0, 3000, 7))


def test_cli_coverage(tmp_path):
    local = tmp_path / "local.json"
    released = read_list(SAMPLE_LIST, cache=False)
    write_list(local, released.select(range(0, 1725, 4)))
    res = _run("coverage", local, "--released", SAMPLE_LIST, "--labels", LABEL_CSV,
               "-o", tmp_path / "cov", "--missing", tmp_path / "missing.txt")
    assert res.returncode == 0, res.stderr
    missing = (tmp_path / "missing.txt").read_text().split()
    assert len(missing) == 1725 - len(range(0, 1725, 4))
    assert (tmp_path / "cov.png").stat().st_size > 1000
    assert Path(tmp_path / "cov.csv").read_text().startswith(
        "index,mid,display_name,released,local,fraction")


def test_cli_as_a_process_one_line_error(tmp_path):
    res = _run_process("validate", tmp_path / "none.json", "--labels", LABEL_CSV,
                       "--json", tmp_path / "r.json")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"avprep validate: error: {tmp_path / 'none.json'}: list file not found"]
    assert not (tmp_path / "r.json").exists()


def test_help_has_examples():
    for command in ("validate", "weights", "coverage"):
        res = _run(command, "--help")
        assert res.returncode == 0 and "example:" in res.stdout and f"avprep {command}" \
            in res.stdout
