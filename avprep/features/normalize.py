"""What the original loader does to a clip's fbank after computing it: pad or cut, normalize.

The original CAV-MAE loader removes the waveform's mean over all channels (Kaldi then uses channel
0), computes the fbank, zero-pads at the end or cuts to ``target_length`` frames (1024), and
normalizes as ``(fbank - mean) / std`` with the dataset statistics (mean -5.081, std 4.4849 for
both AudioSet and VGGSound). ``fbank_raw`` in the reference arrays is the padded, un-normalized
fbank; ``fbank`` the normalized one.
"""

from __future__ import annotations

import os
from typing import Union

import torch

from avprep.constants import NORM_MEAN, NORM_STD, TARGET_LENGTH
from avprep.features.kaldi import fbank
from avprep.features.wav import load_wav

PathLike = Union[str, "os.PathLike[str]"]


def remove_mean(waveform: torch.Tensor) -> torch.Tensor:
    """``waveform - waveform.mean()``: the mean over every channel and sample, as the original."""
    return waveform - waveform.mean()


def wav_fbank(path: PathLike) -> torch.Tensor:
    """The un-padded, un-normalized fbank ``[frames, 128]`` of a wav file, as the original has it.

    Load (:func:`avprep.features.load_wav`), remove the mean over all channels, fbank of channel 0.
    Raises :class:`avprep.errors.MediaError` naming the file when it cannot be read.
    """
    waveform, rate = load_wav(path)
    return fbank(remove_mean(waveform), rate)


def pad_or_cut(fb: torch.Tensor, target_length: int = TARGET_LENGTH) -> torch.Tensor:
    """Zero-pad ``fb [frames, bins]`` at the end, or keep its first ``target_length`` frames."""
    frames = fb.shape[0]
    if frames == target_length:
        return fb
    if frames > target_length:
        return fb[:target_length]
    pad = torch.zeros((target_length - frames, fb.shape[1]), dtype=fb.dtype, device=fb.device)
    return torch.cat((fb, pad), dim=0)


def normalize(fb: torch.Tensor, mean: float = NORM_MEAN, std: float = NORM_STD) -> torch.Tensor:
    """``(fb - mean) / std``, the original's input normalization."""
    return (fb - mean) / std


def denormalize(fb: torch.Tensor, mean: float = NORM_MEAN, std: float = NORM_STD) -> torch.Tensor:
    """The inverse of :func:`normalize` (for display and for comparing in log-mel units)."""
    return fb * std + mean
