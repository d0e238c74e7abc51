"""Named model sizes and :func:`build`, the one place that turns (kind, size) into a model."""

from __future__ import annotations

from typing import Any, Dict

from torch import nn

from avprep.constants import SIZES

from .cav_mae import CAVMAE
from .cav_mae_ft import CAVMAEFT

KINDS = ("cavmae", "cavmae_ft")

DECODER_ARGS = ("decoder_embed_dim", "decoder_depth", "decoder_num_heads")

def size_config(kind: str, size: str = "base") -> Dict[str, Any]:
    """Constructor arguments of ``size`` for ``kind`` (``'cavmae'`` or ``'cavmae_ft'``)."""
    if kind not in KINDS:
        raise ValueError(f"model kind must be one of {KINDS}, got {kind!r}")
    if size not in SIZES:
        raise ValueError(f"model size must be one of {tuple(SIZES)}, got {size!r}")
    cfg = dict(SIZES[size])
    if kind == "cavmae_ft":
        for name in DECODER_ARGS:
            cfg.pop(name)
    return cfg


def build(kind: str, size: str = "base", **kw: Any) -> nn.Module:
    """A new ``CAVMAE`` (``kind='cavmae'``) or ``CAVMAEFT`` (``'cavmae_ft'``, needs ``label_dim``)
    of the named ``size``; ``kw`` overrides any constructor argument."""
    cfg = size_config(kind, size)
    cfg.update(kw)
    if kind == "cavmae":
        return CAVMAE(**cfg)
    if "label_dim" not in cfg:
        raise ValueError("a cavmae_ft model needs label_dim (the number of classes)")
    return CAVMAEFT(**cfg)
