"""What a run writes to disk so it can be used and continued.

- ``models/audio_model.<epoch>.pth``: a bare state dict in the released ``module.`` layout (what
  the original writes and every released checkpoint is), loadable by the original code; written
  by :func:`avprep.models.save_state_dict`.
- ``resume.pth``: everything needed to continue exactly where the last completed epoch ended:
  model, optimizer, scheduler and grad-scaler states, the epoch, the best epoch so far, and the
  random states of Python, NumPy and torch (CPU and CUDA).

Every file is written atomically, so a run killed mid-write leaves the previous file intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Dict, Mapping, Union

import numpy as np
import torch

from avprep.atomic import atomic_path
from avprep.errors import InputError

PathLike = Union[str, "os.PathLike[str]"]
RESUME_FILE = "resume.pth"


def model_file(exp_dir: PathLike, epoch: Union[int, str]) -> Path:
    """``<exp_dir>/models/audio_model.<epoch>.pth``."""
    return Path(exp_dir) / "models" / f"audio_model.{epoch}.pth"


def save_state(path: PathLike, obj: Any) -> None:
    """``torch.save`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_state(path: PathLike) -> Any:
    """Read a file written by :func:`save_state` onto the CPU."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except Exception as err:
        raise InputError(f"not a readable checkpoint ({type(err).__name__}: {err})", path) from None


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
    """The random states of Python, NumPy and torch (CPU and every CUDA device)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def restore(path: PathLike, kind: str, rank: int, model: torch.nn.Module,
            optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any) -> Dict[str, Any]:
    """Load the resume state in ``path`` into the training objects and this rank's RNGs.

    Returns the state, whose ``epoch``, ``global_step``, ``best_epoch`` and ``best`` say where the
    run stood.
    """
    state = load_resume(path, kind)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    rngs = state["rng"]
    set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
    return state


def average_models(paths: list) -> Dict[str, torch.Tensor]:
    """The element-wise mean of the state dicts in ``paths`` (checkpoint weight averaging)."""
    if not paths:
        raise InputError("no checkpoints to average")
    total: Dict[str, torch.Tensor] = {}
    dtypes: Dict[str, torch.dtype] = {}
    for path in paths:
        state = load_state(path)
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
