"""CAVMAEFT: the CAV-MAE encoder with a classification head, for fine-tuning and evaluation."""

from __future__ import annotations

from typing import Callable, Optional, Tuple, Union

import torch
from torch import nn

from avprep.constants import FEAT_MODES, FT_MODES

from .encoder import AVEncoder, init_linear_and_norm, run_blocks



class CAVMAEFT(AVEncoder):
    """CAV-MAE fine-tuning model: the encoder, mean pooling, and ``mlp_head`` (LayerNorm + Linear).

    Constructor arguments and defaults are the original's. ``shared_depth`` (keyword only, an
    avprep addition) sets the number of shared blocks; None keeps ``12 - modality_specific_depth``.
    ``norm_pix_loss`` is accepted for compatibility and unused.
    """

    def __init__(self, label_dim: int, img_size: int = 224, audio_length: int = 1024,
                 patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768,
                 modality_specific_depth: int = 11, num_heads: int = 12, mlp_ratio: float = 4.0,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
                 norm_pix_loss: bool = False, tr_pos: bool = True, *,
                 shared_depth: Optional[int] = None):
        super().__init__(img_size, audio_length, patch_size, in_chans, embed_dim,
                         modality_specific_depth, num_heads, mlp_ratio, norm_layer, tr_pos,
                         shared_depth)
        self.label_dim = label_dim
        self.mlp_head = nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, label_dim))
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Sin-cos tables, Linear-style patch projections, N(0, 0.02) modality tokens, Xavier
        Linear layers."""
        self._init_encoder_tables()
        nn.init.normal_(self.modality_a, std=0.02)
        nn.init.normal_(self.modality_v, std=0.02)
        self.apply(init_linear_and_norm)

    def _joint_and_own(self, x: torch.Tensor, modality: str) -> torch.Tensor:
        """Mean of the pooled shared-block outputs with the joint and with ``modality``'s norms."""
        own_norm = self.norm_a if modality == "a" else self.norm_v
        u = self.norm(run_blocks(self.blocks_u, x)).mean(dim=1)
        own = own_norm(run_blocks(self.blocks_u, x, modality)).mean(dim=1)
        return (u + own) / 2

    def forward(self, a: Optional[torch.Tensor], v: Optional[torch.Tensor], mode: str
                ) -> torch.Tensor:
        """Class logits ``[B, label_dim]``.

        ``multimodal``: audio and visual tokens through the shared blocks together (joint norms).
        ``audioonly``/``videoonly``: one modality through the shared blocks with its own norms.
        ``missingaudioonly``/``missingvideoonly`` (a model fine-tuned on both, given one): the
        average of the pooled outputs with the joint norms and with the modality's own norms.
        The unused input may be None.
        """
        if mode == "multimodal":
            a = run_blocks(self.blocks_a, self.embed_audio(a))
            v = run_blocks(self.blocks_v, self.embed_video(v))
            x = self.norm(run_blocks(self.blocks_u, torch.cat((a, v), dim=1))).mean(dim=1)
        elif mode == "audioonly":
            x = self.encode_audio(a).mean(dim=1)
        elif mode == "videoonly":
            x = self.encode_video(v).mean(dim=1)
        elif mode == "missingaudioonly":
            x = self._joint_and_own(run_blocks(self.blocks_a, self.embed_audio(a)), "a")
        elif mode == "missingvideoonly":
            x = self._joint_and_own(run_blocks(self.blocks_v, self.embed_video(v)), "v")
        else:
            raise ValueError(f"mode must be one of {FT_MODES}, got {mode!r}")
        return self.mlp_head(x)

    def forward_feat(self, a: Optional[torch.Tensor], v: Optional[torch.Tensor], mode: str = "av"
                     ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Token features for retrieval, each modality through the shared blocks with its own
        norms: ``mode='av'`` gives ``(a, v)``, ``'a'`` the audio tokens, ``'v'`` the visual ones.
        """
        if mode == "av":
            return self.encode_audio(a), self.encode_video(v)
        if mode == "a":
            return self.encode_audio(a)
        if mode == "v":
            return self.encode_video(v)
        raise ValueError(f"mode must be one of {FEAT_MODES}, got {mode!r}")
