"""End to end on the CPU with the tiny model: pretrain, fine-tune, evaluate, resume.

The clips are the original pipeline's extracted fixture media (``ref/audio``, ``ref/frames``) of
the three real clips, plus a variant of each under a new id (audio reversed in time, frames
mirrored), written in ``tmp_path`` with a released-format list pointing at them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image, ImageOps

from avprep.cli import main
from avprep.models import build
from helpers import REF, SAMPLES
from helpers.train import TINY, make_clips, read_jsonl

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 6-epoch tiny pretraining on 6 clips, a 2-epoch fine-tuning from it, an evaluation."""
    root = tmp_path_factory.mktemp("train")
    lists = make_clips(root / "data")
    common = ["--data-train", str(lists["train"]), "--data-val", str(lists["val"]),
              "--label-csv", str(LABEL_CSV), *TINY]
    pre = root / "pretrain"
    assert main(["train", "pretrain", *common, "--exp-dir", str(pre), "--n-epochs", "6",
                 "--lr", "1e-3", "--mae_loss_weight", "1.0", "--noise", "True"]) == 0
    ft = root / "finetune"
    assert main(["train", "finetune", *common, "--exp-dir", str(ft), "--n-epochs", "2",
                 "--lr", "1e-3", "--head_lr", "10", "--pretrain_path",
                 str(pre / "models" / "audio_model.6.pth"), "--wa", "True",
                 "--freqm", "8", "--timem", "20", "--mixup", "0.5"]) == 0
    out = root / "eval.json"
    assert main(["eval", "--data-eval", str(lists["val"]), "--label-csv", str(LABEL_CSV),
                 "--model", str(ft / "models" / "audio_model_wa.pth"), "--model-size", "tiny",
                 "-w", "0", "--device", "cpu", "--json", str(out)]) == 0
    return {"root": root, "lists": lists, "pre": pre, "ft": ft, "eval": out}


def _keys(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_pretraining_writes_released_layout_checkpoints_every_epoch(runs):
    pre = runs["pre"]
    for epoch in range(1, 7):
        state = _keys(pre / "models" / f"audio_model.{epoch}.pth")
        assert all(k.startswith("module.") for k in state)
        model = torch.nn.DataParallel(build("cavmae", size="tiny"))
        model.load_state_dict(state, strict=True)
    assert (pre / "models" / "best_audio_model.pth").is_file()
    assert (pre / "resume.pth").is_file() and (pre / "args.json").is_file()
    assert not list(pre.rglob("*.avprep-tmp-*"))


def test_pretraining_metrics_per_epoch_and_loss_falls(runs):
    pre = runs["pre"]
    records = read_jsonl(pre / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5, 6]
    for r in records:
        for key in ("train_loss", "train_loss_mae_a", "train_loss_mae_v", "train_loss_c",
                    "val_loss", "val_loss_mae_a", "val_loss_mae_v", "val_loss_c", "val_c_acc",
                    "val_a2v_R@1", "val_a2v_R@5", "val_a2v_R@10", "val_v2a_R@1",
                    "val_v2a_R@5", "val_v2a_R@10", "lr"):
            assert isinstance(r[key], float), key
        assert r["val_loss"] == pytest.approx(r["val_loss_mae"] + r["val_loss_c"], rel=1e-5)
        assert 0 <= r["val_a2v_R@1"] <= r["val_a2v_R@5"] <= r["val_a2v_R@10"] == 1.0
    # validation masks with a fixed seed, so its loss compares across epochs
    assert records[-1]["val_loss"] < records[0]["val_loss"]
    assert records[-1]["val_loss_mae_a"] < records[0]["val_loss_mae_a"]
    csv = (pre / "metrics.csv").read_text().splitlines()
    assert len(csv) == 7 and csv[0].startswith("epoch,train_loss")
    assert np.loadtxt(pre / "result.csv", delimiter=",").shape == (6, 10)
    final = json.loads((pre / "final_eval.json").read_text())
    assert final["loss"] == pytest.approx(records[-1]["val_loss"])


def test_finetuning_init_report_and_loss_falls(runs):
    ft = runs["ft"]
    init = json.loads((ft / "init.json").read_text())
    assert set(init) >= {"loaded", "new"}
    assert sorted(init["new"]) == sorted(["module.mlp_head.0.weight", "module.mlp_head.0.bias",
                                          "module.mlp_head.1.weight", "module.mlp_head.1.bias"])
    model = build("cavmae_ft", size="tiny", label_dim=527)
    assert len(init["loaded"]) + len(init["new"]) == len(model.state_dict())
    assert "module.blocks_a.0.attn.qkv.weight" in init["loaded"]
    assert any(k.startswith("module.decoder_") for k in init["ignored"])
    # the loaded weights are the pretrained ones: epoch 1 starts from them
    pre_state = _keys(runs["pre"] / "models" / "audio_model.6.pth")
    assert not torch.equal(pre_state["module.patch_embed_a.proj.weight"],
                           _keys(ft / "models" / "audio_model.1.pth")[
                               "module.patch_embed_a.proj.weight"])  # it has trained since
    records = read_jsonl(ft / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2]
    for r in records:
        for key in ("train_loss", "val_loss", "mAP", "AUC", "acc", "lr", "head_lr"):
            assert isinstance(r[key], float), key
        assert r["head_lr"] == pytest.approx(10 * r["lr"])
    assert records[1]["train_loss"] < records[0]["train_loss"]
    assert records[1]["val_loss"] < records[0]["val_loss"]


def test_finetuning_weight_average_and_final_evaluation(runs):
    ft = runs["ft"]
    one = _keys(ft / "models" / "audio_model.1.pth")
    two = _keys(ft / "models" / "audio_model.2.pth")
    wa = _keys(ft / "models" / "audio_model_wa.pth")
    assert set(wa) == set(one)
    for key in one:
        torch.testing.assert_close(wa[key], (one[key].double() + two[key].double()).div(2).float(),
                                   rtol=0, atol=1e-7)
    final = json.loads((ft / "final_eval.json").read_text())
    assert final["weights"] == "average" and final["epochs"] == [1, 2]
    assert final["frames"] == list(range(10)) and len(final["per_frame"]) == 10
    for key in ("mAP", "acc", "AUC"):
        assert 0 <= final[key] <= 1
    res = np.loadtxt(ft / "mul_frame_res.csv", delimiter=",")
    assert res.shape == (11,) and res[-1] == pytest.approx(final["mAP"])


def test_eval_command_matches_final_evaluation(runs, capsys):
    out = json.loads(runs["eval"].read_text())
    assert {"mAP", "acc", "AUC", "d_prime"} <= set(out)
    final = json.loads((runs["ft"] / "final_eval.json").read_text())
    for key in ("mAP", "acc", "AUC"):
        assert out[key] == pytest.approx(final[key], abs=1e-6)
    if out["d_prime"] is not None:
        from scipy.stats import norm
        assert out["d_prime"] == pytest.approx(norm.ppf(out["AUC"]) * np.sqrt(2), abs=1e-9)
    # a bare-layout copy of the checkpoint, the middle frame only, printed as one JSON line
    bare = {k[len("module."):]: v for k, v in _keys(runs["ft"] / "models" /
                                                       "audio_model_wa.pth").items()}
    path = runs["root"] / "bare.pth"
    torch.save(bare, path)
    capsys.readouterr()
    assert main(["eval", "--data-eval", str(runs["lists"]["train"]), "--label-csv",
                 str(LABEL_CSV), "--model", str(path), "--model-size", "tiny", "-w", "0",
                 "--device", "cpu",
                 "--skip_frame_agg", "True"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(printed) == {"mAP", "acc", "AUC", "d_prime"}
    assert 0 <= printed["mAP"] <= 1


def test_eval_rejects_a_checkpoint_that_does_not_fit(runs, capsys):
    code = main(["eval", "--data-eval", str(runs["lists"]["val"]), "--label-csv", str(LABEL_CSV),
                 "--model", str(runs["pre"] / "models" / "audio_model.6.pth"),
                 "--model-size", "tiny", "-w", "0", "--device", "cpu"])
    assert code == 2
    err = capsys.readouterr().err
    assert "audio_model.6.pth" in err and "missing" in err


def test_resume_continues_exactly(tmp_path):
    lists = make_clips(tmp_path / "data")
    args = ["train", "pretrain", "--data-train", str(lists["train"]), "--data-val",
            str(lists["val"]), "--label-csv", str(LABEL_CSV), *TINY, "--lr", "1e-3",
            "--noise", "True", "--target_length", "256", "--lrscheduler_start", "1",
            "--lrscheduler_step", "1", "--data-eval", str(lists["train"])]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main([*args, "--exp-dir", str(straight), "--n-epochs", "2"]) == 0
    assert main([*args, "--exp-dir", str(split), "--n-epochs", "1"]) == 0
    assert main([*args, "--exp-dir", str(split), "--n-epochs", "2", "--resume"]) == 0
    a = _keys(straight / "models" / "audio_model.2.pth")
    b = _keys(split / "models" / "audio_model.2.pth")
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ra = torch.load(straight / "resume.pth", weights_only=True)
    rb = torch.load(split / "resume.pth", weights_only=True)
    assert ra["optimizer"]["param_groups"][0]["lr"] == rb["optimizer"]["param_groups"][0]["lr"]
    assert ra["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.25e-3)
    for run in (straight, split):  # the final evaluation on --data-eval has its own file
        final = json.loads((run / "final_eval.json").read_text())
        assert final["data"] == str(lists["train"]) and final["n_samples"] == 6
        assert {"loss", "loss_c", "a2v_R@1", "v2a_R@10"} <= set(final)
    drop = ("time_s",)
    ma = [{k: v for k, v in r.items() if k not in drop}
          for r in read_jsonl(straight / "metrics.jsonl")]
    mb = [{k: v for k, v in r.items() if k not in drop}
          for r in read_jsonl(split / "metrics.jsonl")]
    assert ma == mb and len(ma) == 2
    # without --resume state there is nothing to continue
    assert main([*args, "--exp-dir", str(tmp_path / "none"), "--n-epochs", "2", "--resume"]) == 2


def test_save_model_false_and_input_errors(tmp_path, capsys):
    lists = make_clips(tmp_path / "data")
    base = ["--data-train", str(lists["train"]), "--data-val", str(lists["val"]),
            "--label-csv", str(LABEL_CSV), "--model-size", "tiny", "-w", "0",
            "--target_length", "256", "--device", "cpu"]
    exp = tmp_path / "nosave"
    assert main(["train", "finetune", *base, "-b", "6", "--exp-dir", str(exp), "--n-epochs", "1",
                 "--save_model", "False", "--skip_frame_agg", "True"]) == 0
    assert not list((exp / "models").glob("audio_model.*.pth"))
    assert (exp / "models" / "best_audio_model.pth").is_file() and (exp / "resume.pth").is_file()
    assert json.loads((exp / "final_eval.json").read_text())["frames"] == [5]
    capsys.readouterr()
    # a label CSV whose class count differs from --n_class
    assert main(["train", "finetune", *base, "-b", "3", "--n_class", "10",
                 "--exp-dir", str(tmp_path / "z")]) == 2
    assert "527 classes but --n_class is 10" in capsys.readouterr().err
    # a batch larger than the training list
    assert main(["train", "finetune", *base, "-b", "7", "--exp-dir", str(tmp_path / "x")]) == 2
    assert "fewer than one batch" in capsys.readouterr().err
    # a missing wav: the error names the file
    broken = json.loads(lists["train"].read_text())
    missing = broken["data"][1]["wav"] = str(tmp_path / "gone.wav")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken))
    code = main(["train", "pretrain", *base, "-b", "3", "--data-train", str(bad),
                 "--exp-dir", str(tmp_path / "y")])
    assert code != 0
    assert missing in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_amp_training_and_eval(tmp_path, capsys):
    lists = make_clips(tmp_path / "data")
    common = ["--data-train", str(lists["train"]), "--data-val", str(lists["val"]),
              "--label-csv", str(LABEL_CSV), "--model-size", "tiny", "-w", "2", "-b", "3"]
    pre, ft = tmp_path / "pre", tmp_path / "ft"
    pre_args = ["train", "pretrain", *common, "--exp-dir", str(pre), "--lr", "1e-3",
                "--mae_loss_weight", "1.0"]
    assert main([*pre_args, "--n-epochs", "2"]) == 0
    assert "amp" in capsys.readouterr().out  # the device line names cuda and amp
    assert main([*pre_args, "--n-epochs", "3", "--resume"]) == 0  # optimizer state on the GPU
    records = read_jsonl(pre / "metrics.jsonl")
    assert records[-1]["val_loss"] < records[0]["val_loss"]
    assert torch.load(pre / "resume.pth", weights_only=True)["scaler"]["scale"] > 0
    assert main(["train", "finetune", *common, "--exp-dir", str(ft), "--n-epochs", "2",
                 "--lr", "1e-3", "--pretrain_path", str(pre / "models" / "audio_model.3.pth"),
                 "--skip_frame_agg", "True"]) == 0
    ft_records = read_jsonl(ft / "metrics.jsonl")
    assert ft_records[1]["train_loss"] < ft_records[0]["train_loss"]
    # the same checkpoint scored on the GPU with AMP and on the CPU in float32
    model = ft / "models" / "best_audio_model.pth"
    outs = {}
    for device in ("cuda", "cpu"):
        out = tmp_path / f"{device}.json"
        assert main(["eval", "--data-eval", str(lists["train"]), "--label-csv", str(LABEL_CSV),
                     "--model", str(model), "--model-size", "tiny", "-w", "0",
                     "--device", device, "--json", str(out)]) == 0
        outs[device] = json.loads(out.read_text())
    assert abs(outs["cuda"]["mAP"] - outs["cpu"]["mAP"]) < 0.02
    assert abs(outs["cuda"]["AUC"] - outs["cpu"]["AUC"]) < 0.02


def test_balanced_sampling_follows_the_weight_file(tmp_path, capsys):
    from avprep.train import loaders
    from avprep.train.config import FinetuneConfig
    from avprep.train.runtime import setup_runtime

    lists = make_clips(tmp_path / "data")
    weights = tmp_path / "data" / "train_weight.csv"  # the original's naming: <list>_weight.csv
    np.savetxt(weights, [0, 0, 5, 0, 1, 0])
    cfg = FinetuneConfig(data_train=str(lists["train"]), bal="bal", batch_size=2, num_workers=0,
                         seed=3)
    dataset = loaders.make_dataset(cfg.data_train, LABEL_CSV, loaders.audio_conf(cfg, "eval"))
    train = loaders.train_loader(dataset, cfg, setup_runtime(device="cpu"))
    drawn = []
    for epoch in range(1, 41):
        loaders.set_sampler_epoch(train, epoch)
        drawn += list(train.sampler)
    assert set(drawn) == {2, 4} and len(drawn) == 240
    assert 0.75 < drawn.count(2) / len(drawn) < 0.92  # 5/6 expected
    loaders.set_sampler_epoch(train, 1)
    first = list(train.sampler)
    loaders.set_sampler_epoch(train, 1)
    assert list(train.sampler) == first  # the same draw for the same seed and epoch
    # one weight too many: an error naming the file, no training
    np.savetxt(weights, [1.0] * 7)
    code = main(["train", "finetune", "--data-train", str(lists["train"]), "--data-val",
                 str(lists["val"]), "--label-csv", str(LABEL_CSV), *TINY, "--bal", "bal",
                 "--exp-dir", str(tmp_path / "exp")])
    assert code == 2
    assert "train_weight.csv" in capsys.readouterr().err


def test_pretraining_init_from_a_partial_checkpoint(tmp_path):
    from avprep.train import initialize

    encoder = build("cavmae_ft", size="tiny", label_dim=5).state_dict()
    partial = {"module." + k: v for k, v in encoder.items() if not k.startswith("mlp_head")}
    path = tmp_path / "encoder.pth"
    torch.save(partial, path)
    model = build("cavmae", size="tiny")
    report = initialize.load_init(model, str(path), "pretrain")
    assert sorted(report["loaded"]) == sorted(partial)
    assert report["new"] and all(k.startswith("module.decoder_") or k == "module.mask_token"
                                 for k in report["new"])
    torch.testing.assert_close(model.state_dict()["blocks_a.0.attn.qkv.weight"],
                               encoder["blocks_a.0.attn.qkv.weight"], rtol=0, atol=0)
    # a fine-tuning model needs every encoder weight: a checkpoint without them fails loudly
    only_head = {k: v for k, v in encoder.items() if k.startswith("mlp_head")}
    torch.save(only_head, path)
    with pytest.raises(Exception, match="missing"):
        initialize.load_init(build("cavmae_ft", size="tiny", label_dim=5), str(path), "finetune")
