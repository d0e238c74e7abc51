"""The trimmed clip: the first 10 s of a video as ``<folder>/<id>.mp4``
(:func:`avprep.layout.clip_path`), for loaders that decode on the fly.

By default the streams are copied as they are (the video stream OpenCV reads and the audio stream
``ffmpeg`` maps, as extraction picks them): no re-encoding, cut at the packets around 10 s. A
video codec that MP4 cannot hold is re-encoded (H.264), an audio codec that MP4 cannot hold is
encoded as AAC. Asking for a GOP (``gop``: a keyframe every ``gop`` frames, exactly, so a decoder
can seek to any frame cheaply) or a shorter side (``size``) re-encodes the video with H.264. The
packaged ffmpeg does the work; the clip is written to a temporary name, checked with PyAV (a video
stream, some length) and renamed into place.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Union

from avprep.atomic import atomic_path
from avprep.errors import InputError, MediaError

PathLike = Union[str, "os.PathLike[str]"]

#: seconds kept: the span the original pipeline samples its frames from
CLIP_SECONDS = 10.0
#: video codecs (PyAV names) an MP4 holds, copied as they are unless re-encoding is asked for
MP4_VIDEO = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})
#: audio codecs an MP4 holds, copied as they are
MP4_AUDIO = frozenset({"aac", "mp3", "opus", "ac3", "eac3", "alac", "flac"})
#: H.264 settings of a re-encoded clip: visually lossless at these sizes, fast
H264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p")
AAC = ("-c:a", "aac", "-b:a", "192k")
#: seconds one ffmpeg run may take (a 10-s clip re-encodes in far less)
FFMPEG_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ClipKeep:
    """Where the trimmed clips go and how: ``gop`` frames between keyframes and ``size`` pixels
    on the shorter side (even), each None to keep the source's (stream copy when both are)."""

    folder: str
    gop: Optional[int] = None
    size: Optional[int] = None
    seconds: float = CLIP_SECONDS

    def __post_init__(self) -> None:
        if self.gop is not None and self.gop < 1:
            raise InputError(f"the clip GOP must be 1 frame or more, got {self.gop}")
        if self.size is not None and (self.size < 2 or self.size % 2):
            raise InputError(f"the clip size must be an even number of pixels, got {self.size}")
        if not self.seconds > 0:
            raise InputError(f"the clip length must be positive, got {self.seconds}")

    @property
    def reencode(self) -> bool:
        """Whether the video is re-encoded whatever its codec."""
        return self.gop is not None or self.size is not None


def _streams(path: str):
    """(video stream index, video codec, audio stream index or None, audio codec or None)."""
    import av

    from avprep.media import probe

    with av.open(path, mode="r", metadata_errors="ignore") as container:
        video = probe.pick_video_stream(container)
        if video is None:
            raise MediaError("no video stream", path, stage="clip")
        audio = probe.pick_audio_stream(container)
        return (video.index, video.codec_context.name, None if audio is None else audio.index,
                None if audio is None else audio.codec_context.name)


def clip_command(source: str, out: PathLike, keep: ClipKeep, video: int, vcodec: str,
                 audio: Optional[int], acodec: Optional[str]) -> List[str]:
    """The ffmpeg command writing the first ``keep.seconds`` of ``source`` to ``out`` (MP4)."""
    from avprep.synth import ffmpeg_exe

    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
            "-i", source, "-t", f"{keep.seconds:.3f}", "-map", f"0:{video}"]
    if audio is not None:
        args += ["-map", f"0:{audio}"]
    args += ["-sn", "-dn"]
    if keep.reencode or vcodec not in MP4_VIDEO:
        args += list(H264)
        if keep.gop is not None:  # a keyframe every gop frames, none in between
            args += ["-g", str(keep.gop), "-keyint_min", str(keep.gop), "-sc_threshold", "0"]
        if keep.size is not None:  # the shorter side to size, the longer kept even
            s = keep.size
            args += ["-vf", f"scale='if(lte(iw,ih),{s},-2)':'if(lte(iw,ih),-2,{s})'"]
    else:
        args += ["-c:v", "copy"]
    if audio is not None:
        args += ["-c:a", "copy"] if acodec in MP4_AUDIO else list(AAC)
    return args + ["-map_metadata", "-1", "-f", "mp4", os.fspath(out)]


def _check(path: Path, source: str) -> None:
    import av

    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                raise MediaError("the trimmed clip has no video stream", source, stage="clip")
            if not container.duration:
                raise MediaError("the trimmed clip is empty", source, stage="clip")
    except av.FFmpegError as err:
        raise MediaError(f"the trimmed clip cannot be read back: {err}", source,
                         stage="clip") from None


def keep_clip(source: PathLike, dest: PathLike, keep: ClipKeep) -> Path:
    """Write the first ``keep.seconds`` of ``source`` to ``dest`` as MP4, atomically; return
    ``dest``. :class:`MediaError` (stage ``clip``) when ffmpeg fails or the result is unusable;
    nothing is left under ``dest`` then."""
    import av

    source = os.fspath(source)
    dest = Path(dest)
    try:
        video, vcodec, audio, acodec = _streams(source)
    except av.FFmpegError as err:
        raise MediaError(f"cannot open: {err}", source, stage="clip") from None
    with atomic_path(dest) as tmp:
        cmd = clip_command(source, tmp, keep, video, vcodec, audio, acodec)
        try:
            run = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                 timeout=FFMPEG_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise MediaError(f"ffmpeg took more than {FFMPEG_TIMEOUT_S:.0f} s", source,
                             stage="clip") from None
        if run.returncode != 0:
            lines = [ln.strip() for ln in run.stderr.decode("utf-8", "replace").splitlines()
                     if ln.strip()]
            raise MediaError(f"ffmpeg exited with {run.returncode}: "
                             f"{lines[-1][:200] if lines else 'no message'}", source,
                             stage="clip")
        _check(tmp, source)
    return dest


__all__ = ["CLIP_SECONDS", "ClipKeep", "clip_command", "keep_clip"]
