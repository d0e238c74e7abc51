"""``--released LIST``: how many of a released list's ids a score covers, and the ids scored
written beside the result (``avprep eval``; ``avprep retrieval`` is tested in test_retrieval).

Data: three clips from the real fixtures (``test_train.make_clips``); model: the tiny fine-tuning
model with seeded random weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from avprep.cli import main
from avprep.errors import InputError
from avprep.models import build, save_state_dict
from avprep.train.released import coverage, ids_path, read_ids
from helpers import LABEL_CSV
from helpers.train import make_clips


def test_coverage_of_a_json_list_and_of_an_ids_file(tmp_path):
    released = tmp_path / "released.json"
    released.write_text(json.dumps({"data": [
        {"video_id": v, "wav": "w", "video_path": "p", "labels": "/m/09x0r"}
        for v in ("a", "b", "c", "d")]}))
    cov = coverage(["b", "c", "x"], released)
    assert (cov["n_released"], cov["n_scored"], cov["n_scored_released"]) == (4, 3, 2)
    assert cov["percent"] == 50.0 and cov["n_scored_not_released"] == 1
    text = tmp_path / "released.txt"
    text.write_text("# ids\na\nb\n\nc\nd\nd\n")
    assert read_ids(text) == ["a", "b", "c", "d", "d"]
    assert coverage(["b", "c", "x"], text) == {**cov, "list": str(text)}
    assert ids_path(tmp_path / "eval.json") == tmp_path / "eval.scored_ids.txt"
    with pytest.raises(InputError):
        coverage(["a"], tmp_path / "absent.txt")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("released")
    lists = make_clips(root / "data")
    torch.manual_seed(0)
    save_state_dict(build("cavmae_ft", size="tiny", label_dim=527), root / "ft.pth")
    return {"root": root, "val": lists["val"], "model": root / "ft.pth",
            "ids": [e["video_id"] for e in json.loads(lists["val"].read_text())["data"]]}


def test_eval_reports_and_writes_the_released_ids_scored(setup, tmp_path, capsys):
    ids = setup["ids"]
    released = tmp_path / "released.txt"  # two of the three clips and three gone from YouTube
    released.write_text("\n".join([ids[0], ids[2], "AAAAAAAAAAA", "BBBBBBBBBBB",
                                   "CCCCCCCCCCC"]) + "\n")
    out = tmp_path / "eval.json"
    assert main(["eval", "--data-eval", str(setup["val"]), "--label-csv", str(LABEL_CSV),
                 "--model", str(setup["model"]), "--model-size", "tiny", "-w", "0",
                 "--device", "cpu", "--skip_frame_agg", "True", "--json", str(out),
                 "--released", str(released)]) == 0
    cov = json.loads(out.read_text())["released"]
    assert cov["n_released"] == 5 and cov["n_scored_released"] == 2
    assert cov["percent"] == pytest.approx(40.0) and cov["n_scored_not_released"] == 1
    assert Path(cov["ids_file"]) == tmp_path / "eval.scored_ids.txt"
    assert (tmp_path / "eval.scored_ids.txt").read_text().split() == ids
    assert "scored 2 of 5 released ids (40.0%)" in capsys.readouterr().err
