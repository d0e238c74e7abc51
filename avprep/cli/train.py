"""``avprep train pretrain``, ``avprep train finetune`` and ``avprep eval``.

The train commands take the original run scripts' options under the same names, so a published
``egs/`` script works by replacing only its python call with ``avprep train pretrain`` or
``avprep train finetune``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from avprep.cli import add_command
from avprep.warnfilter import add_warning_option, apply_warning_filters

PRETRAIN_EXAMPLE = """
avprep train pretrain --data-train train.json --data-val val.json \\
    --label-csv class_labels_indices.csv --exp-dir exp/pretrain \\
    --lr 5e-5 -b 12 -w 8 --n-epochs 25 --dataset_mean -5.081 --dataset_std 4.4849 \\
    --target_length 1024 --noise True --mae_loss_weight 1.0 --contrast_loss_weight 0.01 \\
    --masking_ratio 0.75 --lrscheduler_start 10 --lrscheduler_step 5 --norm_pix_loss True
"""

FINETUNE_EXAMPLE = """
avprep train finetune --data-train train.json --data-val eval.json \\
    --label-csv class_labels_indices.csv --n_class 527 --exp-dir exp/ft \\
    --pretrain_path cav-mae-scale++.pth --lr 1e-4 -b 48 --n-epochs 10 --ftmode multimodal \\
    --freqm 48 --timem 192 --mixup 0.5 --noise True --label_smooth 0.1 --head_lr 100 \\
    --lrscheduler_start 2 --lrscheduler_step 1 --wa True --wa_start 3 --wa_end 10
"""

EVAL_EXAMPLE = """
avprep eval --data-eval audioset_eval.json --labels class_labels_indices.csv \\
    --n_class 527 --model as-46.6.pth --json eval.json
"""


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``train`` (with ``pretrain`` and ``finetune``) and ``eval``."""
    from avprep.train.config import EvalConfig, FinetuneConfig, PretrainConfig, add_options

    train = add_command(
        subparsers, "train", "pretrain or fine-tune CAV-MAE",
        """
        Train CAV-MAE with the original run scripts' options (same names, same defaults).
        'pretrain' trains the masked autoencoder with the contrastive loss; 'finetune' trains a
        classifier from a pretrained checkpoint and evaluates it. Under torchrun each process
        takes one GPU (DistributedDataParallel); on a machine without CUDA it runs on the CPU.
        """,
        "avprep train pretrain --help\navprep train finetune --help", _no_subcommand)
    sub = train.add_subparsers(title="subcommands", metavar="<subcommand>")

    p = add_command(
        sub, "pretrain", "CAV-MAE pretraining (MAE + contrastive)",
        """
        Pretrain CAV-MAE. Writes to --exp-dir: models/audio_model.<epoch>.pth (released layout),
        models/best_audio_model.pth (a hard link to the best epoch's file), metrics.jsonl and
        metrics.csv (train and validation losses, retrieval R@1/5/10 both ways, per epoch),
        result.csv, final_eval.json, args.json and resume.pth (continue with --resume, which
        refuses options it cannot change, naming them). The first line printed is the disk use
        of the whole run. Defaults are the original script's argparse defaults; pass the
        published settings as in its egs/ scripts.

        Fixed as published: Adam with betas (0.95, 0.999) and weight decay 5e-7; contrastive
        temperature 0.05. Published settings (AudioSet, CAV-MAE scale++): --masking_ratio 0.75,
        --contrast_loss_weight 0.01, --mae_loss_weight 1.0, --norm_pix_loss True, --noise True,
        --lr 2e-4 at batch 256, 25 epochs, lr halved every 5 epochs from epoch 10
        (--lrscheduler_start 10 --lrscheduler_step 5 --lrscheduler_decay 0.5).

        The published scripts ran on 4 GPUs with nn.DataParallel: each GPU's InfoNCE saw a
        quarter of --batch-size and the 4 losses were summed. --contrast-groups G does the same
        on any devices (processes x G = 4, -b = the published batch / processes): one GPU
        '-b 120 --contrast-groups 4', torchrun on 4 GPUs '-b 30 --contrast-groups 1'. Start from
        the ImageNet MAE as they do with --pretrain_path in-initial.
        """, PRETRAIN_EXAMPLE, _train)
    add_options(p, PretrainConfig)
    add_warning_option(p)
    p.set_defaults(command="train pretrain")

    f = add_command(
        sub, "finetune", "CAV-MAE fine-tuning and final evaluation",
        """
        Fine-tune CAV-MAE from --pretrain_path (a fine-tuned checkpoint made for another class
        count needs --ft-reinit-head True). Writes to --exp-dir: init.json (keys loaded, new and
        re-initialized), models/audio_model.<epoch>.pth, models/best_audio_model.pth (a hard
        link to the best epoch's file), models/audio_model_wa.pth (--wa True), metrics.jsonl
        and metrics.csv (train loss,
        validation loss, mAP, AUC, d-prime, acc per epoch), final_eval.json (the final model on
        --data-eval or --data-val, averaged over the 10 frames), mul_frame_res.csv, result.csv,
        args.json and resume.pth (continue with --resume).

        Fixed as published: Adam with betas (0.95, 0.999) and weight decay 5e-7; the new head
        (mlp_head) learns at --lr x --head_lr. Published settings: --head_lr 10 to 100, lr
        halved every epoch from epoch 2 or 5 (--lrscheduler_start, --lrscheduler_step 1),
        --wa True over the later epochs, --mixup 0.5 --freqm 48 --timem 192 --noise True
        --label_smooth 0.1, balanced sampling (--bal bal) for AudioSet-2M and VGGSound; the final
        evaluation averages predictions over the 10 frames (--skip_frame_agg False).
        """, FINETUNE_EXAMPLE, _train)
    add_options(f, FinetuneConfig)
    add_warning_option(f)
    f.set_defaults(command="train finetune")

    e = add_command(
        subparsers, "eval", "evaluate a fine-tuned CAV-MAE checkpoint",
        """
        Evaluate a fine-tuned checkpoint (released or trained; a file or a model-zoo name) on a
        data list. Predictions are averaged over the 10 frames unless --skip_frame_agg True.
        Prints and writes (--json) mAP, acc, AUC and d_prime as top-level keys; mAP and AUC are
        averaged over the classes with at least one positive example.
        """, EVAL_EXAMPLE, _eval)
    add_options(e, EvalConfig, overrides={
        "model": "fine-tuned checkpoint: a file (either key layout) or a model-zoo name",
        "data_eval": "data list (JSON) or pack folder to evaluate on"})
    add_warning_option(e)


def _no_subcommand(args: argparse.Namespace) -> int:
    print("avprep train: choose a subcommand: pretrain or finetune (see avprep train --help)",
          file=sys.stderr)
    return 2


def _check_exp_dir(cfg) -> None:
    """No input of a training run lies inside its experiment folder (the run writes there)."""
    from avprep.outputs import check_outputs

    check_outputs([(option, getattr(cfg, name, None) or None) for option, name in (
        ("--data-train", "data_train"), ("--data-val", "data_val"), ("--data-eval", "data_eval"),
        ("--labels", "label_csv"), ("--pretrain_path", "pretrain_path"))], [],
        owned=[("--exp-dir", cfg.exp_dir or None)])


def _train(args: argparse.Namespace) -> int:
    """``train pretrain`` and ``train finetune``: their config from the options, then the loop."""
    from avprep.train.config import FinetuneConfig, PretrainConfig, from_args

    apply_warning_filters(args.warning_filters)
    if args.command == "train pretrain":
        from avprep.train.pretrain import pretrain as loop

        cfg = from_args(args, PretrainConfig)
    else:
        from avprep.train.finetune import finetune as loop

        cfg = from_args(args, FinetuneConfig)
    _check_exp_dir(cfg)
    loop(cfg)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from avprep.outputs import check_outputs, folder_files
    from avprep.train.config import EvalConfig, from_args
    from avprep.train.released import ids_path
    from avprep.train.evaluate import evaluate

    apply_warning_filters(args.warning_filters)
    cfg = from_args(args, EvalConfig)
    check_outputs([*folder_files("--data-eval", cfg.data_eval or None),
                   ("--labels", cfg.label_csv or None), ("--model", cfg.model or None),
                   *folder_files("--released", cfg.released)],
                  [("--json", cfg.json),
                   ("--json", ids_path(cfg.json) if cfg.json and cfg.released else None)])
    result = evaluate(cfg)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only the first process reports
        return 0
    from avprep.train.outputs import json_safe

    flat = {k: result[k] for k in ("mAP", "acc", "AUC", "d_prime")}
    print(json.dumps(json_safe(flat)))
    print(f"{result['n_samples']} clips, {result['n_classes_scored']} classes with a positive, "
          f"{len(result['frames'])} frame(s) averaged", file=sys.stderr)
    if "released" in result:
        from avprep.train.released import summary
        print(summary(result["released"]), file=sys.stderr)
    return 0
