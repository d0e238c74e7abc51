"""``--contrast-groups``: the original's nn.DataParallel loss, each replica's losses over its own
part of the batch, summed (accuracy averaged) over the replicas."""

from __future__ import annotations


import pytest
import torch

from avprep.cli import main
from avprep.data import AudiosetDataset
from avprep.models import build
from avprep.models.cav_mae import combine_replicas
from helpers import LABEL_CSV
from helpers.media import fixture_entries, write_list
from helpers.train import TINY, make_clips, read_jsonl, torchrun as _torchrun

LOSSES = ["loss", "loss_mae", "loss_mae_a", "loss_mae_v", "loss_c"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Six fixture-derived samples: the three real clips, each augmented in two epochs."""
    path = write_list(tmp_path_factory.mktemp("groups") / "list.json", fixture_entries())
    ds = AudiosetDataset(str(path), {"mode": "train", "noise": True, "target_length": 256,
                                     "seed": 4}, str(LABEL_CSV))
    items = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        items += [ds[i] for i in range(len(ds))]
    return torch.stack([x[0] for x in items]), torch.stack([x[1] for x in items])


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("groups", [2, 3])
def test_groups_give_the_sum_of_the_per_group_losses(batch, groups):
    a, v = batch
    torch.manual_seed(0)
    model = build("cavmae", size="tiny", audio_length=256)
    kw = dict(mae_loss_weight=1.0, contrast_loss_weight=0.01)

    torch.manual_seed(7)
    grouped = model(a, v, 0.75, 0.75, groups=groups, **kw)
    grouped[0].backward()
    grad_grouped = _grads(model)
    model.zero_grad()

    torch.manual_seed(7)  # the same random stream: each group draws its masks in turn
    parts = [model(ca, cv, 0.75, 0.75, **kw) for ca, cv in zip(a.chunk(groups),
                                                                 v.chunk(groups))]
    assert len(parts) == groups
    for i, name in enumerate(LOSSES):
        torch.testing.assert_close(grouped[i], sum(p[i] for p in parts), msg=name)
    torch.testing.assert_close(grouped[7], torch.stack([p[7] for p in parts]).mean())
    assert torch.equal(grouped[5], torch.cat([p[5] for p in parts]))
    sum(p[0] for p in parts).backward()
    for name, g in _grads(model).items():
        torch.testing.assert_close(grad_grouped[name], g, msg=name)

    # the contrastive loss of groups is not the whole batch's: fewer candidates per clip
    torch.manual_seed(7)
    whole = model(a, v, 0.75, 0.75, **kw)
    assert abs(float(grouped[4].detach()) / groups - float(whole[4].detach())) > 1e-4
    assert combine_replicas([whole])[4] == whole[4]


def test_training_loop_uses_the_groups(tmp_path, capsys):
    lists = make_clips(tmp_path / "data")
    common = ["--data-train", str(lists["train"]), "--data-val", str(lists["val"]),
              "--label-csv", str(LABEL_CSV), *TINY, "--target_length", "256", "--n-epochs", "1"]
    # groups of one clip: each InfoNCE has one candidate, so its loss is 0 and its accuracy 1
    assert main(["train", "pretrain", *common, "--exp-dir", str(tmp_path / "g"),
                 "--contrast-groups", "3"]) == 0
    assert "groups of 1 clips: 3 per process" in capsys.readouterr().out
    (rec,) = read_jsonl(tmp_path / "g" / "metrics.jsonl")
    assert rec["train_loss_c"] == 0 and rec["val_loss_c"] == 0
    assert rec["train_c_acc"] == 1 and rec["val_c_acc"] == 1
    # the MAE losses are summed over the 3 groups: about 3 times the whole batch's
    assert main(["train", "pretrain", *common, "--exp-dir", str(tmp_path / "w")]) == 0
    (whole,) = read_jsonl(tmp_path / "w" / "metrics.jsonl")
    assert whole["train_loss_c"] > 0
    assert 2.5 < rec["train_loss_mae_a"] / whole["train_loss_mae_a"] < 3.5
    # a group count that does not divide the batch is refused before any work
    assert main(["train", "pretrain", *common, "--exp-dir", str(tmp_path / "x"),
                 "--contrast-groups", "2"]) == 2
    assert "--contrast-groups 2 must divide" in capsys.readouterr().err


def test_groups_sum_over_the_processes_of_torchrun(tmp_path):

    lists = make_clips(tmp_path / "data")
    common = ["train", "pretrain", "--data-train", str(lists["train"]), "--data-val",
              str(lists["val"]), "--label-csv", str(LABEL_CSV), "--model-size", "tiny", "-w", "0",
              "-b", "3", "--target_length", "256", "--n-epochs", "1", "--device", "cpu"]
    records = {}
    for name, extra in (("mean", []), ("sum", ["--contrast-groups", "1"])):
        proc = _torchrun([*common, "--exp-dir", str(tmp_path / name), *extra], tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        (records[name],) = read_jsonl(tmp_path / name / "metrics.jsonl")
    # one step per epoch, before any update: the same batches and masks on both runs; with
    # groups the loss is the sum over the two processes' replicas, without it their mean
    mean, total = records["mean"], records["sum"]
    for key in ("train_loss", "train_loss_mae_a", "train_loss_mae_v", "train_loss_c"):
        assert total[key] == pytest.approx(2 * mean[key], rel=1e-5), key
    assert total["train_c_acc"] == pytest.approx(mean["train_c_acc"])
