"""Named model sizes and :func:`build`, the one place that turns (kind, size) into a model."""

from __future__ import annotations

from typing import Any, Dict

from torch import nn

from .cav_mae import CAVMAE
from .cav_mae_ft import CAVMAEFT

KINDS = ("cavmae", "cavmae_ft")

DECODER_ARGS = ("decoder_embed_dim", "decoder_depth", "decoder_num_heads")

#: ``base`` is the released ViT-Base configuration. ``tiny`` (tests, demos) keeps every layer
#: type with embed 32, 2 heads, 1 modality-specific block per modality, 1 shared block, and a
#: 2-block decoder 32 wide with 2 heads.
SIZES: Dict[str, Dict[str, Any]] = {
    "base": dict(embed_dim=768, num_heads=12, modality_specific_depth=11, shared_depth=None,
                 decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16),
    "tiny": dict(embed_dim=32, num_heads=2, modality_specific_depth=1, shared_depth=1,
                 decoder_embed_dim=32, decoder_depth=2, decoder_num_heads=2),
}


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
