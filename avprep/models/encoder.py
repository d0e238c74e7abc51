"""The audio-visual encoder that CAVMAE and CAVMAEFT share: patch embeddings, position and
modality embeddings, modality-specific and shared transformer blocks, and the three final norms.

Inputs: audio ``a`` is a normalized fbank ``[B, T, 128]`` (time by mel bin); it is turned into a
1-channel ``128 x T`` image and cut into ``(128/p) x (T/p)`` patches, frequency rows first, so
token ``k`` is band ``k // (T/p)`` at time step ``k % (T/p)``. Images ``v`` are ``[B, 3, H, H]``.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import nn

from .pos_embed import sincos_2d
from .vit import Block, PatchEmbed

N_MEL_BINS = 128


def init_linear_and_norm(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for Linear; weight 1, bias 0 for LayerNorm."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.constant_(module.bias, 0)
    elif isinstance(module, nn.LayerNorm):
        nn.init.constant_(module.bias, 0)
        nn.init.constant_(module.weight, 1.0)


def run_blocks(blocks: Sequence[Block], x: torch.Tensor, modality: Optional[str] = None
               ) -> torch.Tensor:
    """Apply ``blocks`` in order with the LayerNorms of ``modality``."""
    for blk in blocks:
        x = blk(x, modality)
    return x


class AVEncoder(nn.Module):
    """Shared encoder layout; subclasses add a decoder (CAVMAE) or a classifier head (CAVMAEFT).

    ``shared_depth`` (keyword only) is the number of shared blocks ``blocks_u``; the original
    always uses ``12 - modality_specific_depth``, which None keeps.
    """

    def __init__(self, img_size: int, audio_length: int, patch_size: int, in_chans: int,
                 embed_dim: int, modality_specific_depth: int, num_heads: int, mlp_ratio: float,
                 norm_layer: Callable[[int], nn.Module], tr_pos: bool,
                 shared_depth: Optional[int] = None):
        super().__init__()
        if N_MEL_BINS % patch_size or audio_length % patch_size or img_size % patch_size:
            raise ValueError(f"patch size {patch_size} must divide {N_MEL_BINS} mel bins, "
                             f"audio_length {audio_length} and img_size {img_size}")
        if shared_depth is None:
            shared_depth = 12 - modality_specific_depth
        self.patch_embed_a = PatchEmbed(img_size, patch_size, 1, embed_dim)
        self.patch_embed_v = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.audio_grid = (N_MEL_BINS // patch_size, audio_length // patch_size)
        self.video_grid = (img_size // patch_size, img_size // patch_size)
        self.patch_embed_a.num_patches = self.audio_grid[0] * self.audio_grid[1]
        n_a, n_v = self.patch_embed_a.num_patches, self.patch_embed_v.num_patches

        self.modality_a = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.modality_v = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed_a = nn.Parameter(torch.zeros(1, n_a, embed_dim), requires_grad=tr_pos)
        self.pos_embed_v = nn.Parameter(torch.zeros(1, n_v, embed_dim), requires_grad=tr_pos)

        def blocks(n: int) -> nn.ModuleList:
            return nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio, qkv_bias=True,
                                        norm_layer=norm_layer) for _ in range(n)])

        self.blocks_a = blocks(modality_specific_depth)
        self.blocks_v = blocks(modality_specific_depth)
        self.blocks_u = blocks(shared_depth)
        self.norm_a = norm_layer(embed_dim)
        self.norm_v = norm_layer(embed_dim)
        self.norm = norm_layer(embed_dim)

    def _init_encoder_tables(self) -> None:
        """Fill the fixed sin-cos tables; initialize the patch projections like Linear layers."""
        self.pos_embed_a.data.copy_(self._table(self.pos_embed_a.shape[-1], self.audio_grid))
        self.pos_embed_v.data.copy_(self._table(self.pos_embed_v.shape[-1], self.video_grid))
        for embed in (self.patch_embed_a, self.patch_embed_v):
            w = embed.proj.weight.data
            nn.init.xavier_uniform_(w.view([w.shape[0], -1]))

    @staticmethod
    def _table(dim: int, grid: Sequence[int]) -> torch.Tensor:
        return torch.from_numpy(sincos_2d(dim, grid[0], grid[1])).float().unsqueeze(0)

    def embed_audio(self, a: torch.Tensor) -> torch.Tensor:
        """fbank ``[B, T, 128]`` -> audio tokens with position and modality embeddings."""
        a = self.patch_embed_a(a.unsqueeze(1).transpose(2, 3))
        a = a + self.pos_embed_a
        return a + self.modality_a

    def embed_video(self, v: torch.Tensor) -> torch.Tensor:
        """Images ``[B, 3, H, H]`` -> visual tokens with position and modality embeddings."""
        v = self.patch_embed_v(v)
        v = v + self.pos_embed_v
        return v + self.modality_v

    def encode_audio(self, a: torch.Tensor) -> torch.Tensor:
        """fbank -> tokens after the audio blocks, the shared blocks ('a' norms), ``norm_a``."""
        a = run_blocks(self.blocks_a, self.embed_audio(a))
        return self.norm_a(run_blocks(self.blocks_u, a, "a"))

    def encode_video(self, v: torch.Tensor) -> torch.Tensor:
        """Images -> tokens after the visual blocks, the shared blocks ('v' norms), ``norm_v``."""
        v = run_blocks(self.blocks_v, self.embed_video(v))
        return self.norm_v(run_blocks(self.blocks_u, v, "v"))
