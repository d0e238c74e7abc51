"""Read wav (and other libsndfile) audio as the original loader's ``torchaudio.load`` gives it.

``torchaudio.load`` returns a float32 tensor ``[channels, samples]`` scaled to [-1, 1): 16-bit PCM
divided by 32768. It needs extra packages to work at all in recent versions, so avprep reads
16-bit PCM wav files with the standard library's ``wave`` and anything else (FLAC, 24-bit,
float, extensible wav headers) with libsndfile (``soundfile``), and applies the same scaling,
bit for bit.
"""

from __future__ import annotations

import os
import wave
from typing import Optional, Tuple, Union

import numpy as np
import torch

from avprep.errors import MediaError

PathLike = Union[str, "os.PathLike[str]"]

PCM16_SCALE = 32768.0


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise MediaError("audio file not found", path=path, stage="read")
    if os.path.isdir(path):
        raise MediaError("audio path is a folder, not a file", path=path, stage="read")


def _read_wave(path: str) -> Optional[Tuple[np.ndarray, int]]:
    """int16 ``[channels, samples]`` of a plain 16-bit PCM wav; None for anything else."""
    try:
        with wave.open(path, "rb") as fh:
            if fh.getsampwidth() != 2 or fh.getcomptype() != "NONE":
                return None
            channels, rate = fh.getnchannels(), fh.getframerate()
            raw = fh.readframes(fh.getnframes())
    except (wave.Error, EOFError):
        return None
    except OSError as err:
        raise MediaError(f"cannot read audio: {err.strerror or err}", path=path,
                         stage="read") from None
    usable = len(raw) - len(raw) % (2 * channels)
    if usable != len(raw):
        raise MediaError("wav data ends in the middle of a sample frame", path=path, stage="read")
    pcm = np.frombuffer(raw, dtype="<i2").reshape(-1, channels).T
    return np.ascontiguousarray(pcm, dtype=np.int16), rate


def _soundfile_info(path: str):
    try:
        import soundfile as sf
    except ImportError:
        raise MediaError("not a 16-bit PCM wav, and soundfile (needed for other formats) is "
                         "not installed", path=path, stage="read") from None
    try:
        return sf.info(path)
    except Exception as err:  # libsndfile reports damaged files with several exception types
        raise MediaError(f"not a readable audio file: {err}", path=path, stage="read") from None


def _soundfile_read(path: str, dtype: str) -> Tuple[np.ndarray, int]:
    """``[channels, samples]`` of ``dtype`` and the sample rate, read by libsndfile."""
    import soundfile as sf

    try:
        data, rate = sf.read(path, dtype=dtype, always_2d=True)
    except Exception as err:
        raise MediaError(f"cannot read audio: {err}", path=path, stage="read") from err
    return np.ascontiguousarray(data.T), int(rate)


def read_pcm16(path: PathLike) -> Tuple[np.ndarray, int]:
    """The 16-bit samples of ``path`` as ``int16 [channels, samples]`` and the sample rate.

    Raises :class:`MediaError` naming the file when it is missing, unreadable or not 16-bit PCM.
    """
    path = os.fspath(path)
    _check_file(path)
    plain = _read_wave(path)
    if plain is not None:
        return plain
    info = _soundfile_info(path)
    if info.subtype != "PCM_16":
        raise MediaError(f"expected 16-bit PCM audio, got {info.subtype}", path=path, stage="read")
    return _soundfile_read(path, "int16")


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
    :class:`MediaError` naming the file when it cannot be read.
    """
    path = os.fspath(path)
    _check_file(path)
    plain = _read_wave(path)
    if plain is not None:
        return pcm16_to_float(plain[0]), plain[1]
    if _soundfile_info(path).subtype == "PCM_16":
        pcm, rate = _soundfile_read(path, "int16")
        return pcm16_to_float(pcm), rate
    data, rate = _soundfile_read(path, "float32")
    return torch.from_numpy(data), rate
