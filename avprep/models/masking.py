"""Random token masking for the masked autoencoder, drawing random numbers as CAV-MAE does.

Each function returns ``(kept, mask, ids_restore)``: ``kept`` ``[N, len_keep, D]`` holds the
tokens left visible, ``mask`` ``[N, L]`` (float32) is 1 where a token was removed and 0 where it was
kept, and ``ids_restore`` ``[N, L]`` puts a ``kept + removed`` sequence back in the original order.
``len_keep = int(L * (1 - mask_ratio))`` for every sample.

Randomness: one ``torch.rand(N, L)`` draw per call (on the tokens' device) and, for structured
masks, Python's :func:`random.sample` per sample, in the same order as the original, so the same
seeds give the same masks.
"""

from __future__ import annotations

import random
from typing import Tuple

import torch

Masked = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _mask_by_noise(x: torch.Tensor, noise: torch.Tensor, len_keep: int) -> Masked:
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    kept = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[2]))
    mask = (ids_restore >= len_keep).to(torch.float32)
    return kept, mask, ids_restore


def random_masking_unstructured(x: torch.Tensor, mask_ratio: float) -> Masked:
    """Remove a random ``mask_ratio`` share of the tokens of ``x`` ``[N, L, D]``, per sample."""
    n, length, _ = x.shape
    len_keep = int(length * (1 - mask_ratio))
    noise = torch.rand(n, length, device=x.device)
    return _mask_by_noise(x, noise, len_keep)


def random_masking_structured(x: torch.Tensor, mask_ratio: float, t: int = 64, f: int = 8,
                              mode: str = "time") -> Masked:
    """Mask whole time columns, frequency rows or both of an ``f x t`` audio token grid.

    ``mode='time'`` removes ``int(t * mask_ratio)`` random time steps, ``'freq'`` removes
    ``int(f * mask_ratio)`` frequency bands, ``'tf'`` removes ``int(t * mask_ratio * 0.7)`` time
    steps and ``int(f * mask_ratio * 0.7)`` bands; the remaining removals (or keeps) needed to reach
    ``len_keep`` fall on random tokens.
    """
    n, length, _ = x.shape
    if length != t * f:
        raise ValueError(f"{length} tokens do not form a {f} x {t} (freq x time) grid")
    if mode not in ("time", "freq", "tf"):
        raise ValueError(f"structured mask mode must be 'time', 'freq' or 'tf', got {mode!r}")
    len_keep = int(length * (1 - mask_ratio))
    noise = torch.rand(n, length, device=x.device).reshape(n, f, t)
    removed = 1.1  # above any draw of torch.rand, so these tokens sort last and are removed
    if mode in ("time", "tf"):
        n_t = int(t * mask_ratio * 0.7) if mode == "tf" else int(t * mask_ratio)
        for i in range(n):
            noise[i, :, random.sample(range(t), n_t)] = removed
    if mode in ("freq", "tf"):
        n_f = int(f * mask_ratio * 0.7) if mode == "tf" else int(f * mask_ratio)
        for i in range(n):
            noise[i, random.sample(range(f), n_f), :] = removed
    return _mask_by_noise(x, noise.reshape(n, length), len_keep)
