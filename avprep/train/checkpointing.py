"""The models a run writes, their averaging, and how much disk a run will use.

- ``models/audio_model.<epoch>.pth``: a bare state dict in the released ``module.`` layout (what
  the original writes and every released checkpoint is), loadable by the original code; written
  by :func:`avprep.models.save_state_dict`.
- ``models/best_audio_model.pth``: the best epoch's model. With ``--save_model True`` it is a
  hard link to that epoch's ``audio_model.<epoch>.pth`` (the same file under a second name: no
  extra space, and it stays whole when the epoch files are deleted); otherwise, or where the
  file system has no hard links, a file of its own (:func:`save_best`).
- ``resume.pth``: written and read by :mod:`avprep.train.resume`.

Every file is written atomically, so a run killed mid-write leaves the previous file intact, and
every file is read with ``torch.load(weights_only=True)`` (:func:`avprep.models.safe_load`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Union

import torch

from avprep import atomic
from avprep.atomic import atomic_path
from avprep.errors import InputError
from avprep.models import CheckpointError, read_state_dict, save_state_dict

PathLike = Union[str, "os.PathLike[str]"]
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
