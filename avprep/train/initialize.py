"""A run's starting weights: a checkpoint file or model-zoo name loaded into the model, with the
report of which keys came from it (``init.json``)."""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Tuple, Union

import torch

from avprep.errors import InputError

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]


def load_init(model: torch.nn.Module, name_or_path: str, kind: str,
              reinit_head: bool = False, allow_partial: bool = False) -> Dict[str, Any]:
    """Initialize ``model`` from a checkpoint file or model-zoo name; return what was loaded.

    ``kind`` 'finetune': the checkpoint must supply every weight but the classification head
    (a pretraining checkpoint's decoder is ignored), unless ``allow_partial``
    (``--allow-partial``): then, as the original's ``strict=False``, any subset of the weights
    may come from it. 'pretrain': as the original, any subset may (e.g. an adapted ImageNet MAE),
    the rest stay as initialized. A shape mismatch is an error either way, and so is a
    checkpoint of which nothing fits, except for a fine-tuned checkpoint's head made for another
    class count: with ``reinit_head`` (``--ft-reinit-head``) its whole head is left out and the
    model's new head kept, otherwise an error says to pass it. The result lists keys in the
    released ``module.`` layout: ``loaded`` (taken from the checkpoint), ``new`` (left as
    initialized), ``ignored`` (checkpoint keys the model does not use) and ``reinitialized``
    (the checkpoint's head keys replaced by a new head, with a ``note`` saying why, which
    :func:`open_experiment` prints).
    """
    from avprep.models import check_finite, load_state, read_state_dict, resolve
    from avprep.models.checkpoint import CheckpointError
    from avprep.models.loader import FT_IGNORED, FT_NEW

    path = resolve(name_or_path)
    state = read_state_dict(path)
    check_finite(state, path)
    reinitialized: List[str] = []
    note = ""
    if kind == "finetune":
        state, reinitialized, note = _other_head(model, state, reinit_head, path)
    if kind == "finetune" and not allow_partial:
        try:
            report = load_state(model, state, FT_NEW, FT_IGNORED, source=os.fspath(path))
        except CheckpointError as err:
            raise CheckpointError(err.message + " (--allow-partial True loads the weights that "
                                  "fit and reports the rest)", path) from err
    else:
        report = load_state(model, state, ("",), ("",), source=os.fspath(path))
        if not report.loaded:
            raise InputError(f"no weight of this checkpoint fits the {kind} model", path)
    logger.info(report.summary())

    def released(keys: List[str]) -> List[str]:
        return [k if k.startswith("module.") else "module." + k for k in keys]

    init: Dict[str, Any] = {"loaded": released(report.loaded), "new": released(report.new),
                            "ignored": released(report.unexpected),
                            "reinitialized": released(reinitialized)}
    if note:
        init["note"] = note
    return init


def _other_head(model: torch.nn.Module, state: Dict[str, torch.Tensor], reinit: bool,
                path: PathLike) -> Tuple[Dict[str, torch.Tensor], List[str], str]:
    """``state`` without its classification head when the head's shape differs from the
    model's and ``reinit`` allows leaving it out, the keys left out and a line saying why;
    an error when ``reinit`` does not allow it."""
    from avprep.models import strip_module, unwrap

    head = "mlp_head."
    own, theirs = unwrap(model).state_dict(), strip_module(state)
    if not any(k.startswith(head) and k in own and v.shape != own[k].shape
               for k, v in theirs.items()):
        return state, [], ""
    out_key = f"{head}1.weight"
    counts = (f"{theirs[out_key].shape[0]} classes, the model {own[out_key].shape[0]} "
              "(--n_class)") if out_key in theirs and out_key in own else "another shape"
    if not reinit:
        raise InputError(f"the checkpoint's classification head has {counts}: pass "
                         "--ft-reinit-head True to start a new head for these classes", path)
    dropped = sorted(k for k in theirs if k.startswith(head))
    note = f"re-initialized the classification head: the checkpoint's has {counts}"
    return {k: v for k, v in theirs.items() if not k.startswith(head)}, dropped, note
