"""Read wav (and other libsndfile) audio as the original loader's ``torchaudio.load`` gives it.

``torchaudio.load`` returns a float32 tensor ``[channels, samples]`` scaled to [-1, 1): 16-bit PCM
divided by 32768. It needs extra packages to work at all in recent versions, so avprep reads the
file with libsndfile (``soundfile``) and applies the same scaling, bit for bit.
"""

from __future__ import annotations

import os
from typing import Tuple, Union

import numpy as np
import torch

from avprep.errors import MediaError

PathLike = Union[str, "os.PathLike[str]"]

PCM16_SCALE = 32768.0


def read_pcm16(path: PathLike) -> Tuple[np.ndarray, int]:
    """The 16-bit samples of ``path`` as ``int16 [channels, samples]`` and the sample rate.

    Raises :class:`MediaError` naming the file when it is missing, unreadable or not 16-bit PCM.
    """
    import soundfile as sf

    path = os.fspath(path)
    info = _info(path)
    if info.subtype != "PCM_16":
        raise MediaError(f"expected 16-bit PCM audio, got {info.subtype}", path=path, stage="read")
    try:
        data, rate = sf.read(path, dtype="int16", always_2d=True)
    except Exception as err:  # libsndfile reports damaged files with several exception types
        raise MediaError(f"cannot read audio: {err}", path=path, stage="read") from err
    return np.ascontiguousarray(data.T), int(rate)


def pcm16_to_float(pcm: np.ndarray) -> torch.Tensor:
    """int16 samples -> float32 tensor scaled as ``torchaudio.load`` scales them (x / 32768)."""
    # int16 -> float32 and division by a power of two are exact, so numpy and torch agree bit for
    # bit; numpy also accepts read-only views such as a memory-mapped pack's samples.
    return torch.from_numpy(np.asarray(pcm, dtype=np.int16).astype(np.float32) / np.float32(PCM16_SCALE))


def load_wav(path: PathLike) -> Tuple[torch.Tensor, int]:
    """Load ``path`` as ``(float32 tensor [channels, samples], sample_rate)``.

    The values equal what ``torchaudio.load(path)`` returns: 16-bit PCM divided by 32768 exactly;
    other encodings (8/24/32-bit PCM, float) scaled to [-1, 1) by libsndfile. Raises
    :class:`MediaError` naming the file when it cannot be read.
    """
    import soundfile as sf

    path = os.fspath(path)
    info = _info(path)
    if info.subtype == "PCM_16":
        pcm, rate = read_pcm16(path)
        return pcm16_to_float(pcm), rate
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as err:
        raise MediaError(f"cannot read audio: {err}", path=path, stage="read") from err
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(rate)


def _info(path: str):
    import soundfile as sf

    if not os.path.exists(path):
        raise MediaError("audio file not found", path=path, stage="read")
    if os.path.isdir(path):
        raise MediaError("audio path is a folder, not a file", path=path, stage="read")
    try:
        info = sf.info(path)
    except Exception as err:
        raise MediaError(f"not a readable audio file: {err}", path=path, stage="read") from err
    if info.frames < 0 or info.channels < 1:
        raise MediaError("audio file has no channels", path=path, stage="read")
    return info
