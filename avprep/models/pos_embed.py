"""Fixed 2-D sine-cosine position tables, laid out as the released CAV-MAE checkpoints hold them.

Token ``k`` of a ``grid_h x grid_w`` patch grid sits at row ``k // grid_w`` and column
``k % grid_w``. The first half of each vector encodes the column, the second half the row; each
half is ``[sin(pos * omega), cos(pos * omega)]`` with ``omega_i = 10000 ** (-i / (D/4))``.
For audio the rows are the 8 frequency bands and the columns the time steps.
"""

from __future__ import annotations

import numpy as np


def sincos_1d(embed_dim: int, positions: np.ndarray) -> np.ndarray:
    """Sine-cosine codes ``[len(positions), embed_dim]`` (float64) for 1-D positions."""
    if embed_dim % 2:
        raise ValueError(f"embed_dim must be even, got {embed_dim}")
    omega = np.arange(embed_dim // 2, dtype=np.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000.0 ** omega
    angles = np.outer(np.asarray(positions, dtype=np.float32).reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_2d(embed_dim: int, grid_h: int, grid_w: int) -> np.ndarray:
    """The ``[grid_h * grid_w, embed_dim]`` (float64) table for a row-major patch grid."""
    if embed_dim % 4:
        raise ValueError(f"embed_dim must be a multiple of 4, got {embed_dim}")
    rows, cols = np.divmod(np.arange(grid_h * grid_w), grid_w)
    half = embed_dim // 2
    return np.concatenate([sincos_1d(half, cols), sincos_1d(half, rows)], axis=1)
