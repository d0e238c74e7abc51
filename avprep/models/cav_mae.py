"""CAVMAE: the contrastive audio-visual masked autoencoder used for pretraining."""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .encoder import AVEncoder, init_linear_and_norm, run_blocks
from avprep.constants import MASK_MODES

from .masking import random_masking_structured, random_masking_unstructured
from .vit import Block


def patchify(imgs: torch.Tensor, c: int, h: int, w: int, p: int = 16) -> torch.Tensor:
    """``[N, c, h*p, w*p]`` -> ``[N, h*w, p*p*c]``, patches flattened row by row, channel last."""
    x = imgs.reshape(imgs.shape[0], c, h, p, w, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(imgs.shape[0], h * w, p * p * c)


def unpatchify(x: torch.Tensor, c: int, h: int, w: int, p: int = 16) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``[N, h*w, p*p*c]`` -> ``[N, c, h*p, w*p]``."""
    if h * w != x.shape[1]:
        raise ValueError(f"{x.shape[1]} patches do not form a {h} x {w} grid")
    x = x.reshape(x.shape[0], h, w, p, p, c)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(x.shape[0], c, h * p, w * p)


def contrastive_loss(audio_rep: torch.Tensor, video_rep: torch.Tensor,
                     bidirect_contrast: bool = False, temperature: float = 0.05
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE between L2-normalized audio and video vectors ``[B, D]``; returns (loss, accuracy).

    Scores are ``a_i . v_j / temperature``. The single-direction loss normalizes each video's
    column over the audio clips; accuracy is the share of videos whose best-scoring audio is their
    own. Bi-directional averages that with the same computed on the transposed scores.
    """
    a = F.normalize(audio_rep, dim=-1)
    v = F.normalize(video_rep, dim=-1)
    scores = torch.mm(a, v.t()) / temperature
    target = torch.arange(scores.shape[0], device=scores.device)

    def one_way(s: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        loss = -torch.mean(torch.diag(F.log_softmax(s, dim=0)))
        hits = torch.eq(torch.argmax(F.softmax(s, dim=0), dim=0), target)
        return loss, torch.sum(hits) / s.shape[0]

    loss, acc = one_way(scores)
    if bidirect_contrast:
        loss_t, acc_t = one_way(scores.t())
        loss, acc = (loss + loss_t) / 2, (acc + acc_t) / 2
    return loss, acc


def combine_replicas(parts: Sequence[Sequence[torch.Tensor]]) -> Tuple[torch.Tensor, ...]:
    """Combine per-replica pretraining outputs as the original training loop does.

    ``parts`` holds one ``(loss, loss_mae, loss_mae_a, loss_mae_v, loss_c, mask_a, mask_v,
    c_acc)`` per replica. ``nn.DataParallel`` gathers each scalar into a vector with one entry per
    GPU, and ``traintest_cavmae.py`` then takes ``.sum()`` of the five losses and ``.mean()`` of
    the contrastive accuracy; the masks are gathered along the batch.
    """
    losses = [torch.stack([p[i] for p in parts]).sum() for i in range(5)]
    mask_a = torch.cat([p[5] for p in parts])
    mask_v = torch.cat([p[6] for p in parts])
    c_acc = torch.stack([p[7] for p in parts]).mean()
    return (*losses, mask_a, mask_v, c_acc)


class CAVMAE(AVEncoder):
    """CAV-MAE pretraining model: audio-visual encoder plus a shared masked-autoencoder decoder.

    Constructor arguments and defaults are the original's. ``shared_depth`` (keyword only, an
    avprep addition) sets the number of shared blocks; None keeps ``12 - modality_specific_depth``.
    """

    def __init__(self, img_size: int = 224, audio_length: int = 1024, patch_size: int = 16,
                 in_chans: int = 3, embed_dim: int = 768, modality_specific_depth: int = 11,
                 num_heads: int = 12, decoder_embed_dim: int = 512, decoder_depth: int = 8,
                 decoder_num_heads: int = 16, mlp_ratio: float = 4.0,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
                 norm_pix_loss: bool = False, tr_pos: bool = False, *,
                 shared_depth: Optional[int] = None):
        super().__init__(img_size, audio_length, patch_size, in_chans, embed_dim,
                         modality_specific_depth, num_heads, mlp_ratio, norm_layer, tr_pos,
                         shared_depth)
        n_a, n_v = self.patch_embed_a.num_patches, self.patch_embed_v.num_patches
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim, bias=True)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_modality_a = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_modality_v = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed_a = nn.Parameter(torch.zeros(1, n_a, decoder_embed_dim),
                                                requires_grad=tr_pos)
        self.decoder_pos_embed_v = nn.Parameter(torch.zeros(1, n_v, decoder_embed_dim),
                                                requires_grad=tr_pos)
        self.decoder_blocks = nn.ModuleList([
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, qkv_bias=True,
                  norm_layer=norm_layer) for _ in range(decoder_depth)])
        self.decoder_norm = norm_layer(decoder_embed_dim)
        self.decoder_pred_a = nn.Linear(decoder_embed_dim, patch_size ** 2 * 1, bias=True)
        self.decoder_pred_v = nn.Linear(decoder_embed_dim, patch_size ** 2 * in_chans, bias=True)
        self.in_chans = in_chans
        self.norm_pix_loss = norm_pix_loss
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Sin-cos tables, Linear-style patch projections, N(0, 0.02) tokens, Xavier Linears."""
        self._init_encoder_tables()
        self.decoder_pos_embed_a.data.copy_(
            self._table(self.decoder_pos_embed_a.shape[-1], self.audio_grid))
        self.decoder_pos_embed_v.data.copy_(
            self._table(self.decoder_pos_embed_v.shape[-1], self.video_grid))
        for token in (self.modality_a, self.modality_v, self.decoder_modality_a,
                      self.decoder_modality_v, self.mask_token):
            nn.init.normal_(token, std=0.02)
        self.apply(init_linear_and_norm)

    def patchify(self, imgs: torch.Tensor, c: int, h: int, w: int, p: int = 16) -> torch.Tensor:
        """See :func:`patchify`."""
        return patchify(imgs, c, h, w, p)

    def unpatchify(self, x: torch.Tensor, c: int, h: int, w: int, p: int = 16) -> torch.Tensor:
        """See :func:`unpatchify`."""
        return unpatchify(x, c, h, w, p)

    def random_masking_unstructured(self, x: torch.Tensor, mask_ratio: float):
        """See :func:`avprep.models.masking.random_masking_unstructured`."""
        return random_masking_unstructured(x, mask_ratio)

    def random_masking_structured(self, x: torch.Tensor, mask_ratio: float, t: int = 64,
                                  f: int = 8, mode: str = "time"):
        """See :func:`avprep.models.masking.random_masking_structured`."""
        return random_masking_structured(x, mask_ratio, t, f, mode)

    def forward_encoder(self, a: torch.Tensor, v: torch.Tensor, mask_ratio_a: float,
                        mask_ratio_v: float, mask_mode: str = "unstructured"):
        """Mask and encode both modalities.

        Returns ``(x, mask_a, ids_restore_a, mask_v, ids_restore_v, ca, cv)``: ``x`` the visible
        audio then visual tokens through the shared blocks and ``norm``; ``ca``/``cv`` the visible
        tokens of each modality through the shared blocks with its own norms (for the contrastive
        loss). Audio masking is ``mask_mode`` (``unstructured``, ``time``, ``freq``, ``tf``); visual
        masking is always unstructured.
        """
        if mask_mode not in MASK_MODES:
            raise ValueError(f"mask_mode must be one of {MASK_MODES}, got {mask_mode!r}")
        a = self.embed_audio(a)
        v = self.embed_video(v)
        if mask_mode == "unstructured":
            a, mask_a, ids_restore_a = random_masking_unstructured(a, mask_ratio_a)
        else:
            f, t = self.audio_grid
            a, mask_a, ids_restore_a = random_masking_structured(a, mask_ratio_a, t=t, f=f,
                                                                 mode=mask_mode)
        v, mask_v, ids_restore_v = random_masking_unstructured(v, mask_ratio_v)

        a = run_blocks(self.blocks_a, a)
        v = run_blocks(self.blocks_v, v)
        x = self.norm(run_blocks(self.blocks_u, torch.cat((a, v), dim=1)))
        # As in the original, each shared block sees the modality-specific output directly (the
        # blocks are not chained here); with the released single shared block this is the same.
        ca = cv = None
        for blk in self.blocks_u:
            ca = blk(a, "a")
        for blk in self.blocks_u:
            cv = blk(v, "v")
        ca = self.norm_a(a if ca is None else ca)
        cv = self.norm_v(v if cv is None else cv)
        return x, mask_a, ids_restore_a, mask_v, ids_restore_v, ca, cv

    def forward_decoder(self, x: torch.Tensor, mask_a: torch.Tensor, ids_restore_a: torch.Tensor,
                        mask_v: torch.Tensor, ids_restore_v: torch.Tensor
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Fill masked positions with the mask token, decode, and predict every patch.

        Returns ``(pred_a [B, N_a, p*p], pred_v [B, N_v, p*p*3])`` in the original patch order.
        Every sample must have the same number of masked tokens (the first sample's count is used).
        """
        x = self.decoder_embed(x)
        b, _, dim = x.shape
        n_a = self.patch_embed_a.num_patches
        removed_a, removed_v = int(mask_a[0].sum()), int(mask_v[0].sum())
        kept_a = n_a - removed_a

        def restore(tokens: torch.Tensor, removed: int, ids_restore: torch.Tensor) -> torch.Tensor:
            full = torch.cat([tokens, self.mask_token.repeat(b, removed, 1)], dim=1)
            return torch.gather(full, 1, ids_restore.unsqueeze(-1).expand(-1, -1, dim))

        x = torch.cat([restore(x[:, :kept_a], removed_a, ids_restore_a),
                       restore(x[:, kept_a:], removed_v, ids_restore_v)], dim=1)
        x = x + torch.cat([self.decoder_pos_embed_a, self.decoder_pos_embed_v], dim=1)
        n_v = x.shape[1] - n_a
        modality = torch.cat([self.decoder_modality_a.expand(-1, n_a, -1),
                              self.decoder_modality_v.expand(-1, n_v, -1)], dim=1)
        x = x + modality
        x = self.decoder_norm(run_blocks(self.decoder_blocks, x))
        return self.decoder_pred_a(x[:, :n_a]), self.decoder_pred_v(x[:, n_a:])

    def forward_contrastive(self, audio_rep: torch.Tensor, video_rep: torch.Tensor,
                            bidirect_contrast: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """InfoNCE with temperature 0.05; returns (loss, accuracy). See :func:`contrastive_loss`."""
        return contrastive_loss(audio_rep, video_rep, bidirect_contrast)

    def forward_mae_loss(self, input: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor,
                         modality: str) -> torch.Tensor:
        """Mean squared error over the removed patches (``mask == 1``).

        ``input`` is the fbank ``[B, T, 128]`` for ``modality='a'`` or the images for ``'v'``. With
        ``norm_pix_loss`` each target patch is standardized by its own mean and unbiased variance
        (``+ 1e-6``).
        """
        p = self.patch_embed_a.patch_size[0]
        if modality == "a":
            img = input.unsqueeze(1).transpose(2, 3)
            c = 1
        elif modality == "v":
            img, c = input, self.in_chans
        else:
            raise ValueError(f"modality must be 'a' or 'v', got {modality!r}")
        target = patchify(img, c, img.shape[2] // p, img.shape[3] // p, p)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        loss = ((pred - target) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum()

    def forward(self, audio: torch.Tensor, imgs: torch.Tensor, mask_ratio_a: float = 0.75,
                mask_ratio_v: float = 0.75, mae_loss_weight: float = 1.0,
                contrast_loss_weight: float = 0.01, mask_mode: str = "unstructured",
                bidirect_contrast: bool = False, groups: Optional[int] = None):
        """Pretraining step: ``(loss, loss_mae, loss_mae_a, loss_mae_v, loss_c, mask_a, mask_v,
        c_acc)``.

        ``loss = mae_loss_weight * (loss_mae_a + loss_mae_v) + contrast_loss_weight * nce`` where
        the contrastive term uses the mean of the visible tokens of each modality. A weight of 0
        skips that part (its losses are returned as zeros). ``bidirect_contrast`` (an avprep
        addition, off as in the original) makes the contrastive loss symmetric.

        ``groups`` (an avprep addition) computes the step as ``nn.DataParallel`` over ``groups``
        GPUs does in the original: the batch is split with ``torch.chunk`` (as DataParallel
        scatters it), each chunk runs this forward on its own (its own masks, its InfoNCE over
        its own samples) and the chunks' results are combined by :func:`combine_replicas`.
        """
        if groups is not None:
            parts = [self._step(a, v, mask_ratio_a, mask_ratio_v, mae_loss_weight,
                                contrast_loss_weight, mask_mode, bidirect_contrast)
                     for a, v in zip(audio.chunk(groups), imgs.chunk(groups))]
            return combine_replicas(parts)
        return self._step(audio, imgs, mask_ratio_a, mask_ratio_v, mae_loss_weight,
                          contrast_loss_weight, mask_mode, bidirect_contrast)

    def _step(self, audio: torch.Tensor, imgs: torch.Tensor, mask_ratio_a: float,
              mask_ratio_v: float, mae_loss_weight: float, contrast_loss_weight: float,
              mask_mode: str, bidirect_contrast: bool):
        latent, mask_a, ids_a, mask_v, ids_v, latent_c_a, latent_c_v = self.forward_encoder(
            audio, imgs, mask_ratio_a, mask_ratio_v, mask_mode=mask_mode)
        zero = torch.tensor(0.0, device=audio.device)
        if mae_loss_weight != 0:
            pred_a, pred_v = self.forward_decoder(latent, mask_a, ids_a, mask_v, ids_v)
            loss_mae_a = self.forward_mae_loss(audio, pred_a, mask_a, "a")
            loss_mae_v = self.forward_mae_loss(imgs, pred_v, mask_v, "v")
            loss_mae = mae_loss_weight * (loss_mae_a + loss_mae_v)
        else:
            loss_mae_a, loss_mae_v, loss_mae = zero, zero.clone(), zero.clone()
        if contrast_loss_weight != 0:
            loss_c, c_acc = self.forward_contrastive(latent_c_a.mean(dim=1),
                                                     latent_c_v.mean(dim=1), bidirect_contrast)
            loss_c = contrast_loss_weight * loss_c
        else:
            loss_c, c_acc = zero.clone(), zero.clone()
        loss = loss_mae + loss_c
        return loss, loss_mae, loss_mae_a, loss_mae_v, loss_c, mask_a, mask_v, c_acc

    def forward_inpaint(self, audio: torch.Tensor, imgs: torch.Tensor, mask_ratio_a: float = 0.75,
                        mask_ratio_v: float = 0.75, mask_mode: str = "unstructured"):
        """Reconstruction: ``(pred_a, pred_v, mask_a, mask_v, loss_pixel_a, loss_pixel_v)``."""
        latent, mask_a, ids_a, mask_v, ids_v, _, _ = self.forward_encoder(
            audio, imgs, mask_ratio_a, mask_ratio_v, mask_mode=mask_mode)
        pred_a, pred_v = self.forward_decoder(latent, mask_a, ids_a, mask_v, ids_v)
        loss_a = self.forward_mae_loss(audio, pred_a, mask_a, "a")
        loss_v = self.forward_mae_loss(imgs, pred_v, mask_v, "v")
        return pred_a, pred_v, mask_a, mask_v, loss_a, loss_v

    def forward_feat(self, a: torch.Tensor, v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Unmasked tokens for retrieval: ``(audio [B, N_a, D], visual [B, N_v, D])`` from each
        modality's blocks, then the shared blocks with its own norms."""
        return self.encode_audio(a), self.encode_video(v)
