"""Cut one segment out of the chosen media URLs with the packaged ffmpeg, into a temporary file.

ffmpeg seeks with HTTP Range requests, so only the bytes around the segment are transferred.
``exact`` (the default) makes the clip cover ``[start, end]`` to a frame whatever the source's
keyframes: it re-encodes (H.264) only from the start to the next keyframe and copies the rest
where the source allows (:mod:`avprep.download.smartcut`: H.264 with closed GOPs, measured 3-4x
less CPU), else it decodes from the keyframe before the start and re-encodes the whole segment.
``keyframe`` copies the streams as they are: no re-encoding, but the file holds the video from the
keyframe before the start (players that honour the MP4 edit list, ffmpeg and PyAV among them,
still start at the segment). Audio is copied in both modes when MP4 can hold it (AAC, Opus, MP3),
so it keeps the source's samples; else it is encoded as AAC.

The result is checked with PyAV (a video and an audio stream, the segment's length) before the
caller renames it into place.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from avprep.download.outcomes import TRANSIENT, UNAVAILABLE, Failure, classify_ffmpeg
from avprep.download.segments import Segment
from avprep.download.smartcut import smart_cut
from avprep.download.source import Stream
from avprep.synth import ffmpeg_exe

CUTS = ("exact", "keyframe")
#: how far the clip may fall short of the segment's length (exactness is within 0.1 s per end)
LENGTH_SLACK = 0.2
#: a segment may end this far past the video's end (AudioSet rounds ends to the second): the clip
#: then ends with the video
END_SLACK = 0.5
#: x264 settings for ``exact``: visually lossless at these sizes, fast
EXACT_VIDEO = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p")
AAC = ("-c:a", "aac", "-b:a", "192k")
_MP4_AUDIO = ("mp4a", "aac", "opus", "mp3", "mp4a.40.2", "?")
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")


@dataclass
class CutResult:
    """A clip cut to ``path``: the seconds it covers and what was done."""

    path: Path
    duration: float
    note: str


def source_duration(stderr: str) -> Optional[float]:
    """The first input's duration from ffmpeg's log, or None."""
    match = _DURATION.search(stderr)
    if not match:
        return None
    h, m, s = match.groups()
    return int(h) * 3600 + int(m) * 60 + float(s)


def choose_inputs(streams: Sequence[Stream]) -> Tuple[int, int]:
    """The indices of the stream to take the video from and of the one to take the audio from:
    a separate audio format (``bv*+ba``) wins over the audio inside a combined video format."""
    video = next(i for i, s in enumerate(streams) if s.vcodec)
    audio = next((i for i, s in enumerate(streams) if s.acodec and not s.vcodec),
                 next(i for i, s in enumerate(streams) if s.acodec))
    return video, audio


def audio_args(stream: Stream, encode: bool = False) -> List[str]:
    """Copy the audio when MP4 can hold it (and ``encode`` is not asked), else AAC."""
    codec = (stream.acodec or "").split(".")[0].lower()
    copy = not encode and (codec in _MP4_AUDIO or stream.acodec in _MP4_AUDIO)
    return ["-c:a", "copy"] if copy else list(AAC)


def ffmpeg_command(streams: Sequence[Stream], seg: Segment, out: Path, cut: str,
                   timeout: float = 30.0, encode_audio: bool = False,
                   length: Optional[float] = None) -> List[str]:
    """The ffmpeg command that writes ``seg`` of ``streams`` to ``out`` (MP4) in one pass:
    ``exact`` re-encodes the whole segment's video, ``keyframe`` copies it."""
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-y"]
    video, audio = choose_inputs(streams)
    used = sorted({video, audio})
    video_input, audio_input = used.index(video), used.index(audio)
    for stream in (streams[i] for i in used):
        args += stream.ffmpeg_input_args(timeout)
        args += ["-ss", f"{seg.start:.3f}", "-t", f"{length or seg.duration:.3f}",
                 "-i", stream.url]
    args += ["-map", f"{video_input}:v:0", "-map", f"{audio_input}:a:0", "-sn", "-dn"]
    args += list(EXACT_VIDEO) if cut == "exact" else ["-c:v", "copy"]
    args += audio_args(streams[audio], encode_audio)
    return args + ["-map_metadata", "-1", "-f", "mp4", os.fspath(out)]


def _failure_of(stderr: str, code: int) -> Failure:
    low = stderr.lower()
    if "matches no streams" in low:  # ffmpeg does not say which map: see what the input has
        kind = "video" if not re.search(r"stream #\d+:\d+.*: video:", low) else "audio"
        return Failure(UNAVAILABLE, f"no {kind} stream")
    return classify_ffmpeg(stderr) or Failure(
        TRANSIENT, f"ffmpeg exited with {code}: {_last_line(stderr)}")


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no message"


def _check(path: Path, want: float) -> float:
    """The seconds the written clip covers; :class:`Failure` when it lacks a stream or length."""
    import av

    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                raise Failure(UNAVAILABLE, "no video stream")
            if not container.streams.audio:
                raise Failure(UNAVAILABLE, "no audio stream")
            duration = (container.duration or 0) / av.time_base
    except av.FFmpegError as err:
        raise Failure(TRANSIENT, f"unreadable result: {err}") from None
    if duration < want - LENGTH_SLACK:
        raise Failure(TRANSIENT, f"truncated transfer: {duration:.2f} s of {want:.2f} s")
    return duration


def _smart(streams: Sequence[Stream], seg: Segment, out: Path, length: float, timeout: float,
           env: Optional[dict]) -> Optional[CutResult]:
    """The exact cut that re-encodes only the head (:mod:`avprep.download.smartcut`), checked;
    None when it does not apply or its result falls short (the caller then re-encodes)."""
    video, audio = choose_inputs(streams)
    done = smart_cut(streams, video, audio, seg, length, out, audio_args(streams[audio]),
                     timeout, env)
    if done is None:
        return None
    log, key = done
    try:
        got = _check(out, length)
    except Failure:
        return None
    return CutResult(out, got, f"cut exact [{seg.start:.3f}, {seg.start + length:.3f}] s "
                               f"(re-encoded up to the keyframe at {key:.3f} s, copied after)")


def _length_within(seg: Segment, duration: float, length: float) -> float:
    """``length`` cut to what a video of ``duration`` seconds holds from ``seg.start``; a
    :class:`Failure` (unavailable) when the segment starts past its end or ends more than
    :data:`END_SLACK` after it."""
    if seg.start >= duration:
        raise Failure(UNAVAILABLE, f"segment starts at {seg.start:g} s, past the video's end "
                                   f"({duration:g} s)")
    if seg.end > duration + END_SLACK:
        raise Failure(UNAVAILABLE, f"segment ends at {seg.end:g} s, past the video's end "
                                   f"({duration:g} s)")
    return min(length, duration - seg.start)


def cut_segment(streams: Sequence[Stream], seg: Segment, out: Path, cut: str = "exact",
                known_duration: Optional[float] = None, timeout: float = 30.0,
                proxy: Optional[str] = None, smart: bool = True) -> CutResult:
    """Write ``seg`` to ``out`` (a temporary path); raise :class:`Failure` on any failure,
    leaving ``out`` for the caller to remove. ``smart``: for ``exact``, re-encode only up to
    the first keyframe where the source allows (H.264, closed GOPs), else the whole segment."""
    if cut not in CUTS:
        raise ValueError(f"cut must be one of {CUTS}")
    length = seg.duration
    if known_duration is not None:
        length = _length_within(seg, known_duration, length)
    env = None
    if proxy:
        env = dict(os.environ, http_proxy=proxy, HTTP_PROXY=proxy)
    if cut == "exact" and smart:
        done = _smart(streams, seg, out, length, timeout, env)
        if done is not None:
            return done
    encode_audio = False
    for _attempt in range(2):
        cmd = ffmpeg_command(streams, seg, out, cut, timeout, encode_audio, length)
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=env, timeout=timeout * 4 + 60)
        stderr = proc.stderr.decode("utf-8", "replace")
        if proc.returncode != 0 and "not currently supported in container" in stderr \
                and not encode_audio:
            encode_audio = True
            continue
        break
    src = source_duration(stderr)
    if src is not None and known_duration is None:
        length = _length_within(seg, src, length)
    if proc.returncode != 0:
        raise _failure_of(stderr, proc.returncode)
    problem = classify_ffmpeg(stderr)  # ffmpeg exits 0 after a body cut off mid-transfer
    if problem is not None:
        raise problem
    got = _check(out, length)
    if cut == "exact":
        note = f"cut exact [{seg.start:.3f}, {seg.start + length:.3f}] s"
    else:
        note = (f"cut keyframe (stream copy) [{seg.start:.3f}, {seg.start + length:.3f}] s: the "
                "file may start up to one GOP earlier (players honouring the MP4 edit list "
                "start at the segment)")
    if length < seg.duration - 0.05:
        note += f"; the video ends at {seg.start + length:.3f} s"
    return CutResult(out, got, note)
