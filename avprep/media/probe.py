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

from avprep.layout import N_FRAMES

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


@dataclass(frozen=True)
class PacketInfo:
    """What the demuxer says about one video packet."""

    pts: Optional[int]
    dts: Optional[int]
    keyframe: bool
    discard: bool = False  # before an edit list's start: decoded, never output


def _c_int(value: float) -> int:
    """C's ``(int64_t)value``: truncation toward zero."""
    return int(math.trunc(value))


def opencv_positions(packets: List[PacketInfo], schedule: List[int], fps: float,
                     time_base: float, start: int, index_by_pts: bool) -> Optional[List[int]]:
    """Decoded frame positions OpenCV's seek-and-read returns for ``schedule``, or None when
    they are the schedule itself (regular timestamps) or cannot be modelled.

    OpenCV numbers frames by timestamp at the keyframe a seek lands on (``fps * seconds``,
    rounded as C does) and counts decoded frames from there. With regular timestamps that is the
    decoded position; with gaps or a variable rate it is not, and this replays its seek: target
    ``t`` seeks backwards to the keyframe at or before frame ``t - delta`` (delta 16, grown while
    the keyframe's number is past ``t - 1``), reads on to ``t - 1`` and returns the next frame.
    ``packets`` are in demux order; each is assumed to decode to one frame, output in pts order.
    """
    if not packets or any(p.pts is None for p in packets):
        return None
    # frames an edit list hides: where a seek lands among them is not modelled, so such clips
    # keep the schedule whatever their timestamps (regular ones, the usual case, need no model)
    if any(p.discard for p in packets):
        return None
    if not index_by_pts and any(p.dts is None for p in packets):
        return None
    order = sorted(range(len(packets)), key=lambda k: packets[k].pts)
    position = {k: rank for rank, k in enumerate(order)}
    if len({p.pts for p in packets}) != len(packets):
        return None

    def pts_of(k: int) -> int:
        return packets[k].pts

    def number(ts: int) -> int:
        return _c_int(fps * ((ts - start) * time_base) + 0.5)

    first = number(pts_of(order[0]))
    if all(number(pts_of(k)) - first == position[k] for k in range(len(packets))):
        return None
    keys = [k for k in range(len(packets)) if packets[k].keyframe]
    if not keys:
        return None
    seek_ts = [(packets[k].pts if index_by_pts else packets[k].dts) for k in keys]

    def land(ts: int) -> int:
        best = keys[0]
        for k, kts in zip(keys, seek_ts):
            if kts <= ts:
                best = k
            else:
                break
        return best

    out = []
    for target in schedule:
        t = target  # the original sets position idx - 1; ``schedule`` already holds idx - 1
        if t <= 0:
            out.append(position[land(start)])
            continue
        delta = 16
        while True:
            temp = max(t - delta, 0)
            ts = start + _c_int(temp / fps / time_base + 0.5)
            k = land(ts)
            if t == 1:
                out.append(position[k] + 1)
                break
            fn = number(pts_of(k)) - first
            if fn < 0 or fn > t - 1:
                if temp == 0:
                    out.append(position[k] + 1)
                    break
                delta = delta * 2 if delta < 16 else delta * 3 // 2
                continue
            out.append(position[k] + (t - fn))
            break
    return out
