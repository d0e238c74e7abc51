"""Training progress in logs: a line every --n-print-steps steps when stderr is not a terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from avprep.train.steplog import StepLog
from helpers import LABEL_CSV, ROOT
from helpers.train import TINY, make_clips

LINE = re.compile(r"^epoch (\d+) step (\d+)/(\d+) \(total (\d+)\): loss [0-9.]+  "
                  r"loss_mae_a [0-9.]+  loss_mae_v [0-9.]+  loss_c [0-9.]+  c_acc [0-9.]+  "
                  r"mean_loss [0-9.]+  lr [0-9.e-]+  [0-9.]+ samples/s$")


def test_a_log_gets_a_line_every_n_steps(tmp_path):
    lists = make_clips(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if k != "AVPREP_PROGRESS"}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        # "-W ignore" where the published scripts' "python -W ignore <script>" leaves it
        [sys.executable, "-m", "avprep", "train", "pretrain", "-W", "ignore", "--model", "cav-mae",
         "--data-train", str(lists["train"]),
         "--data-val", str(lists["val"]), "--label-csv", str(LABEL_CSV), *TINY, "-b", "2",
         "--target_length", "256", "--n-epochs", "2", "--n-print-steps", "2", "--save_model",
         "False", "--exp-dir", str(tmp_path / "exp")],
        env=env, capture_output=True, text=True, timeout=600)  # stderr is a pipe: no bar
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [m.groups() for m in map(LINE.match, proc.stdout.splitlines()) if m]
    # 6 clips in batches of 2: 3 steps per epoch, 6 in all; a line at total steps 2, 4, 6
    assert lines == [("1", "2", "3", "2"), ("2", "1", "3", "4"), ("2", "3", "3", "6")]
    assert "it/s" not in proc.stderr and "batch/s" not in proc.stderr


def test_no_lines_where_the_bar_shows(monkeypatch, capsys):
    monkeypatch.setenv("AVPREP_PROGRESS", "1")  # as on a terminal
    log = StepLog(every=1, steps_per_epoch=4)
    assert not log.step(1, 1, 1, 8, {"loss": 1.0}, 1.0, 1e-4)
    monkeypatch.setenv("AVPREP_PROGRESS", "0")
    log = StepLog(every=2, steps_per_epoch=4, world_size=2)
    assert not log.step(1, 1, 1, 8, {"loss": 1.0}, 1.0, 1e-4)
    assert log.step(1, 2, 2, 8, {"loss": 0.5}, 0.75, 1e-4)
    assert not StepLog(every=1, steps_per_epoch=4, show=False).step(1, 1, 1, 8, {}, 1.0, 1e-4)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("epoch 1 step 2/4 (total 2): loss 0.5000  "
                                               "mean_loss 0.7500  lr 0.0001  ")
