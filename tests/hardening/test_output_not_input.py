"""An output never overwrites an input: every command refuses with exit 2 before writing."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import pytest

from avprep.cli import main
from avprep.errors import InputError
from avprep.lists import read_list, write_list
from helpers import SAMPLES

SAMPLE_LIST = SAMPLES / "sample_json_as.json"
LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"


@pytest.fixture
def files(tmp_path):
    """Copies of a small list, its label CSV and weights, plus empty media folders."""
    lst = tmp_path / "list.json"
    write_list(lst, read_list(SAMPLE_LIST, cache=False).select(range(20)))
    labels = tmp_path / "class_labels_indices.csv"
    shutil.copy(LABEL_CSV, labels)
    weights = tmp_path / "list_weight.csv"
    assert main(["weights", str(lst), "--labels", str(labels), "-o", str(weights)]) == 0
    (tmp_path / "audio").mkdir()
    (tmp_path / "frames").mkdir()
    return {"dir": tmp_path, "list": lst, "labels": labels, "weights": weights}


def _run(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


def _cases(f):
    d, lst, labels, weights = f["dir"], f["list"], f["labels"], f["weights"]
    return [
        (["eval", "--data-eval", lst, "--label-csv", labels, "--n_class", 527,
          "--model", d / "m.pth", "--json", lst], lst, ("--json", "--data-eval")),
        (["eval", "--data-eval", lst, "--label-csv", labels, "--n_class", 527,
          "--model", d / "m.pth", "--json", labels], labels, ("--json", "--labels")),
        (["retrieval", "--model", d / "m.pth", "--data", lst, "--json", lst], lst,
         ("--json", "--data")),
        (["embed", "--model", d / "m.pth", "--data", lst, "--out", lst], lst, ("--out", "--data")),
        (["reconstruct", "--model", d / "m.pth", "--data", lst, "--out", lst], lst,
         ("--out", "--data")),
        (["weights", lst, "--labels", labels, "-o", lst], lst, ("-o", "LIST")),
        (["weights", lst, "--labels", labels, "-o", labels], labels, ("-o", "--labels")),
        (["validate", lst, "--labels", labels, "--json", lst], lst, ("--json", "LIST")),
        (["validate", lst, "--labels", labels, "--weights", weights, "--json", weights], weights,
         ("--json", "--weights")),
        (["build-list", "--released", lst, "--audio-dir", d / "audio", "--frame-dir",
          d / "frames", "-o", lst], lst, ("-o", "--released")),
        (["build-list", "--released", lst, "--labels", labels, "--weights", weights,
          "--audio-dir", d / "audio", "--frame-dir", d / "frames", "-o", d / "out.json",
          "--weights-out", weights], weights, ("--weights-out", "--weights")),
        # the label CSV found beside the released list counts as an input too
        (["build-list", "--released", lst, "--audio-dir", d / "audio", "--frame-dir",
          d / "frames", "-o", d / "out.json", "--weights-out", labels], labels,
         ("--weights-out", "--labels")),
        (["coverage", lst, "--released", lst, "--labels", labels, "-o", d / "cov",
          "--missing", labels], labels, ("--missing", "--labels")),
        (["coverage", lst, "--released", lst, "--labels", labels,
          "-o", d / "class_labels_indices", "--missing", d / "m.txt"], labels,
         ("-o", "--labels")),
        (["stats", lst, "--json", lst], lst, ("--json", "SOURCE")),
        (["pack", lst, "-o", lst], lst, ("-o", "LIST")),
        (["extract", lst, "--audio-dir", d / "audio", "--frame-dir", d / "frames",
          "--log", lst, "--workers", 0], lst, ("--log", "INPUT")),
        (["prepare-report", d, "--log", d / "summary.txt"], None, ("REPORT_DIR", "--log")),
        (["download", lst, "--dest", d / "clips", "--log", lst], lst, ("--log", "LIST")),
        (["train", "pretrain", "--data-train", lst, "--data-val", lst, "--label-csv", labels,
          "--exp-dir", d], lst, ("--exp-dir", "--data-train")),
    ]


def test_every_command_refuses_an_output_that_is_an_input(files):
    (files["dir"] / "summary.txt").write_text("an extraction log kept here\n")
    for argv, victim, options in _cases(files):
        victims = [p for p in (files["list"], files["labels"], files["weights"],
                               files["dir"] / "summary.txt")]
        before = {p: p.read_bytes() for p in victims}
        listing = sorted(os.listdir(files["dir"]))
        code, err = _run(argv)
        assert code == 2, (argv, code, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (argv, err)
        assert all(opt in lines[0] for opt in options), (argv, err)
        if victim is not None:
            assert str(victim) in lines[0], (argv, err)
        assert {p: p.read_bytes() for p in victims} == before, argv
        assert sorted(os.listdir(files["dir"])) == listing, (argv, "wrote something")


def test_a_link_to_an_input_is_the_input(files):
    link = files["dir"] / "link.json"
    os.symlink(files["list"], link)
    hard = files["dir"] / "hard.json"
    os.link(files["list"], hard)
    before = files["list"].read_bytes()
    for out in (link, hard):
        code, err = _run(["validate", files["list"], "--labels", files["labels"], "--json", out])
        assert code == 2 and "--json" in err, err
    assert files["list"].read_bytes() == before


def test_inputs_inside_an_owned_folder_and_outputs_that_collide(tmp_path):
    from avprep.outputs import check_outputs

    (tmp_path / "pack").mkdir()
    inside = tmp_path / "pack" / "list.json"
    inside.write_text('{"data": []}')
    with pytest.raises(InputError, match="inside the output folder"):
        check_outputs([("LIST", inside)], [], owned=[("-o", tmp_path / "pack")])
    with pytest.raises(InputError, match="are the same file"):
        check_outputs([], [("-o", tmp_path / "a.json"), ("--weights-out", tmp_path / "a.json")])
    # distinct, not yet existing outputs and a folder beside the input pass
    check_outputs([("LIST", inside)], [("-o", tmp_path / "b.json"), ("--json", tmp_path / "c")],
                  owned=[("-o", tmp_path / "pack2")])


def test_the_readme_eval_example_does_not_overwrite_its_list():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("avprep eval --data-eval")
    command = readme[start:readme.index("```", start)].replace("\\\n", " ").split()
    assert command[command.index("--json") + 1] != command[command.index("--data-eval") + 1]
