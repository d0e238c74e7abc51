"""Synthesize small audio-visual clips with the ffmpeg binary that imageio-ffmpeg ships.

Used by the sample folder (:mod:`avprep.synth.samples`), the tests and the benchmarks, so that
none needs a system ffmpeg nor a download. Each channel carries its own tone, so channel 0 and a
down-mix differ.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional, Sequence, Union

import imageio_ffmpeg

from avprep.atomic import atomic_path

PathLike = Union[str, "os.PathLike[str]"]

_VIDEO_ARGS = {
    "libx264": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    "libvpx-vp9": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k",
                   "-pix_fmt", "yuv420p"],
    "libsvtav1": ["-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p"],
    "mpeg4": ["-c:v", "mpeg4", "-q:v", "5"],
}
_AUDIO_ARGS = {
    "aac": ["-c:a", "aac", "-b:a", "96k"],
    "libopus": ["-c:a", "libopus", "-b:a", "64k"],
    "libvorbis": ["-c:a", "libvorbis", "-q:a", "3"],
    "libmp3lame": ["-c:a", "libmp3lame", "-b:a", "96k"],
    "pcm_s16le": ["-c:a", "pcm_s16le"],
}


def ffmpeg_exe() -> str:
    """Path of the packaged ffmpeg binary."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(path: PathLike, duration: float = 10.0, width: int = 320, height: int = 240,
              fps: float = 25, vcodec: Optional[str] = "libx264", acodec: Optional[str] = "aac",
              channels: int = 2, sample_rate: int = 44100, tone: float = 440.0,
              pattern: str = "testsrc2", extra_args: Sequence[str] = ()) -> Path:
    """Write a clip to ``path`` and return it; ``vcodec=None`` or ``acodec=None`` omits that stream.

    ``pattern`` is an ffmpeg video test source (``testsrc2``, ``smptebars``, ``mandelbrot``, ...);
    channel k of the audio is a sine at ``tone * (1 + k / 2)`` Hz with a little deterministic noise.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if vcodec is None and acodec is None:
        raise ValueError("a clip needs at least one stream")
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    if vcodec is not None:
        source = f"{pattern}=size={width}x{height}:rate={fps}:duration={duration}"
        cmd += ["-f", "lavfi", "-i", source]
    if acodec is not None:
        exprs = "|".join(f"0.4*sin(2*PI*{tone * (1 + k / 2):.3f}*t)+0.02*(random({k})-0.5)"
                         for k in range(channels))
        cmd += ["-f", "lavfi", "-i", f"aevalsrc={exprs}:s={sample_rate}:d={duration}"]
    if vcodec is not None:
        cmd += _VIDEO_ARGS.get(vcodec, ["-c:v", vcodec])
    if acodec is not None:
        cmd += _AUDIO_ARGS.get(acodec, ["-c:a", acodec])
    env = dict(os.environ, SVT_LOG="1")  # SVT-AV1 is chatty on stderr otherwise
    with atomic_path(path) as tmp:  # the temporary name keeps the extension ffmpeg muxes by
        subprocess.run(cmd + list(extra_args) + [os.fspath(tmp)], check=True,
                       stdin=subprocess.DEVNULL, env=env)
    return path
