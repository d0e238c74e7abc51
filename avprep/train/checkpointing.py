"""What a run writes to disk so it can be used and continued.

- ``models/audio_model.<epoch>.pth``: a bare state dict in the released ``module.`` layout (what
  the original writes and every released checkpoint is), loadable by the original code; written
  by :func:`avprep.models.save_state_dict`.
- ``models/best_audio_model.pth``: the best epoch's model. With ``--save_model True`` it is a
  hard link to that epoch's ``audio_model.<epoch>.pth`` (the same file under a second name: no
  extra space, and it stays whole when the epoch files are deleted); otherwise, or where the
  file system has no hard links, a file of its own (:func:`save_best`).
- ``resume.pth``: everything needed to continue exactly where the last completed epoch ended:
  model, optimizer, scheduler and grad-scaler states, the epoch, the best epoch so far, and the
  random states of Python, NumPy and torch (CPU and CUDA).

Every file is written atomically, so a run killed mid-write leaves the previous file intact, and
every file is read with ``torch.load(weights_only=True)`` (:func:`avprep.models.safe_load`): the
resume state holds only tensors and plain values (the NumPy random state is stored as a tensor),
so nothing in an experiment folder can run code when it is loaded.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Union

import numpy as np
import torch

from avprep import atomic
from avprep.atomic import atomic_path
from avprep.errors import InputError
from avprep.models import (CheckpointError, UnsafeCheckpointError, read_state_dict, safe_load,
                           save_state_dict)

PathLike = Union[str, "os.PathLike[str]"]
RESUME_FILE = "resume.pth"
BEST_FILE = "best_audio_model.pth"


def model_file(exp_dir: PathLike, epoch: Union[int, str]) -> Path:
    """``<exp_dir>/models/audio_model.<epoch>.pth``."""
    return Path(exp_dir) / "models" / f"audio_model.{epoch}.pth"


def best_file(exp_dir: PathLike) -> Path:
    """``<exp_dir>/models/best_audio_model.pth``."""
    return Path(exp_dir) / "models" / BEST_FILE


def save_state(path: PathLike, obj: Any) -> None:
    """``torch.save`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_best(model: torch.nn.Module, exp_dir: PathLike, epoch: int, epoch_file: bool) -> str:
    """Make ``models/best_audio_model.pth`` the model of ``epoch``; return ``'link'`` or
    ``'copy'``.

    With ``epoch_file`` (``models/audio_model.<epoch>.pth`` was just written) it becomes a hard
    link to that file; otherwise, or where hard links are refused, the model is written again.
    """
    if epoch_file and atomic.hard_link(model_file(exp_dir, epoch), best_file(exp_dir)):
        return "link"
    save_state_dict(model, best_file(exp_dir))
    return "copy"


def load_state(path: PathLike) -> Any:
    """Read a file written by :func:`save_state` onto the CPU, with ``weights_only=True``.

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


def restore(path: PathLike, kind: str, rank: int, model: torch.nn.Module,
            optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any) -> Dict[str, Any]:
    """Load the resume state in ``path`` into the training objects and this rank's RNGs.

    Returns the state, whose ``epoch``, ``global_step``, ``best_epoch`` and ``best`` say where the
    run stood. A state that does not fit the objects raises :class:`InputError`.
    """
    state = load_resume(path, kind)
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        rngs = state["rng"]
        set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        reason = " ".join(str(err).split())[:300]
        raise InputError(f"resume state does not fit this run ({type(err).__name__}: {reason})",
                         path) from None
    return state


def average_models(paths: List[PathLike]) -> Dict[str, torch.Tensor]:
    """The element-wise mean of the state dicts in ``paths`` (checkpoint weight averaging)."""
    if not paths:
        raise InputError("no checkpoints to average")
    total: Dict[str, torch.Tensor] = {}
    dtypes: Dict[str, torch.dtype] = {}
    for path in paths:
        state = read_state_dict(path)
        if total and set(state) != set(total):
            raise CheckpointError("its keys differ from those of the other epochs averaged",
                                  path)
        for key, value in state.items():
            dtypes.setdefault(key, value.dtype)
            value = value.double() if value.is_floating_point() else value
            if key not in total:
                total[key] = value.clone()
            elif value.is_floating_point():
                total[key] += value
    out = {}
    for key, value in total.items():
        out[key] = (value / len(paths)).to(dtypes[key]) if value.is_floating_point() else value
    return out


# ----------------------------------------------------------------------------- resume checks

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


# ----------------------------------------------------------------------------- disk use

#: bytes torch.save adds per tensor beyond its data (zip entry, alignment, pickle record),
#: measured on the tiny and base models' files (ViT-Base: 764.4 MB per model and 2.29 GB of
#: resume state, both estimated within 0.1%)
PER_TENSOR_BYTES = 330


def _tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() + PER_TENSOR_BYTES for t in tensors)


@dataclass
class DiskEstimate:
    """What a run keeps on disk: one epoch model, the resume state, how many epoch models."""

    model_bytes: int
    resume_bytes: int
    epoch_models: int
    best_linked: bool
    extra_models: int = 0

    @property
    def total_bytes(self) -> int:
        """Everything at the end of the run, plus a second resume state while it is replaced."""
        models = self.epoch_models + self.extra_models + (0 if self.best_linked else 1)
        return models * self.model_bytes + 2 * self.resume_bytes

    def summary(self, exp_dir: PathLike) -> str:
        """One line for the start of a run."""
        parts = [f"disk: up to about {_size(self.total_bytes)} in {os.fspath(exp_dir)}"]
        if self.epoch_models:
            parts.append(f"{self.epoch_models} epoch model(s) of {_size(self.model_bytes)} "
                         "(--save_model True)")
        parts.append("best_audio_model.pth a hard link to one of them" if self.best_linked
                     else f"best_audio_model.pth {_size(self.model_bytes)}")
        if self.extra_models:
            parts.append(f"audio_model_wa.pth {_size(self.model_bytes)}")
        parts.append(f"resume.pth {_size(self.resume_bytes)} (rewritten each epoch; twice that "
                     "while it is replaced)")
        return parts[0] + ": " + ", ".join(parts[1:])


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def disk_estimate(model: torch.nn.Module, n_epochs: int, save_model: bool,
                  averaged: bool = False) -> DiskEstimate:
    """How much ``n_epochs`` of training ``model`` will write, from its parameters and buffers:
    an epoch model is the state dict; the resume state adds Adam's two moments per trainable
    parameter (and the random and schedule states, a few kB)."""
    state = list(model.state_dict().values())
    trainable = [p for p in model.parameters() if p.requires_grad]
    model_bytes = _tensor_bytes(state)
    adam = 2 * _tensor_bytes(trainable) + _tensor_bytes(torch.zeros(()) for _ in trainable)
    resume = model_bytes + adam + 20_000
    return DiskEstimate(model_bytes, resume, n_epochs if save_model else 0,
                        best_linked=bool(save_model), extra_models=1 if averaged else 0)
