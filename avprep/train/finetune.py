"""CAV-MAE fine-tuning: a classification head on the pretrained encoder, then the final evaluation.

One function, :func:`finetune`, reads top to bottom as the run goes: set-up, initialization from
``pretrain_path`` (``init.json`` says which keys were loaded and which are new), or a resume; per
epoch a training pass, validation on the middle frame (mAP, AUC, d-prime, accuracy), the epoch's
files, the lr step and the resume state; at the end the final model (the average of epochs
``wa_start..wa_end`` with ``--wa True``, else the best epoch) is evaluated with predictions
averaged over the 10 frames.

Optimization as published: Adam (betas 0.95, 0.999, weight decay 5e-7) with the new head
(``mlp_head``) at ``lr * head_lr``; the lr is multiplied by ``lrscheduler_decay`` at the end of
epoch ``lrscheduler_start`` and every ``lrscheduler_step`` epochs after; BCE (or CE) loss.

Files in ``exp_dir``: ``args.json``, ``init.json``, ``models/audio_model.<epoch>.pth`` (released
layout), ``models/best_audio_model.pth``, ``models/audio_model_wa.pth`` (with ``--wa``),
``metrics.jsonl`` / ``metrics.csv``, ``result.csv`` (the original's columns), ``final_eval.json``,
``mul_frame_res.csv`` (the original's per-frame then averaged main metric) and ``resume.pth``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch

from avprep import atomic
from avprep.models import build, read_state_dict, strip_module, unwrap
from avprep.train import checkpointing as ckpt
from avprep.train import initialize, loaders, optim, outputs, resume
from avprep.train.config import FinetuneConfig
from avprep.train.evaluate import evaluate_model, predict
from avprep.train.metrics import classification_metrics
from avprep.train.runtime import Runtime, all_mean, autocast, barrier, describe_run, run, wrap
from avprep.train.steplog import StepLog

logger = logging.getLogger(__name__)

HEAD_PREFIX = "mlp_head"
RESULT_COLUMNS = ["acc", "mAP", "AUC", "lr"]
SHOWN = ["train_loss", "val_loss", "mAP", "acc", "AUC", "d_prime", "lr", "time_s"]


def wa_range(cfg: FinetuneConfig, last_epoch: int) -> List[int]:
    """Epochs whose weights are averaged: ``wa_start..wa_end`` clamped to ``1..last_epoch``."""
    end = min(cfg.wa_end, last_epoch)
    start = max(1, min(cfg.wa_start, end))
    return list(range(start, end + 1))


def finetune(cfg: FinetuneConfig) -> Dict[str, Any]:
    """Run the fine-tuning ``cfg`` describes; return the final evaluation's metrics."""
    return run(cfg, _finetune)


def _finetune(cfg: FinetuneConfig, runtime: Runtime) -> Dict[str, Any]:
    resume.check(cfg)  # the folder is created once every input has been read

    train_set = loaders.make_dataset(cfg.data_train, cfg.label_csv, loaders.audio_conf(
        cfg, "train", freqm=cfg.freqm, timem=cfg.timem, mixup=cfg.mixup, noise=bool(cfg.noise),
        label_smooth=cfg.label_smooth, seed=cfg.seed))
    val_set = loaders.make_dataset(cfg.data_val, cfg.label_csv, loaders.audio_conf(cfg, "eval"))
    loaders.check_classes(train_set, cfg.n_class, cfg.label_csv)
    train_loader = loaders.train_loader(train_set, cfg, runtime)
    val_loader = loaders.eval_loader(val_set, cfg.batch_size, cfg.num_workers, runtime)

    # model: the pretrained encoder plus a new head
    torch.manual_seed(cfg.seed)
    model = build("cavmae_ft", size=cfg.model_size, label_dim=cfg.n_class,
                  audio_length=cfg.audio_length)
    init = None
    if cfg.init_path and not cfg.resume:
        init = initialize.load_init(model, cfg.init_path, "finetune",
                              reinit_head=bool(cfg.ft_reinit_head),
                              allow_partial=bool(cfg.allow_partial))
    elif not cfg.init_path:
        logger.warning("fine-tuning a model that starts from random weights (no --pretrain_path)")
    model = model.to(runtime.device)  # before the optimizer, so resumed state lands there too
    head = [p for n, p in model.named_parameters() if n.startswith(HEAD_PREFIX)]
    base = [p for n, p in model.named_parameters() if not n.startswith(HEAD_PREFIX)]
    if cfg.freeze_base:
        for p in base:
            p.requires_grad = False
    optimizer = optim.adam([
        {"params": [p for p in base if p.requires_grad], "lr": cfg.lr},
        {"params": head, "lr": cfg.lr * cfg.head_lr}])
    scheduler = optim.make_scheduler(optimizer, cfg)
    scaler = optim.grad_scaler(runtime)
    loss_fn = torch.nn.BCEWithLogitsLoss() if cfg.loss == "BCE" else torch.nn.CrossEntropyLoss()
    main_metric = cfg.metrics
    exp = outputs.open_experiment(cfg, runtime, model, init)

    state = resume.TrainState("finetune", model, optimizer, scheduler, scaler, best=-math.inf)
    resume.resume_or_seed(cfg, runtime, state)
    start_epoch = state.epoch + 1
    model = wrap(model, runtime)
    log = outputs.MetricsLog(exp, keep_through=state.epoch, enabled=runtime.is_main)
    steps = StepLog(cfg.n_print_steps, len(train_loader), runtime.world_size, runtime.is_main)
    if runtime.is_main:
        print(describe_run(f"fine-tuning {cfg.model_size} CAV-MAE ({cfg.ftmode})", len(train_set),
                           len(train_loader), runtime, start_epoch, cfg.n_epochs))

    for epoch in range(start_epoch, cfg.n_epochs + 1):
        begin = time.time()
        loaders.set_sampler_epoch(train_loader, epoch)
        model.train()
        loss_sum, count = 0.0, 0
        bar = loaders.epoch_bar(train_loader, epoch, cfg.n_epochs, runtime)
        steps.reset()
        for i, (a, v, y) in enumerate(bar, 1):
            a = a.to(runtime.device, non_blocking=True)
            v = v.to(runtime.device, non_blocking=True)
            y = y.to(runtime.device, non_blocking=True)
            with autocast(runtime):
                loss = loss_fn(model(a, v, cfg.ftmode), y)
            value = optim.optimizer_step(loss, optimizer, scaler, epoch, state.global_step,
                                         cfg.exp_dir)
            loss_sum += value * a.shape[0]
            count += a.shape[0]
            state.global_step += 1
            bar.set_postfix(loss=f"{loss_sum / count:.4f}")
            steps.step(epoch, i, state.global_step, a.shape[0], {"loss": value}, loss_sum / count,
                       optimizer.param_groups[0]["lr"])

        logits, target, val_loss = predict(model, val_loader, cfg.ftmode, runtime, loss_fn)
        m = classification_metrics(logits.numpy(), target.numpy())
        record: Dict[str, Any] = {
            "epoch": epoch, "train_loss": all_mean(loss_sum, count, runtime),
            "val_loss": val_loss, "mAP": m["mAP"], "AUC": m["AUC"], "d_prime": m["d_prime"],
            "acc": m["acc"], "lr": optimizer.param_groups[0]["lr"],
            "head_lr": optimizer.param_groups[1]["lr"], "step": state.global_step,
            "time_s": round(time.time() - begin, 3)}

        score = record[main_metric]
        state.epoch = epoch
        if score > state.best or state.best_epoch == 0:
            state.best, state.best_epoch = score, epoch
        optim.step_scheduler(scheduler, score)
        outputs.save_epoch(cfg, runtime, state, log, record, columns=RESULT_COLUMNS, shown=SHOWN)

    return _final_evaluation(model, cfg, runtime, exp, state.best_epoch)


def _final_evaluation(model: torch.nn.Module, cfg: FinetuneConfig, runtime: Runtime,
                      exp: Path, best_epoch: int) -> Dict[str, Any]:
    """Load the final weights (averaged or best), score ``--data-eval`` (default ``--data-val``)
    over the frames and write ``final_eval.json`` and ``mul_frame_res.csv``."""
    barrier(runtime)
    if cfg.wa:
        epochs = wa_range(cfg, cfg.n_epochs)
        state = ckpt.average_models([ckpt.model_file(exp, e) for e in epochs])
        source = {"weights": "average", "epochs": epochs}
        if runtime.is_main:
            ckpt.save_state(exp / "models" / "audio_model_wa.pth", state)
    else:
        state = read_state_dict(ckpt.best_file(exp))
        source = {"weights": "best", "epochs": [best_epoch]}
    unwrap(model).load_state_dict(strip_module(state), strict=True)
    data = cfg.data_eval or cfg.data_val
    result = evaluate_model(model, data, cfg.label_csv, cfg, cfg.ftmode, cfg.skip_frame_agg,
                            runtime)
    result.update(source)
    if runtime.is_main:
        outputs.write_json(exp / "final_eval.json", result)
        main = [f[cfg.metrics] for f in result["per_frame"]] + [result[cfg.metrics]]
        with atomic.atomic_path(exp / "mul_frame_res.csv") as tmp:
            np.savetxt(tmp, main, delimiter=",")
        print(f"final ({source['weights']} of epochs {source['epochs']}, "
              f"{len(result['frames'])} frame(s)): " + outputs.format_record(
                  result, ["mAP", "acc", "AUC", "d_prime"]), flush=True)
    return result
