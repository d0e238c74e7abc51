"""Optimization as published: Adam, the per-epoch lr schedule, and the (AMP-scaled) step."""

from __future__ import annotations

import math
import os
from typing import Any, Dict, Sequence, Union

import torch

from avprep.errors import AvprepError
from avprep.train.config import CommonConfig
from avprep.train.runtime import Runtime

PathLike = Union[str, "os.PathLike[str]"]


class TrainingDiverged(AvprepError):
    """The training loss became NaN or infinite (exit 1)."""


def adam(groups: Sequence[Dict[str, Any]]) -> torch.optim.Optimizer:
    """Adam with the published settings: betas (0.95, 0.999), weight decay 5e-7."""
    return torch.optim.Adam(list(groups), weight_decay=5e-7, betas=(0.95, 0.999))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: CommonConfig):
    """The lr schedule, stepped once per epoch.

    Default: the lr is multiplied by ``--lrscheduler_decay`` at the end of epoch
    ``--lrscheduler_start`` and every ``--lrscheduler_step`` epochs after it (MultiStepLR). With
    ``--lr_adapt True``: halved when the validation metric stalls ``--lr_patience`` epochs.
    """
    if cfg.lr_adapt:
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=cfg.lr_patience)
    milestones = list(range(cfg.lrscheduler_start, 1000, cfg.lrscheduler_step))
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones,
                                                gamma=cfg.lrscheduler_decay)


def step_scheduler(scheduler: Any, metric: float) -> None:
    """Advance the schedule at the end of an epoch (``metric``: higher is better)."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
        scheduler.step()


def grad_scaler(runtime: Runtime) -> "torch.amp.GradScaler":
    """A loss scaler, active only with AMP."""
    return torch.amp.GradScaler("cuda", enabled=runtime.amp)


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scaler: "torch.amp.GradScaler", epoch: int, step: int,
                   exp_dir: PathLike) -> float:
    """Back-propagate ``loss`` (scaled under AMP) and step ``optimizer``; return the loss.

    Raises :class:`TrainingDiverged` when the loss is NaN or infinite.
    """
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingDiverged(f"training diverged: loss {value} at epoch {epoch}, step {step}",
                               exp_dir)
    return value
