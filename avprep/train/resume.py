"""The resume state ``resume.pth``: its writing and reading side by side.

It holds everything needed to continue exactly where the last completed epoch ended: the
:class:`TrainState` (kind of run, epoch, steps taken, best epoch and score; model, optimizer,
scheduler and grad-scaler states) and the random states of Python, NumPy and torch (CPU and CUDA)
of every process. It is written atomically at the end of each epoch (:func:`save`) and read with
``torch.load(weights_only=True)`` (:func:`avprep.models.safe_load`): it holds only tensors and
plain values (the NumPy random state is stored as a tensor), so loading it runs no code from it.
A ``--resume`` is refused before anything is written when the folder has no resume state or an
option changed that the run cannot take (:func:`check`).
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

import numpy as np
import torch
import torch.distributed as dist

from avprep.errors import InputError
from avprep.models import UnsafeCheckpointError, safe_load, unwrap
from avprep.train import checkpointing as ckpt
from avprep.train.config import CommonConfig
from avprep.train.runtime import Runtime

PathLike = Union[str, "os.PathLike[str]"]
RESUME_FILE = "resume.pth"


@dataclass
class TrainState:
    """Where a run stands and the objects it trains: what the resume state holds.

    ``epoch`` is the last completed epoch (0 before the first), ``global_step`` the optimizer
    steps taken, ``best_epoch`` and ``best`` the best epoch so far (0 when none) and its score.
    ``model`` is the bare model (not the DistributedDataParallel wrapper).
    """

    kind: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: "torch.amp.GradScaler"
    best: float
    epoch: int = 0
    global_step: int = 0
    best_epoch: int = 0


def resume_file(cfg: CommonConfig) -> Path:
    """``<exp_dir>/resume.pth``."""
    return Path(cfg.exp_dir) / RESUME_FILE


# ----------------------------------------------------------------------------- writing

def rng_state() -> Dict[str, Any]:
    """The random states of Python, NumPy and torch (CPU and every CUDA device), as tensors and
    plain values only (what ``torch.load(weights_only=True)`` reads back)."""
    _name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def gather_rng(runtime: Runtime) -> List[Dict[str, Any]]:
    """The random states of every process, in rank order."""
    state = rng_state()
    if not runtime.distributed:
        return [state]
    states: List[Any] = [None] * runtime.world_size
    dist.all_gather_object(states, state)
    return states


def save(path: PathLike, state: TrainState, runtime: Runtime) -> None:
    """Write ``state`` and the random states of every process to ``path`` (by rank 0, atomically;
    every process takes part in gathering the random states)."""
    rng = gather_rng(runtime)
    if runtime.is_main:
        ckpt.save_state(path, {
            "kind": state.kind, "epoch": state.epoch, "global_step": state.global_step,
            "best_epoch": state.best_epoch, "best": state.best,
            "model": unwrap(state.model).state_dict(), "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(), "scaler": state.scaler.state_dict(),
            "rng": rng})


# ----------------------------------------------------------------------------- reading

def load_state(path: PathLike) -> Any:
    """Read a resume state onto the CPU, with ``weights_only=True``.

    A resume state of an earlier avprep, which stored NumPy objects, is refused with a line
    saying so and what to do instead.
    """
    try:
        return safe_load(path)
    except UnsafeCheckpointError as err:
        if Path(path).name == RESUME_FILE and err.wanted.startswith("numpy"):
            raise InputError(
                "resume state written by an earlier avprep version (it stores NumPy objects, "
                "which cannot be loaded without running code from the file): start the run "
                "again, or start a new one from one of its models/audio_model.<epoch>.pth "
                "with --pretrain_path", path) from None
        raise


def load_resume(path: PathLike, kind: str) -> Dict[str, Any]:
    """The resume state in ``path``, checked to come from a ``kind`` run ('pretrain'/'finetune')."""
    state = load_state(path)
    if not isinstance(state, dict) or "epoch" not in state or "model" not in state:
        raise InputError("not a resume state written by avprep train", path)
    if state.get("kind") != kind:
        raise InputError(f"resume state of a {state.get('kind')} run cannot continue a {kind} "
                         "run", path)
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load(path: PathLike, state: TrainState, rank: int) -> None:
    """Load the resume state in ``path`` into ``state`` (its position and training objects) and
    this rank's random generators.

    A state that does not fit the objects raises :class:`InputError`.
    """
    saved = load_resume(path, state.kind)
    try:
        state.model.load_state_dict(saved["model"])
        state.optimizer.load_state_dict(saved["optimizer"])
        state.scheduler.load_state_dict(saved["scheduler"])
        state.scaler.load_state_dict(saved["scaler"])
        rngs = saved["rng"]
        set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
        state.epoch, state.global_step = saved["epoch"], saved["global_step"]
        state.best_epoch, state.best = saved["best_epoch"], saved["best"]
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        reason = " ".join(str(err).split())[:300]
        raise InputError(f"resume state does not fit this run ({type(err).__name__}: {reason})",
                         path) from None


def resume_or_seed(cfg: CommonConfig, runtime: Runtime, state: TrainState) -> None:
    """Set where the run ``state`` describes starts.

    With ``--resume`` the resume state of the last completed epoch is loaded into ``state`` and
    this process's random generators. Otherwise ``state`` stays at epoch 0 with its ``best`` as
    the score to beat, and torch is seeded with ``--seed`` plus the rank, so that masking and
    augmentation differ between processes.
    """
    if not cfg.resume:
        torch.manual_seed(cfg.seed + runtime.rank)
        return
    load(resume_file(cfg), state, runtime.rank)


# ----------------------------------------------------------------------------- options

#: options a resumed run cannot change: the model's shape, the set of trained weights, or a
#: setting the resume state restores (the optimizer's learning rates, the schedule)
FIXED_ON_RESUME = ("model_size", "n_class", "target_length", "tr_pos", "freeze_base", "lr_adapt",
                   "lr", "head_lr", "lr_patience", "lrscheduler_start", "lrscheduler_step",
                   "lrscheduler_decay")

_EFFECTIVE = {"target_length": lambda v: 1024 if v is None else v,
              "tr_pos": bool, "freeze_base": bool, "lr_adapt": bool}


def _flag(name: str) -> str:
    from avprep.train.config import OPTIONS

    return OPTIONS[name].flags[0] if name in OPTIONS else f"--{name}"


def resume_conflicts(stored: Mapping[str, Any], new: Mapping[str, Any]) -> List[str]:
    """``--flag OLD -> NEW`` for every option of :data:`FIXED_ON_RESUME` that differs between
    the run's stored arguments and the new ones (options missing from either are not compared)."""
    out = []
    for name in FIXED_ON_RESUME:
        if name not in stored or name not in new:
            continue
        norm = _EFFECTIVE.get(name, lambda v: v)
        old, now = norm(stored[name]), norm(new[name])
        if old != now:
            out.append(f"{_flag(name)} {old} -> {now}")
    return out


def check_resume_options(args_file: PathLike, new: Mapping[str, Any]) -> None:
    """Raise :class:`InputError` naming each option the resumed run would change that it cannot
    (see :data:`FIXED_ON_RESUME`), by comparing the run's ``args.json`` with ``new``."""
    try:
        stored = json.loads(Path(args_file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return  # nothing recorded to compare with; the resume state's own shapes still are
    except (OSError, ValueError) as err:
        raise InputError(f"--resume: the run's recorded arguments do not read ({err})",
                         args_file) from None
    if not isinstance(stored, dict):
        raise InputError("--resume: the run's recorded arguments are not a JSON object",
                         args_file)
    conflicts = resume_conflicts(stored, new)
    if conflicts:
        raise InputError(f"--resume cannot change {'; '.join(conflicts)} (the run was started "
                         "with the first values; the resume state keeps the model, optimizer and "
                         "schedule): rerun with the recorded values, or start a new run from a "
                         "models/audio_model.<epoch>.pth with --pretrain_path", args_file)


def check(cfg: CommonConfig) -> None:
    """Refuse a ``--resume`` that cannot continue, before anything is read or written: no resume
    state in the folder, or an option changed that the run cannot take (named; see
    :func:`check_resume_options`)."""
    if not cfg.resume:
        return
    path = resume_file(cfg)
    if not path.is_file():
        raise InputError("--resume: no resume state in the experiment folder", path)
    check_resume_options(Path(cfg.exp_dir) / "args.json", cfg.to_dict())
