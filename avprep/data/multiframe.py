"""``MultiFrameDataset``: every clip's fbank once with several of its frames, for evaluation.

The 10-frame averaged evaluation scores each clip once per frame with the same audio. Building one
eval-mode Dataset per frame reads each wav and computes its Kaldi fbank once per frame; this
wrapper computes them once per clip and stacks the frames, through the wrapped Dataset's own
implementation (the same fbank, images and label, bit for bit, as the per-frame Datasets give).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, NamedTuple

import torch
from torch.utils.data import Dataset

from avprep.data.avdataset import AVDataset
from avprep.errors import InputError


class MultiFrameSample(NamedTuple):
    """One clip: fbank ``[target_length, bins]``, its frames ``[F, 3, res, res]`` in the order
    asked for, label ``[classes]`` (all float32)."""

    fbank: torch.Tensor
    images: torch.Tensor
    label: torch.Tensor


class MultiFrameDataset(Dataset):
    """An eval-mode ``AVDataset`` (or ``AudiosetDataset``) with several frames per item.

    ``dataset[i]`` is :class:`MultiFrameSample` ``(fbank, images, label)`` where ``fbank`` and
    ``label`` are those of the wrapped dataset's item ``i`` and ``images[k]`` is its item ``i``
    as it would be with ``frame_use = frames[k]``. Missing frames are handled as the wrapped
    dataset does (strict: ``MediaError``; lenient: the lower frame or the constant image).

    The wrapped dataset must be in eval mode with no random augmentation (mixup, SpecAugment
    masks, noise) and not in ``batch_fbank`` mode: ``InputError`` otherwise. A DataLoader batch
    of ``B`` items holds ``B * len(frames)`` images.
    """

    def __init__(self, dataset: AVDataset, frames: Iterable[int] = range(10)):
        if not isinstance(dataset, AVDataset):
            raise InputError(f"MultiFrameDataset wraps an AVDataset or AudiosetDataset, "
                             f"not {type(dataset).__name__}")
        cfg = dataset.config
        self.frames = tuple(int(f) for f in frames)
        if not self.frames:
            raise InputError("MultiFrameDataset needs at least one frame")
        bad = [f for f in self.frames if not 0 <= f < cfg.total_frame]
        if bad:
            raise InputError(f"frames {bad} are not frame indices below {cfg.total_frame}")
        augmented = [name for name, on in (("mixup", cfg.mixup > 0), ("freqm", cfg.freqm > 0),
                                           ("timem", cfg.timem > 0), ("noise", cfg.noise)) if on]
        if cfg.mode != "eval" or augmented:
            raise InputError("MultiFrameDataset needs an eval-mode dataset without random "
                             f"augmentation (mode {cfg.mode!r}"
                             + (f", {', '.join(augmented)} on)" if augmented else ")"))
        if cfg.batch_fbank:
            raise InputError("MultiFrameDataset needs the fbank in the item: "
                             "turn batch_fbank off")
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> MultiFrameSample:
        b = self.dataset.builder
        clip, plan, partner = b.parts(int(index), self.dataset.epoch)
        images = torch.stack([b.image(clip, dataclasses.replace(plan, frame=f), partner)
                              for f in self.frames])
        label = b.label(clip, plan, partner)  # before the fbank, as AVDataset does
        return MultiFrameSample(b.fbank(clip, plan, partner), images, label)
