"""Read wav (and other libsndfile) audio as the original loader's ``torchaudio.load`` gives it.

``torchaudio.load`` returns a float32 tensor ``[channels, samples]`` scaled to [-1, 1): 16-bit PCM
divided by 32768. It needs extra packages to work at all in recent versions, so avprep reads
16-bit PCM wav files with the standard library's ``wave`` and anything else (FLAC, 24-bit,
float, extensible wav headers) with libsndfile (``soundfile``), both through
:func:`avprep.media.audio.read_audio`, and applies the same scaling, bit for bit.
"""

from __future__ import annotations

import os
from typing import Tuple, Union

import numpy as np
import torch

from avprep.media.audio import read_audio

PathLike = Union[str, "os.PathLike[str]"]

PCM16_SCALE = 32768.0


def pcm16_to_float(pcm: np.ndarray) -> torch.Tensor:
    """int16 samples -> float32 tensor scaled as ``torchaudio.load`` scales them (x / 32768)."""
    # int16 -> float32 and division by a power of two are exact, so numpy and torch agree bit for
    # bit; numpy also accepts read-only views such as a memory-mapped pack's samples.
    samples = np.asarray(pcm, dtype=np.int16).astype(np.float32)
    return torch.from_numpy(samples / np.float32(PCM16_SCALE))


def load_wav(path: PathLike) -> Tuple[torch.Tensor, int]:
    """Load ``path`` as ``(float32 tensor [channels, samples], sample_rate)``.

    The values equal what ``torchaudio.load(path)`` returns: 16-bit PCM divided by 32768 exactly;
    other encodings (8/24/32-bit PCM, float, FLAC) scaled to [-1, 1) by libsndfile. Raises
    :class:`avprep.errors.MediaError` naming the file when it cannot be read.
    """
    data, rate = read_audio(path)
    if data.dtype == np.int16:
        return pcm16_to_float(data), rate
    return torch.from_numpy(data), rate
