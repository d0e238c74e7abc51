"""``load``: build a CAVMAE or CAVMAEFT that fits a checkpoint (file or model-zoo name), fill it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from ..errors import InputError
from .checkpoint import (CheckpointError, LoadReport, describe, load_state, read_state_dict,
                         strip_module)
from .encoder import N_MEL_BINS
from avprep.constants import SIZES

from .factory import DECODER_ARGS, KINDS, build
from .zoo import cached_path, find, zoo_entries

PathLike = Union[str, "os.PathLike[str]"]

#: What a fine-tuning model may lack in a checkpoint (its new head) and what it ignores of a
#: pretraining checkpoint (the decoder).
FT_NEW = ("mlp_head.",)
FT_IGNORED = ("decoder_", "mask_token")


def _count(keys, prefix: str) -> int:
    idx = {k[len(prefix):].split(".", 1)[0] for k in keys if k.startswith(prefix)}
    return len(idx)


def shape_config(state: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """Constructor arguments that the tensor shapes of a (bare-layout) state dict determine:
    sizes, depths, audio length, image size, patch size, classes. Head counts are not stored."""
    cfg: Dict[str, Any] = {}
    keys = list(state)
    if "modality_a" in state:
        cfg["embed_dim"] = state["modality_a"].shape[-1]
    if "patch_embed_v.proj.weight" in state:
        w = state["patch_embed_v.proj.weight"]
        cfg["patch_size"], cfg["in_chans"] = w.shape[-1], w.shape[1]
    p = cfg.get("patch_size", 16)
    if "pos_embed_a" in state:
        cfg["audio_length"] = state["pos_embed_a"].shape[1] // (N_MEL_BINS // p) * p
    if "pos_embed_v" in state:
        cfg["img_size"] = round(state["pos_embed_v"].shape[1] ** 0.5) * p
    if "blocks_a.0.mlp.fc1.weight" in state:
        fc1 = state["blocks_a.0.mlp.fc1.weight"]
        cfg["mlp_ratio"] = fc1.shape[0] / fc1.shape[1]
    if any(k.startswith("blocks_a.") for k in keys):
        cfg["modality_specific_depth"] = _count(keys, "blocks_a.")
        cfg["shared_depth"] = _count(keys, "blocks_u.")
    if "mask_token" in state:
        cfg["decoder_embed_dim"] = state["mask_token"].shape[-1]
        cfg["decoder_depth"] = _count(keys, "decoder_blocks.")
    if "mlp_head.1.weight" in state:
        cfg["label_dim"] = state["mlp_head.1.weight"].shape[0]
    return cfg


def _guess_size(cfg: Mapping[str, Any]) -> str:
    for name, size in SIZES.items():
        if size["embed_dim"] == cfg.get("embed_dim"):
            return name
    return "base"


def resolve(name_or_path: PathLike, cache_dir: Optional[PathLike] = None,
            manifest: Optional[PathLike] = None, download: bool = True) -> Path:
    """The checkpoint file for a path or a model-zoo name (cached, or fetched when allowed)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    text = os.fspath(name_or_path)
    if "/" in text or os.sep in text:
        raise InputError("checkpoint file not found", path)
    try:
        entry = find(text, zoo_entries(manifest))
    except InputError as err:
        raise InputError(f"{text!r} is neither a checkpoint file nor a model-zoo name "
                         f"({err.message})") from err
    return cached_path(entry, cache_dir, download=download)


def load(name_or_path: PathLike, kind: Optional[str] = None, *, size: Optional[str] = None,
         cache_dir: Optional[PathLike] = None, manifest: Optional[PathLike] = None,
         download: bool = True, **kw: Any) -> Tuple[nn.Module, LoadReport]:
    """Build a model for a checkpoint and load it; return ``(model, report)``.

    ``name_or_path`` is a checkpoint file (released ``module.`` layout or bare) or a model-zoo
    name (see :mod:`avprep.models.zoo`). ``kind`` is ``'cavmae'`` or ``'cavmae_ft'``; None takes
    the checkpoint's own kind. The model's shape (depths, widths, audio length, classes) follows
    the checkpoint; ``size`` (default: the size whose width matches) gives the head counts, and
    ``kw`` overrides any constructor argument (``label_dim`` is needed to start a fine-tuning model
    from a pretraining checkpoint).

    A fine-tuning model loaded from a pretraining checkpoint reports its head as ``new`` and the
    decoder as ``unexpected``; any other missing, unknown or mis-shaped key raises
    :class:`~avprep.models.checkpoint.CheckpointError`. The model is returned unwrapped, on CPU.
    """
    path = resolve(name_or_path, cache_dir, manifest, download)
    state = strip_module(read_state_dict(path))
    own_kind = describe(state)
    kind = kind or own_kind
    if kind not in KINDS:
        raise CheckpointError(f"cannot tell the model kind ({KINDS}) of this checkpoint; "
                              f"pass kind", path)
    cfg = shape_config(state)
    size = size or _guess_size(cfg)
    if kind == "cavmae_ft":
        for name in DECODER_ARGS:
            cfg.pop(name, None)
        allow_new, allow_unexpected = FT_NEW, FT_IGNORED
    else:
        cfg.pop("label_dim", None)
        allow_new, allow_unexpected = (), ()
    cfg.update(kw)
    if kind == "cavmae_ft" and "label_dim" not in cfg:
        raise CheckpointError("the checkpoint has no classification head; pass label_dim (the "
                              "number of classes) to start a fine-tuning model from it", path)
    model = build(kind, size, **cfg)
    report = load_state(model, state, allow_new, allow_unexpected, source=os.fspath(path))
    return model, report
