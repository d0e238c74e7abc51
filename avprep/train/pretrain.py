"""CAV-MAE pretraining: masked reconstruction of both modalities plus audio-visual contrast.

One function, :func:`pretrain`, reads top to bottom as the run goes: set-up, an optional
initialization or resume, then per epoch a training pass, a validation pass (losses with a fixed
masking seed, and audio<->visual retrieval recalls), the epoch's files, the lr step and the resume
state. The loss is the original's ``mae_loss_weight * (mse_audio + mse_visual) +
contrast_loss_weight * InfoNCE``; Adam with betas (0.95, 0.999), weight decay 5e-7; the lr is
multiplied by ``lrscheduler_decay`` from epoch ``lrscheduler_start`` every ``lrscheduler_step``.
With ``contrast_groups`` G the losses are the original's DataParallel ones: computed per group of
the batch (G per process) and summed over the groups of all processes (see :func:`replica_scale`).

Files in ``exp_dir``: ``args.json``, ``models/audio_model.<epoch>.pth`` (released layout),
``models/best_audio_model.pth`` (lowest validation loss), ``metrics.jsonl`` / ``metrics.csv``,
``result.csv`` (the original's columns), ``final_eval.json``, ``init.json`` when initialized from
``pretrain_path``, and ``resume.pth``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Dict, List

import numpy as np
import torch

from avprep.models import build, unwrap
from avprep.train import initialize, loaders, optim, outputs, resume
from avprep.train.config import PretrainConfig
from avprep.train.metrics import retrieval_metrics
from avprep.train.runtime import (Runtime, all_mean, autocast, describe_run, fixed_rng, gather_rows,
                                  run, wrap)
from avprep.train.steplog import StepLog

logger = logging.getLogger(__name__)

LOSS_NAMES = ["loss", "loss_mae", "loss_mae_a", "loss_mae_v", "loss_c", "c_acc"]
STEP_NAMES = ["loss", "loss_mae_a", "loss_mae_v", "loss_c", "c_acc"]  # in the step lines
RESULT_COLUMNS = ["train_loss_mae_a", "train_loss_mae_v", "train_loss_c", "train_loss",
                  "val_loss_mae_a", "val_loss_mae_v", "val_loss_c", "val_loss", "val_c_acc", "lr"]
SHOWN = ["train_loss", "val_loss", "val_loss_c", "val_c_acc", "val_a2v_R@1", "val_v2a_R@1", "lr",
         "time_s"]


def model_kwargs(cfg: PretrainConfig) -> Dict[str, Any]:
    """Constructor arguments of the pretraining model that come from the options."""
    return {"audio_length": cfg.audio_length, "norm_pix_loss": bool(cfg.norm_pix_loss),
            "tr_pos": bool(cfg.tr_pos)}


def replica_scale(cfg: PretrainConfig, runtime: Runtime) -> int:
    """The factor that turns a process's losses into the original's sum over every replica.

    With ``--contrast-groups`` the losses are summed over all groups of all processes, as the
    original sums its DataParallel replicas: each process's group sum times the number of
    processes (DistributedDataParallel averages gradients over them). Without it, 1.
    """
    return runtime.world_size if cfg.contrast_groups else 1


def _forward(model: torch.nn.Module, a: torch.Tensor, v: torch.Tensor, cfg: PretrainConfig,
             scale: int = 1) -> List[torch.Tensor]:
    out = model(a, v, cfg.masking_ratio, cfg.masking_ratio, mae_loss_weight=cfg.mae_loss_weight,
                contrast_loss_weight=cfg.contrast_loss_weight, mask_mode=cfg.mask_mode,
                groups=cfg.contrast_groups)
    loss, loss_mae, loss_mae_a, loss_mae_v, loss_c, _mask_a, _mask_v, c_acc = out
    return [x * scale for x in (loss, loss_mae, loss_mae_a, loss_mae_v, loss_c)] + [c_acc]


@torch.no_grad()
def validate(model: torch.nn.Module, loader: torch.utils.data.DataLoader, cfg: PretrainConfig,
             runtime: Runtime, prefix: str = "val_") -> Dict[str, float]:
    """Mean losses over ``loader`` (masking drawn from a fixed seed) and retrieval recalls.

    Retrieval uses the unmasked ``forward_feat`` features, mean-pooled over tokens.
    """
    model.eval()
    bare = unwrap(model)
    scale = replica_scale(cfg, runtime)
    sums, count = np.zeros(len(LOSS_NAMES)), 0
    feats_a, feats_v = [], []
    with fixed_rng(cfg.seed, runtime):
        for a, v, _ in loader:
            a, v = a.to(runtime.device), v.to(runtime.device)
            with autocast(runtime):
                values = _forward(bare, a, v, cfg, scale)
                fa, fv = bare.forward_feat(a, v)
            sums += np.array([float(x) for x in values]) * a.shape[0]
            count += a.shape[0]
            feats_a.append(fa.float().mean(dim=1).cpu())
            feats_v.append(fv.float().mean(dim=1).cpu())
    n = len(loader.dataset)
    out = {prefix + name: all_mean(float(s), count, runtime)
           for name, s in zip(LOSS_NAMES, sums)}
    fa = gather_rows(torch.cat(feats_a), n, runtime)
    fv = gather_rows(torch.cat(feats_v), n, runtime)
    for key, value in retrieval_metrics(fa.numpy(), fv.numpy()).items():
        out[prefix + key] = value
    return out


def pretrain(cfg: PretrainConfig) -> Dict[str, Any]:
    """Run the pretraining ``cfg`` describes; return the final evaluation's metrics."""
    return run(cfg, _pretrain)


def _pretrain(cfg: PretrainConfig, runtime: Runtime) -> Dict[str, Any]:
    resume.check(cfg)  # the folder is created once every input has been read

    # data: the training set draws frames and augmentations from (seed, epoch, index)
    train_set = loaders.make_dataset(cfg.data_train, cfg.label_csv, loaders.audio_conf(
        cfg, "train", mixup=cfg.mixup, noise=bool(cfg.noise), seed=cfg.seed))
    val_set = loaders.make_dataset(cfg.data_val, cfg.label_csv, loaders.audio_conf(cfg, "eval"))
    train_loader = loaders.train_loader(train_set, cfg, runtime)
    val_loader = loaders.eval_loader(val_set, cfg.batch_size, cfg.num_workers, runtime)

    # model, optionally initialized from a checkpoint (e.g. an ImageNet MAE adapted to CAV-MAE)
    torch.manual_seed(cfg.seed)
    model = build("cavmae", size=cfg.model_size, **model_kwargs(cfg))
    init = initialize.load_init(model, cfg.init_path, "pretrain") \
        if cfg.init_path and not cfg.resume else None
    model = model.to(runtime.device)  # before the optimizer, so resumed state lands there too
    trainables = [p for p in model.parameters() if p.requires_grad]
    optimizer = optim.adam([{"params": trainables, "lr": cfg.lr}])
    scheduler = optim.make_scheduler(optimizer, cfg)
    scaler = optim.grad_scaler(runtime)
    exp = outputs.open_experiment(cfg, runtime, model, init)

    state = resume.TrainState("pretrain", model, optimizer, scheduler, scaler, best=math.inf)
    resume.resume_or_seed(cfg, runtime, state)
    start_epoch = state.epoch + 1
    model = wrap(model, runtime)
    log = outputs.MetricsLog(exp, keep_through=state.epoch, enabled=runtime.is_main)
    scale = replica_scale(cfg, runtime)
    steps = StepLog(cfg.n_print_steps, len(train_loader), runtime.world_size, runtime.is_main)
    if runtime.is_main:
        print(describe_run(f"pretraining {cfg.model_size} CAV-MAE", len(train_set),
                           len(train_loader), runtime, start_epoch, cfg.n_epochs))
        if cfg.contrast_groups:
            group = cfg.batch_size // cfg.contrast_groups
            print(f"contrastive loss over groups of {group} clips: {cfg.contrast_groups} per "
                  f"process x {runtime.world_size} process(es), losses summed over the "
                  f"{cfg.contrast_groups * runtime.world_size} groups", flush=True)

    for epoch in range(start_epoch, cfg.n_epochs + 1):
        begin = time.time()
        loaders.set_sampler_epoch(train_loader, epoch)
        model.train()
        sums, count = np.zeros(len(LOSS_NAMES)), 0
        bar = loaders.epoch_bar(train_loader, epoch, cfg.n_epochs, runtime)
        steps.reset()
        for i, (a, v, _) in enumerate(bar, 1):
            a = a.to(runtime.device, non_blocking=True)
            v = v.to(runtime.device, non_blocking=True)
            with autocast(runtime):
                values = _forward(model, a, v, cfg, scale)
            optim.optimizer_step(values[0], optimizer, scaler, epoch, state.global_step,
                                 cfg.exp_dir)
            step_values = [float(x.detach()) for x in values]
            sums += np.array(step_values) * a.shape[0]
            count += a.shape[0]
            state.global_step += 1
            bar.set_postfix(loss=f"{sums[0] / count:.4f}")
            shown = {n: x for n, x in zip(LOSS_NAMES, step_values) if n in STEP_NAMES}
            steps.step(epoch, i, state.global_step, a.shape[0], shown, sums[0] / count,
                       optimizer.param_groups[0]["lr"])

        record: Dict[str, Any] = {"epoch": epoch}
        for name, s in zip(LOSS_NAMES, sums):
            record["train_" + name] = all_mean(float(s), count, runtime)
        record.update(validate(model, val_loader, cfg, runtime))
        record["lr"] = optimizer.param_groups[0]["lr"]
        record["step"] = state.global_step
        record["time_s"] = round(time.time() - begin, 3)

        state.epoch = epoch
        if record["val_loss"] < state.best:
            state.best, state.best_epoch = record["val_loss"], epoch
        optim.step_scheduler(scheduler, -record["val_loss"])
        outputs.save_epoch(cfg, runtime, state, log, record, columns=RESULT_COLUMNS, shown=SHOWN)

    final = _final_evaluation(model, cfg, runtime, log.records)
    if runtime.is_main:
        outputs.write_json(exp / "final_eval.json", final)
    return final


def _final_evaluation(model: torch.nn.Module, cfg: PretrainConfig, runtime: Runtime,
                      records: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Losses and retrieval recalls of the final model on ``--data-eval`` (default: the last
    validation)."""
    if cfg.data_eval:
        data = loaders.make_dataset(cfg.data_eval, cfg.label_csv, loaders.audio_conf(cfg, "eval"))
        loader = loaders.eval_loader(data, cfg.batch_size, cfg.num_workers, runtime)
        metrics = validate(model, loader, cfg, runtime, prefix="")
        return {"data": cfg.data_eval, "epoch": cfg.n_epochs, "n_samples": len(data), **metrics}
    last = records[-1] if records else {}
    metrics = {k[len("val_"):]: v for k, v in last.items() if k.startswith("val_")}
    return {"data": cfg.data_val, "epoch": last.get("epoch"), **metrics}
