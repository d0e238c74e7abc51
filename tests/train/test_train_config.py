"""Training options: the original run scripts' names and defaults, boolean values, schedules."""

from __future__ import annotations

import argparse
import shlex

import pytest
import torch

from avprep.cli import build_parser, main
from avprep.errors import InputError
from avprep.train import loaders, optim
from avprep.train.config import (EvalConfig, FinetuneConfig, PretrainConfig, check, from_args,
                                 parse_bool)
from avprep.train.finetune import wa_range
from helpers.train import EGS_FT

# The argparse defaults of the original run_cavmae_pretrain.py / run_cavmae_ft.py (read from the
# published scripts), except save_model (None there: no per-epoch files; avprep saves them).
ORIGINAL_PRETRAIN = {
    "data_train": "", "data_val": "", "data_eval": None, "label_csv": "", "n_class": 527,
    "dataset": "audioset", "dataset_mean": None, "dataset_std": None, "target_length": None,
    "noise": None, "exp_dir": "", "lr": 0.001, "optim": "adam", "batch_size": 12,
    "num_workers": 32, "n_epochs": 1, "lr_patience": 2, "lr_adapt": None, "metrics": "mAP",
    "warmup": True, "lrscheduler_start": 10, "lrscheduler_step": 5, "lrscheduler_decay": 0.5,
    "n_print_steps": 100, "mixup": 0.0, "bal": None, "cont_model": None, "weight_file": None,
    "norm_pix_loss": None, "pretrain_path": "None", "contrast_loss_weight": 0.01,
    "mae_loss_weight": 3.0, "tr_pos": None, "masking_ratio": 0.75, "mask_mode": "unstructured",
}
ORIGINAL_FINETUNE = {
    "data_train": "", "data_val": "", "data_eval": None, "label_csv": "", "n_class": 527,
    "dataset": "audioset", "dataset_mean": None, "dataset_std": None, "target_length": None,
    "noise": None, "exp_dir": "", "lr": 0.001, "optim": "adam", "batch_size": 48,
    "num_workers": 32, "n_epochs": 10, "lr_patience": 1, "lr_adapt": None, "metrics": "mAP",
    "loss": "BCE", "warmup": True, "lrscheduler_start": 2, "lrscheduler_step": 1,
    "lrscheduler_decay": 0.5, "freqm": 0, "timem": 0, "wa": None, "wa_start": 1, "wa_end": 10,
    "n_print_steps": 100, "mixup": 0.0, "bal": None, "label_smooth": 0.1, "weight_file": None,
    "pretrain_path": "None", "ftmode": "multimodal", "head_lr": 50.0, "freeze_base": None,
    "skip_frame_agg": None,
}



def _parse(line: str) -> argparse.Namespace:
    return build_parser().parse_args(shlex.split(line))


def test_pretrain_defaults_are_the_original_argparse_defaults():
    cfg = from_args(_parse("train pretrain"), PretrainConfig)
    for name, value in ORIGINAL_PRETRAIN.items():
        assert getattr(cfg, name) == value, name
    assert cfg.save_model is True and cfg.model is None and cfg.model_size == "base"
    assert (cfg.mean, cfg.std, cfg.audio_length) == (-5.081, 4.4849, 1024)
    assert not cfg.balanced and cfg.init_path is None


def test_finetune_defaults_are_the_original_argparse_defaults():
    cfg = from_args(_parse("train finetune"), FinetuneConfig)
    for name, value in ORIGINAL_FINETUNE.items():
        assert getattr(cfg, name) == value, name
    assert not cfg.wa and not cfg.balanced


def test_help_lists_every_original_option_with_its_default(capsys):
    for command, table in (("pretrain", ORIGINAL_PRETRAIN), ("finetune", ORIGINAL_FINETUNE)):
        with pytest.raises(SystemExit) as exc:
            main(["train", command, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        flat = " ".join(text.split())
        assert "example:" in text and f"avprep train {command}" in text
        for name in table:
            flag = {"data_train": "--data-train", "data_val": "--data-val",
                    "data_eval": "--data-eval", "label_csv": "--label-csv",
                    "exp_dir": "--exp-dir", "batch_size": "--batch-size",
                    "num_workers": "--num-workers", "n_epochs": "--n-epochs",
                    "n_print_steps": "--n-print-steps"}.get(name, "--" + name)
            assert flag in text, (command, flag)
        for default in ("(default: 0.001)", "(default: 0.5)", "(default: 527)"):
            assert default in flat
    assert "--masking_ratio MASKING_RATIO masking ratio of both modalities (default: 0.75)" in \
        " ".join(_help("pretrain").split())
    assert "(default: 50.0)" in " ".join(_help("finetune").split())


def _help(command: str) -> str:
    parser = build_parser()
    sub = [a for a in parser._subparsers._group_actions][0].choices["train"]  # noqa: SLF001
    return sub._subparsers._group_actions[0].choices[command].format_help()  # noqa: SLF001


def test_egs_command_line_parses_with_published_values():
    cfg = from_args(_parse(EGS_FT), FinetuneConfig)
    check(cfg)
    assert cfg.model == "cav-mae-ft" and cfg.lr == 1e-5 and cfg.head_lr == 100.0
    assert cfg.noise is True and cfg.wa is True and cfg.lr_adapt is False
    assert cfg.freeze_base is False and cfg.balanced and (cfg.wa_start, cfg.wa_end) == (3, 10)
    assert cfg.init_path == "cav-mae-scale++.pth" and cfg.mixup == 0.5


@pytest.mark.parametrize("text,value", [("True", True), ("False", False), ("true", True),
                                        ("0", False), ("None", None)])
def test_boolean_values(text, value):
    assert parse_bool(text) is value
    cfg = from_args(_parse(f"train finetune --wa {text} --save_model {text}"), FinetuneConfig)
    assert cfg.wa is value


def test_bad_values_exit_2(capsys):
    assert _exit_code(["train", "finetune", "--wa", "maybe"]) == 2
    assert "expected True or False" in capsys.readouterr().err
    assert _exit_code(["train", "pretrain", "--model-size", "huge"]) == 2


def _exit_code(argv) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def test_resume_flag_forms():
    assert from_args(_parse("train pretrain --resume"), PretrainConfig).resume is True
    assert from_args(_parse("train pretrain --resume False"), PretrainConfig).resume is False
    assert from_args(_parse("train pretrain"), PretrainConfig).resume is False


def test_check_rejects_unusable_settings():
    base = dict(data_train="t.json", data_val="v.json", label_csv="l.csv", exp_dir="e")
    check(PretrainConfig(**base))
    with pytest.raises(InputError, match="--data-train"):
        check(PretrainConfig(**{**base, "data_train": ""}))
    with pytest.raises(InputError, match="not supported"):
        check(PretrainConfig(**base, model="ast"))
    with pytest.raises(InputError, match="--save_model True"):
        check(FinetuneConfig(**base, wa=True, save_model=False))
    with pytest.raises(InputError, match="--model is required"):
        check(EvalConfig(data_eval="e.json", label_csv="l.csv"))


def test_step_schedule_halves_from_start_every_step():
    def lrs(cfg, epochs):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
        sched = optim.make_scheduler(opt, cfg)
        out = []
        for _ in range(epochs):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            optim.step_scheduler(sched, 0.0)
        return out

    # fine-tuning default: epochs 1-2 at lr, then halved every epoch
    assert lrs(FinetuneConfig(lr=1.0), 5) == [1.0, 1.0, 0.5, 0.25, 0.125]
    # published pretraining: 25 epochs, halved every 5 epochs from epoch 10
    got = lrs(PretrainConfig(lr=1.0, lrscheduler_start=10, lrscheduler_step=5), 25)
    assert got[:10] == [1.0] * 10 and got[10:15] == [0.5] * 5 and got[15:20] == [0.25] * 5
    assert got[20:] == [0.125] * 5
    plateau = optim.make_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                                  FinetuneConfig(lr_adapt=True))
    assert isinstance(plateau, torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_weight_averaging_range_is_clamped_to_epochs_run():
    assert wa_range(FinetuneConfig(wa_start=1, wa_end=10), 2) == [1, 2]
    assert wa_range(FinetuneConfig(wa_start=3, wa_end=10), 10) == list(range(3, 11))
    assert wa_range(FinetuneConfig(wa_start=5, wa_end=10), 2) == [2]
    assert wa_range(FinetuneConfig(wa_start=2, wa_end=4), 6) == [2, 3, 4]


def test_weight_file_naming_rule(tmp_path):
    cfg = FinetuneConfig(data_train="/d/as_20k.json")
    assert str(loaders.weight_file_path(cfg)) == "/d/as_20k_weight.csv"
    cfg = FinetuneConfig(data_train="/d/as_20k.json", weight_file="wgt")
    assert str(loaders.weight_file_path(cfg)) == "/d/as_20k_wgt.csv"
    explicit = tmp_path / "w.csv"
    explicit.write_text("1.0\n")
    cfg = FinetuneConfig(data_train="/d/as_20k.json", weight_file=str(explicit))
    assert loaders.weight_file_path(cfg) == explicit


def test_eval_help_and_train_without_subcommand(capsys):
    assert _exit_code(["eval", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--data-eval", "--label-csv", "--n_class", "--model", "--model-size", "--ftmode",
                 "--json", "--skip_frame_agg", "example:"):
        assert flag in text
    assert main(["train"]) == 2
    assert "pretrain or finetune" in capsys.readouterr().err
