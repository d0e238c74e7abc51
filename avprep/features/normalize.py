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

from avprep.constants import NORM_MEAN, NORM_STD, NUM_MEL_BINS, TARGET_LENGTH
from avprep.features.kaldi import fbank, num_frames
from avprep.features.wav import load_wav

PathLike = Union[str, "os.PathLike[str]"]


def remove_mean(waveform: torch.Tensor) -> torch.Tensor:
    """``waveform - waveform.mean()``: the mean over every channel and sample, as the original."""
    return waveform - waveform.mean()


def centred_fbank(waveform: torch.Tensor, sample_rate: float = 16000,
                  num_mel_bins: int = NUM_MEL_BINS) -> torch.Tensor:
    """The un-padded, un-normalized fbank ``[frames, num_mel_bins]`` of a clip, as the original
    loader computes it: remove the waveform's mean over every channel and sample, then the Kaldi
    fbank of channel 0 (:func:`avprep.features.fbank`; torchaudio's for another bin count).

    ``[0, num_mel_bins]`` when the clip is shorter than one 25 ms window.
    """
    waveform = remove_mean(waveform)
    if num_mel_bins == NUM_MEL_BINS:
        return fbank(waveform, sample_rate)
    if num_frames(waveform.shape[-1], sample_rate) == 0:
        return torch.zeros((0, num_mel_bins))
    import torchaudio

    return torchaudio.compliance.kaldi.fbank(
        waveform, htk_compat=True, sample_frequency=sample_rate, use_energy=False,
        window_type="hanning", num_mel_bins=num_mel_bins, dither=0.0, frame_shift=10)


def wav_fbank(path: PathLike) -> torch.Tensor:
    """The un-padded, un-normalized fbank ``[frames, 128]`` of a wav file, as the original has it:
    :func:`centred_fbank` of the file (:func:`avprep.features.load_wav`).

    Raises :class:`avprep.errors.MediaError` naming the file when it cannot be read.
    """
    return centred_fbank(*load_wav(path))


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
