"""Transformer parts of CAV-MAE in plain PyTorch, with the parameter names of the released weights.

The released checkpoints were saved from models built on timm 0.4.5's ``Attention`` and ``Mlp``
inside a block that holds three sets of LayerNorms: joint (``norm1``/``norm2``), audio-only
(``norm1_a``/``norm2_a``) and visual-only (``norm1_v``/``norm2_v``). The classes here keep those
names, the order in which modules are created (so a seeded build draws the same initial weights)
and the arithmetic: LayerNorm as passed in (``nn.LayerNorm``, eps 1e-5, by default), exact GELU,
attention scale ``head_dim ** -0.5``.

Attention runs through :func:`torch.nn.functional.scaled_dot_product_attention` by default. The
explicit form ``softmax((q @ k^T) * scale) @ v`` that the original computes can be chosen per
module (``Attention.impl``), per model (:func:`use_attention`) or globally
(:func:`set_attention_impl`, :func:`attention_impl`).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

IMPLS = ("sdpa", "explicit")
_default_impl = "sdpa"


def _check_impl(impl: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"attention implementation must be one of {IMPLS}, got {impl!r}")
    return impl


def get_attention_impl() -> str:
    """The attention implementation used by modules that do not choose their own."""
    return _default_impl


def set_attention_impl(impl: str) -> str:
    """Set the global attention implementation (``'sdpa'``, ``'explicit'``); return the old one."""
    global _default_impl
    old, _default_impl = _default_impl, _check_impl(impl)
    return old


@contextlib.contextmanager
def attention_impl(impl: str) -> Iterator[None]:
    """Use ``impl`` as the global attention implementation inside a ``with`` block."""
    old = set_attention_impl(impl)
    try:
        yield
    finally:
        set_attention_impl(old)


def use_attention(model: nn.Module, impl: Optional[str]) -> nn.Module:
    """Make every attention layer of ``model`` use ``impl`` (None: follow the global setting)."""
    if impl is not None:
        _check_impl(impl)
    for module in model.modules():
        if isinstance(module, Attention):
            module.impl = impl
    return model


class PatchEmbed(nn.Module):
    """Non-overlapping square patches -> tokens: a strided convolution, flattened row-major."""

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3,
                 embed_dim: int = 768):
        super().__init__()
        self.img_size = (img_size, img_size)
        self.patch_size = (patch_size, patch_size)
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, (H/p) * (W/p), D]``."""
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` projection and an output ``proj``."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False,
                 impl: Optional[str] = None):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.impl = None if impl is None else _check_impl(impl)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, N, C]`` -> ``[B, N, C]``."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if (self.impl or _default_impl) == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        else:
            weights = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
            out = weights @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """``fc1`` -> GELU (exact) -> ``fc2``."""

    def __init__(self, in_features: int, hidden_features: int):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., D]`` -> ``[..., D]``."""
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block with joint, audio-only and visual-only LayerNorms.

    ``forward(x, modality)`` uses ``norm1``/``norm2`` when ``modality`` is None, ``norm1_a``/
    ``norm2_a`` for ``'a'`` and ``norm1_v``/``norm2_v`` for ``'v'``; the attention and MLP weights
    are shared.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.norm1_a = norm_layer(dim)
        self.norm1_v = norm_layer(dim)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = norm_layer(dim)
        self.norm2_a = norm_layer(dim)
        self.norm2_v = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, modality: Optional[str] = None) -> torch.Tensor:
        """Apply the block with the LayerNorms of ``modality`` (None, ``'a'`` or ``'v'``)."""
        if modality is None:
            norm1, norm2 = self.norm1, self.norm2
        elif modality == "a":
            norm1, norm2 = self.norm1_a, self.norm2_a
        elif modality == "v":
            norm1, norm2 = self.norm1_v, self.norm2_v
        else:
            raise ValueError(f"modality must be None, 'a' or 'v', got {modality!r}")
        x = x + self.attn(norm1(x))
        return x + self.mlp(norm2(x))
