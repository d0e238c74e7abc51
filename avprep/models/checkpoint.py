"""Checkpoint files: read and write state dicts in the released layout, load them with a report.

Released CAV-MAE checkpoints are bare state dicts saved from a ``torch.nn.DataParallel`` wrapper,
so every key starts with ``module.``. Models here are plain modules; :func:`load_state` accepts
either layout, and :func:`save_state_dict` writes the released one.

Every checkpoint is read with :func:`safe_load` (``torch.load(weights_only=True)``): a file can
hold tensors and plain Python values (numbers, strings, lists, tuples, dicts), and nothing in it
can run code while it loads. A file that needs anything else is refused with one line naming
the object it asked for.
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from ..atomic import atomic_path
from ..errors import FormatError, InputError

PREFIX = "module."
StateDict = Dict[str, torch.Tensor]
PathLike = Union[str, "os.PathLike[str]"]

#: Containers that training scripts commonly wrap a state dict in.
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")


class CheckpointError(FormatError):
    """A checkpoint that does not fit the model: missing, unexpected or mis-shaped keys."""


@dataclass
class LoadReport:
    """What loading a checkpoint did: keys copied in, keys the checkpoint lacked (left at their
    initial values), and checkpoint keys the model has no use for (ignored)."""

    source: str
    loaded: List[str] = field(default_factory=list)
    new: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, List[str]]:
        """``{"loaded": [...], "new": [...], "unexpected": [...]}``."""
        return {"loaded": list(self.loaded), "new": list(self.new),
                "unexpected": list(self.unexpected)}

    def summary(self) -> str:
        """One line: how many keys were loaded, new and ignored."""
        return (f"{self.source}: loaded {len(self.loaded)} keys, new {len(self.new)}, "
                f"ignored {len(self.unexpected)}")


def strip_module(state: Mapping[str, torch.Tensor]) -> StateDict:
    """The state dict with a leading ``module.`` removed from every key that has one."""
    return {(k[len(PREFIX):] if k.startswith(PREFIX) else k): v for k, v in state.items()}


def add_module(state: Mapping[str, torch.Tensor]) -> StateDict:
    """The state dict in the released layout: ``module.`` in front of every key that lacks it."""
    return {(k if k.startswith(PREFIX) else PREFIX + k): v for k, v in state.items()}


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DataParallel``/``DistributedDataParallel`` wrapper (or ``model``)."""
    return model.module if isinstance(getattr(model, "module", None), nn.Module) else model


class UnsafeCheckpointError(CheckpointError):
    """A file that asks to create Python objects beyond tensors and plain values while it loads
    (what an untrusted checkpoint that runs code looks like): refused, nothing of it is run.

    ``wanted`` names the first object the file asked for ('' when torch did not say).
    """

    def __init__(self, message: str, path: Optional[PathLike] = None, entry: object = None,
                 wanted: str = ""):
        self.wanted = wanted
        super().__init__(message, path, entry)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""


def safe_load(path: PathLike) -> object:
    """``torch.load(path, weights_only=True)`` onto the CPU.

    Raises :class:`InputError` for a missing file, :class:`UnsafeCheckpointError` for a file
    that would need other objects than tensors and plain values (naming the first it asks for),
    :class:`CheckpointError` for any other file that does not load.
    """
    if not os.path.isfile(path):
        raise InputError("checkpoint file not found", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported operand" not in str(err):  # the safe unpickler refused to build it
            found = re.search(r"GLOBAL (\S+)|unrecognized function (\S+)|but got (\S+)",
                              str(err))
            wanted = next((g for g in found.groups() if g), "") if found else ""
            what = f" ({wanted})" if wanted else ""
            raise UnsafeCheckpointError(
                f"refused: the file asks to create a Python object{what} that is not a tensor "
                "or a plain value, and avprep never runs code from a checkpoint", path,
                wanted=wanted) from None
        operand = re.search(r"Unsupported operand \S+", str(err))
        raise CheckpointError("not a readable torch checkpoint (UnpicklingError: "
                              f"{operand.group(0) if operand else 'damaged'})", path) from None
    except Exception as err:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(f"not a readable torch checkpoint ({type(err).__name__}: "
                              f"{_first_line(err)})", path) from err


def check_finite(state: Mapping[str, torch.Tensor], source: PathLike) -> None:
    """Raise :class:`CheckpointError` when a floating-point tensor of ``state`` holds NaN or an
    infinity (a diverged run's weights), naming the first such key."""
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"{key} holds {bad} NaN or infinite values of "
                                  f"{value.numel()}: the weights are unusable", source)


def read_state_dict(path: PathLike) -> StateDict:
    """Read a checkpoint file as a ``{name: tensor}`` dict (keys as stored).

    A state dict nested under ``state_dict``, ``model`` or ``model_state_dict`` is taken from its
    container. Raises :class:`InputError` for a missing file, :class:`CheckpointError` for a file
    that is not a state dict (:func:`safe_load` reads it).
    """
    obj = safe_load(path)
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(
                    isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError("checkpoint holds no state dict", path)
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"not a state dict: entry {bad[0]!r} is not a named tensor", path)
    return dict(obj)


def save_state_dict(model: nn.Module, path: PathLike) -> None:
    """Write the model's state dict atomically in the released ``module.`` layout, as CPU
    tensors (so that it loads on a machine without the GPU it was trained on)."""
    state = add_module({k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()})
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _starts(key: str, prefixes: Iterable[str]) -> bool:
    return any(key.startswith(p) for p in prefixes)


def _listing(keys: List[str], limit: int = 6) -> str:
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def match_keys(model: nn.Module, state: Mapping[str, torch.Tensor],
               allow_new: Tuple[str, ...] = (), allow_unexpected: Tuple[str, ...] = (),
               source: str = "<state dict>") -> LoadReport:
    """Check ``state`` (either layout) against ``model`` without loading; return the report.

    Model keys missing from ``state`` are allowed only if they start with one of ``allow_new``;
    keys of ``state`` unknown to the model only if they start with one of ``allow_unexpected``.
    Any other difference, or a shape mismatch, raises :class:`CheckpointError` naming the keys.
    """
    own = unwrap(model).state_dict()
    theirs = strip_module(state)
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    bad_missing = [k for k in missing if not _starts(k, allow_new)]
    bad_unexpected = [k for k in unexpected if not _starts(k, allow_unexpected)]
    shapes = [f"{k} {tuple(theirs[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in theirs and theirs[k].shape != own[k].shape]
    problems = []
    if bad_missing:
        problems.append(f"missing {len(bad_missing)} keys: {_listing(bad_missing)}")
    if bad_unexpected:
        problems.append(f"unexpected {len(bad_unexpected)} keys: {_listing(bad_unexpected)}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches: {_listing(shapes, 3)}")
    if problems:
        raise CheckpointError("checkpoint does not fit the model: " + "; ".join(problems),
                              source)
    return LoadReport(source, loaded=[k for k in own if k in theirs], new=missing,
                      unexpected=unexpected)


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor],
               allow_new: Tuple[str, ...] = (), allow_unexpected: Tuple[str, ...] = (),
               source: str = "<state dict>") -> LoadReport:
    """Copy ``state`` (released or bare layout) into ``model`` (wrapped or not) after
    :func:`match_keys` accepts it; return the :class:`LoadReport`."""
    report = match_keys(model, state, allow_new, allow_unexpected, source)
    theirs = strip_module(state)
    unwrap(model).load_state_dict({k: theirs[k] for k in report.loaded}, strict=False)
    return report


def load_file(model: nn.Module, path: PathLike, allow_new: Tuple[str, ...] = (),
              allow_unexpected: Tuple[str, ...] = ()) -> LoadReport:
    """:func:`load_state` from a checkpoint file."""
    return load_state(model, read_state_dict(path), allow_new, allow_unexpected,
                      source=os.fspath(path))


def describe(state: Mapping[str, torch.Tensor]) -> Optional[str]:
    """``'cavmae'`` for a pretraining state dict (has a decoder), ``'cavmae_ft'`` for one with a
    classification head, None when it is neither."""
    keys = strip_module(state)
    if any(k.startswith("decoder_") for k in keys):
        return "cavmae"
    if any(k.startswith("mlp_head.") for k in keys):
        return "cavmae_ft"
    return None
