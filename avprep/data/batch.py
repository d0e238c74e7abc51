"""Batch-fbank mode: the loader returns waveforms, the training process makes the fbank per batch.

With ``batch_fbank`` set, a Dataset item carries the mean-removed (and mixed) waveform instead of
the fbank. :func:`collate_waveforms` pads a batch of them; :class:`BatchFbank` computes all the
fbanks in one pass with :func:`avprep.features.fbank_batch` on the chosen device (the GPU during
training), then pads or cuts, masks, normalizes and adds noise as the loader would, all on that
device. On a CPU the result equals the loader's; on CUDA the fbank is within the SPEC 3 parity
rule and the noise, drawn by CUDA's generator from the same per-sample seed, has the same law but
other values.
"""

from __future__ import annotations

from typing import Any, List, Mapping, NamedTuple, Optional, Sequence, Union

import torch

from avprep.data.augment import AugmentPlan, apply_masks, apply_noise
from avprep.data.builder import AUDIO_OK, substitute_fbank
from avprep.data.config import AVConfig
from avprep.features import normalize


class WaveBatch(NamedTuple):
    """A collated batch of waveform samples; ``index`` and ``video_id`` are None for tuples."""

    waveforms: torch.Tensor   # float32 [B, max samples], zero-padded
    lengths: torch.Tensor     # int64 [B]
    image: torch.Tensor
    label: torch.Tensor
    aug: torch.Tensor         # float64 [B, 8]
    index: Optional[torch.Tensor]
    video_id: Optional[List[str]]


def collate_waveforms(batch: Sequence[Sequence[Any]]) -> WaveBatch:
    """Collate ``(waveform, image, label, aug[, index, video_id])`` items into a
    :class:`WaveBatch`."""
    lengths = torch.tensor([item[0].shape[-1] for item in batch], dtype=torch.int64)
    waves = torch.zeros((len(batch), int(lengths.max()) if len(batch) else 0),
                        dtype=torch.float32)
    for i, item in enumerate(batch):
        waves[i, :item[0].shape[-1]] = item[0]
    has_ids = len(batch[0]) >= 6 if len(batch) else False
    return WaveBatch(waves, lengths,
                     torch.stack([item[1] for item in batch]),
                     torch.stack([item[2] for item in batch]),
                     torch.stack([item[3] for item in batch]),
                     torch.tensor([int(item[4]) for item in batch]) if has_ids else None,
                     [str(item[5]) for item in batch] if has_ids else None)


class BatchFbank:
    """Finished fbanks ``[B, target_length, 128]`` of a waveform batch, on ``device``.

    ``config`` is the Dataset's :class:`AVConfig` (or its ``audio_conf`` dict).
    """

    def __init__(self, config: Union[AVConfig, Mapping[str, Any], None] = None,
                 device: Union[str, torch.device, None] = None):
        if config is None or isinstance(config, Mapping):
            config = AVConfig.from_audio_conf(config)
        self.config = config
        self.device = device

    def __call__(self, waveforms: torch.Tensor, lengths: torch.Tensor,
                 aug: torch.Tensor) -> torch.Tensor:
        from avprep.features import fbank_batch
        cfg = self.config
        fbs = fbank_batch(waveforms, lengths, device=self.device, max_frames=cfg.target_length)
        device = fbs[0].device if fbs else torch.device(self.device or "cpu")
        out = torch.zeros((len(fbs), cfg.target_length, cfg.num_mel_bins), device=device)
        plans = [AugmentPlan.fbank_part(row) for row in aug]
        for i, (fb, row) in enumerate(zip(fbs, aug.tolist())):
            if int(row[7]) != AUDIO_OK:
                out[i] = substitute_fbank(cfg, int(row[7])).to(device)
            else:
                out[i, :fb.shape[0]] = fb[:cfg.target_length]
        for i, plan in enumerate(plans):
            apply_masks(out[i], plan)
        if not cfg.skip_norm:
            out = normalize(out, cfg.mean, cfg.std)
        for i, plan in enumerate(plans):
            if plan.noise_scale is not None:
                out[i] = apply_noise(out[i], plan)
        return out

    def batch(self, batch: WaveBatch) -> torch.Tensor:
        """Fbanks of a :class:`WaveBatch`."""
        return self(batch.waveforms, batch.lengths, batch.aug)
