"""Audio as the original wrote it: every channel resampled to 16 kHz by libswresample's defaults
(what ``ffmpeg -i clip -ar 16000 out.wav`` does), converted to 16-bit, then channel 0 copied out
(what ``sox in.wav out.wav remix 1`` does: no down-mix)."""

from __future__ import annotations

import io
import os
import wave
from typing import List, Optional, Union

import numpy as np

from avprep.atomic import write_bytes
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


def read_wav(path: PathLike) -> np.ndarray:
    """Read a mono 16-bit PCM wav written by :func:`write_wav` as int16."""
    with wave.open(os.fspath(path), "rb") as src:
        if src.getsampwidth() != 2:
            raise ValueError(f"{path}: not 16-bit PCM")
        data = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
        return data.reshape(-1, src.getnchannels())[:, 0].copy()
