"""Distributed runs under torchrun: two CPU processes (gloo) on the tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from avprep.cli import main
from avprep.models import build, save_state_dict
from helpers import LABEL_CSV, ROOT
from helpers.train import make_clips, read_jsonl, torchrun as _torchrun

def test_two_process_eval_equals_one_process_and_pretraining_runs(tmp_path):
    lists = make_clips(tmp_path / "data")
    torch.manual_seed(0)
    model = build("cavmae_ft", size="tiny", label_dim=527, audio_length=256)
    ckpt = tmp_path / "ft.pth"
    save_state_dict(model, ckpt)
    # 3 clips over 2 processes: the sampler pads rank 1 with a repeat, which must be dropped
    args = ["eval", "--data-eval", str(lists["val"]), "--label-csv", str(LABEL_CSV),
            "--model", str(ckpt), "--model-size", "tiny", "-w", "0", "--target_length", "256",
            "--skip_frame_agg", "True", "-b", "1", "--device", "cpu"]
    one = tmp_path / "one.json"
    assert main([*args, "--json", str(one)]) == 0
    two = tmp_path / "two.json"
    proc = _torchrun([*args, "--json", str(two)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert b["n_samples"] == 3
    assert proc.stdout.count('"mAP"') == 1  # only rank 0 prints
    for key in ("mAP", "acc", "AUC"):
        assert abs(a[key] - b[key]) < 1e-6, key
    for fa, fb in zip(a["per_frame"], b["per_frame"]):
        assert abs(fa["mAP"] - fb["mAP"]) < 1e-6

    exp = tmp_path / "pre"
    proc = _torchrun(["train", "pretrain", "--data-train", str(lists["train"]), "--data-val",
                      str(lists["val"]), "--label-csv", str(LABEL_CSV), "--model-size", "tiny",
                      "-w", "0", "-b", "3", "--target_length", "256", "--n-epochs", "1",
                      "--exp-dir", str(exp)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 steps/epoch x 2 process(es)" in proc.stdout
    records = read_jsonl(exp / "metrics.jsonl")
    assert len(records) == 1 and records[0]["step"] == 1
    state = torch.load(exp / "models" / "audio_model.1.pth", weights_only=True)
    assert all(k.startswith("module.") and not k.startswith("module.module.") for k in state)
    resume = torch.load(exp / "resume.pth", weights_only=True)
    assert len(resume["rng"]) == 2  # one random state per process
