"""``MultiFrameDataset``: every clip's fbank once with several of its frames, for evaluation.

The frame-averaged evaluation scores each clip once per frame (all the frames the data has, ten
by default) with the same audio, or with each frame's own audio window (``audio_window``). Building one
eval-mode Dataset per frame reads each wav and computes its Kaldi fbank once per frame; this
wrapper computes them once per clip and stacks the frames, through the wrapped Dataset's own
implementation (the same fbank, images and label, bit for bit, as the per-frame Datasets give).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, NamedTuple, Optional

import torch
from torch.utils.data import Dataset

from avprep.data.avdataset import AVDataset
from avprep.data.builder import finish_fbank
from avprep.errors import InputError


class MultiFrameSample(NamedTuple):
    """One clip: fbank ``[target_length, bins]`` (with an audio window, one per frame:
    ``[F, audio_window, bins]``), its frames ``[F, 3, res, res]`` in the order asked for, label
    ``[classes]`` (all float32)."""

    fbank: torch.Tensor
    images: torch.Tensor
    label: torch.Tensor


class MultiFrameDataset(Dataset):
    """An eval-mode ``AVDataset`` (or ``AudiosetDataset``) with several frames per item.

    ``dataset[i]`` is :class:`MultiFrameSample` ``(fbank, images, label)`` where ``fbank`` and
    ``label`` are those of the wrapped dataset's item ``i`` and ``images[k]`` is its item ``i``
    as it would be with ``frame_use = frames[k]`` (``frames`` None: every frame of
    ``range(config.total_frame)``). With ``audio_window`` set, ``fbank[k]`` is frame
    ``frames[k]``'s window, as the wrapped dataset's item with that frame. Missing frames are handled as the wrapped
    dataset does (strict: ``MediaError``; lenient: the lower frame or the constant image).

    The wrapped dataset must be in eval mode with no random augmentation (mixup, SpecAugment
    masks, noise) and not in ``batch_fbank`` mode: ``InputError`` otherwise. A DataLoader batch
    of ``B`` items holds ``B * len(frames)`` images.
    """

    def __init__(self, dataset: AVDataset, frames: Optional[Iterable[int]] = None):
        if not isinstance(dataset, AVDataset):
            raise InputError(f"MultiFrameDataset wraps an AVDataset or AudiosetDataset, "
                             f"not {type(dataset).__name__}")
        cfg = dataset.config
        self.frames = tuple(int(f) for f in (frames if frames is not None
                                              else range(cfg.frame_count)))
        if not self.frames:
            raise InputError("MultiFrameDataset needs at least one frame")
        bad = [f for f in self.frames if not 0 <= f < cfg.frame_count]
        if bad:
            raise InputError(f"frames {bad} are not frame indices below {cfg.frame_count}")
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
        if self.dataset.config.audio_window is None:
            return MultiFrameSample(b.fbank(clip, plan, partner), images, label)
        raw = b.raw_fbank(clip, plan, partner)
        fbanks = torch.stack([finish_fbank(b.config, raw, dataclasses.replace(plan, frame=f))
                              for f in self.frames])
        return MultiFrameSample(fbanks, images, label)
