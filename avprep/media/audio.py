"""Audio as the original wrote it: every channel resampled to 16 kHz by libswresample's defaults
(what ``ffmpeg -i clip -ar 16000 out.wav`` does), converted to 16-bit, then channel 0 copied out
(what ``sox in.wav out.wav remix 1`` does: no down-mix). :func:`write_wav` writes such a file;
:func:`read_pcm16` and :func:`read_audio` read it, or any other wav or libsndfile audio, back."""

from __future__ import annotations

import io
import os
import wave
from typing import List, Optional, Tuple, Union

import numpy as np

from avprep.atomic import write_bytes
from avprep.errors import MediaError
from avprep.layout import SAMPLE_RATE

PathLike = Union[str, "os.PathLike[str]"]


_DTYPES = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "s64": np.int64,
           "flt": np.float32, "dbl": np.float64}


def _channel0(frame) -> np.ndarray:
    """Channel 0 of a decoded audio frame as a ``(1, samples)`` array, read from its first plane
    (the whole of a planar frame's plane 0 is channel 0; a packed frame interleaves them)."""
    fmt = frame.format
    dtype = _DTYPES[fmt.name.rstrip("p")]
    plane = np.frombuffer(frame.planes[0], dtype=dtype)
    if fmt.is_planar:
        return plane[:frame.samples].reshape(1, -1)
    channels = frame.layout.nb_channels
    return plane[:frame.samples * channels:channels].reshape(1, -1)


class Channel0Resampler:
    """Feed decoded audio frames; :meth:`finish` returns channel 0 at 16 kHz as int16.

    Without a channel-layout change libswresample resamples each channel on its own, so
    resampling channel 0 alone gives the samples of resampling all channels and keeping channel 0,
    in a fraction of the time. Frames are gathered into chunks of about a second before
    resampling (the resampler is a stream: chunking changes no sample, only the per-call
    overhead). A change of the input format mid-stream flushes the resampler and starts a new one,
    as the ffmpeg command line reconfigures its filter graph.
    """

    def __init__(self, rate: int = SAMPLE_RATE):
        self.rate = rate
        self._resampler = None
        self._setup: Optional[tuple] = None
        self._pending: List[np.ndarray] = []
        self._pending_samples = 0
        self._chunks: List[np.ndarray] = []

    def _drain(self, frames) -> None:
        for out in frames:
            self._chunks.append(out.to_ndarray()[0].copy())

    def _resample_pending(self) -> None:
        import av

        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending, 1)
        fmt, _layout, rate = self._setup
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="mono")
        frame.sample_rate = rate
        self._pending, self._pending_samples = [], 0
        self._drain(self._resampler.resample(frame))

    def push(self, frame) -> None:
        """Take one decoded ``av.AudioFrame``."""
        import av

        setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        if setup != self._setup:
            if self._resampler is not None:
                self._resample_pending()
                self._drain(self._resampler.resample(None))
            self._resampler = av.AudioResampler(format="s16p", layout="mono", rate=self.rate)
            self._setup = setup
        data = _channel0(frame)
        self._pending.append(data)
        self._pending_samples += frame.samples
        if self._pending_samples >= frame.sample_rate:
            self._resample_pending()

    def finish(self) -> np.ndarray:
        """Flush and return all samples of channel 0 (int16, 1-D)."""
        if self._resampler is not None:
            self._resample_pending()
            self._drain(self._resampler.resample(None))
            self._resampler = None
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._chunks).astype(np.int16, copy=False)


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """The wav file of 16-bit PCM ``samples`` (channels interleaved): a plain 44-byte RIFF
    header, then the samples. What :func:`write_wav` writes and ``avprep unpack`` writes back."""
    data = np.ascontiguousarray(samples, dtype="<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data.tobytes())
    return buf.getvalue()


def write_wav(path: PathLike, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write mono 16-bit PCM ``samples`` to ``path`` atomically (:func:`wav_bytes`)."""
    write_bytes(path, wav_bytes(samples, rate))


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
    """The 16-bit samples of ``path`` as ``int16 [channels, samples]`` and the sample rate
    (``read_pcm16(path)[0][0]`` is channel 0, what :func:`write_wav` wrote).

    A plain 16-bit PCM wav is read with the standard library's ``wave``; anything else (FLAC,
    extensible wav headers) with libsndfile (``soundfile``). Raises :class:`MediaError` naming the
    file when it is missing, unreadable or not 16-bit PCM.
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


def read_audio(path: PathLike) -> Tuple[np.ndarray, int]:
    """The samples of ``path`` as ``[channels, samples]`` and the sample rate: int16 when the
    file is 16-bit PCM (as :func:`read_pcm16` reads it), else float32 scaled to [-1, 1) by
    libsndfile (8/24/32-bit PCM, float, FLAC). Raises :class:`MediaError` naming the file when it
    cannot be read.
    """
    path = os.fspath(path)
    _check_file(path)
    plain = _read_wave(path)
    if plain is not None:
        return plain
    if _soundfile_info(path).subtype == "PCM_16":
        return _soundfile_read(path, "int16")
    return _soundfile_read(path, "float32")
