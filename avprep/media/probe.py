"""What a container says about a clip, read the way the original extraction scripts read it.

The original frame script asked OpenCV for ``CAP_PROP_FPS`` and ``CAP_PROP_FRAME_COUNT``; OpenCV's
FFmpeg backend answers with the stream's average frame rate and its ``nb_frames``, or, when the
container does not store a frame count (WebM, Matroska), ``floor(duration * fps + 0.5)`` from the
container's duration. :func:`frame_schedule` turns those two numbers into the decoded frame indices
the original wrote, and the stream choosers pick the streams ``ffmpeg`` and OpenCV pick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

N_FRAMES = 10
_EPS = 0.000025  # below this OpenCV treats a rate or a duration as unknown
_FALLBACK_FPS = 25.0
_DEFAULT = 0x1  # AV_DISPOSITION_DEFAULT
_ATTACHED_PIC = 0x400  # AV_DISPOSITION_ATTACHED_PIC


def _disposition(stream) -> int:
    try:
        return int(stream.disposition)
    except (AttributeError, TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class VideoTiming:
    """Frame rate and frame count of a video stream as OpenCV reports them."""

    fps: float
    frame_count: int


def pick_video_stream(container) -> Optional[object]:
    """The video stream OpenCV reads: the first one that is not an attached cover picture."""
    for stream in container.streams.video:
        if _disposition(stream) & _ATTACHED_PIC:
            continue
        return stream
    return None


def pick_audio_stream(container) -> Optional[object]:
    """The audio stream ``ffmpeg -i`` maps by default: default-flagged first, then most channels."""
    best, best_key = None, None
    for stream in container.streams.audio:
        key = (bool(_disposition(stream) & _DEFAULT), stream.codec_context.channels or 0)
        if best is None or key > best_key:
            best, best_key = stream, key
    return best


def _rate(value) -> float:
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ZeroDivisionError):
        return 0.0


def video_timing(container, stream) -> VideoTiming:
    """The frame rate and frame count OpenCV's FFmpeg backend reports for ``stream``."""
    fps = _rate(stream.average_rate)
    if fps < _EPS:
        fps = _rate(stream.base_rate) or _rate(stream.guessed_rate) or _FALLBACK_FPS
    count = int(stream.frames or 0)
    if count <= 0:
        seconds = (container.duration or 0) / 1_000_000
        if seconds < _EPS and stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        count = int(math.floor(seconds * fps + 0.5)) if seconds > _EPS else 0
    return VideoTiming(fps=fps, frame_count=count)


def frame_schedule(fps: float, frame_count: int, n_frames: int = N_FRAMES) -> List[int]:
    """Decoded frame index written as frame i: ``max(int(i * (total / n)) - 1, 0)``.

    ``total = min(frame_count, int(fps * 10))``; an unknown count (0) samples the first 10 s. The
    float arithmetic is the original's, so indices agree where the product lands on an integer.
    """
    limit = int(fps * 10)
    total = min(frame_count, limit) if frame_count > 0 else limit
    return [max(int(i * (total / n_frames)) - 1, 0) for i in range(n_frames)]


def declared_seconds(container, stream) -> Optional[float]:
    """How long ``stream`` says it lasts: its own duration, else the container's (None: unknown)."""
    if stream is not None and stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
        if seconds > _EPS:
            return seconds
    if container.duration:
        return container.duration / 1_000_000
    return None
