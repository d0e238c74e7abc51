"""The cheaper exact cut: re-encode only from the segment's start to the next keyframe, copy the
rest of the video as it is, then join the two.

For H.264 sources with closed GOPs (each keyframe starts a GOP that needs nothing before it). The
two parts are joined as MPEG-TS, where each part carries its own parameter sets (SPS/PPS) in the
stream, so the copied part decodes with the source encoder's settings and the re-encoded head with
x264's. Anything else (another codec, an open GOP, no keyframe inside the segment, any error)
returns None and the caller re-encodes the whole segment.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from avprep.download.segments import Segment
from avprep.download.source import Stream
from avprep.synth import ffmpeg_exe

#: packets after a keyframe inspected for an open GOP (a frame shown before the keyframe)
_GOP_CHECK_PACKETS = 16


def next_keyframe(stream: Stream, start: float, end: float,
                  timeout: float) -> Optional[Tuple[float, int]]:
    """The time of the first keyframe at or after ``start`` and before ``end`` of an H.264
    video with closed GOPs there, and how many frames lie in ``[start, keyframe)``; or None."""
    import av

    options: Dict[str, str] = {"rw_timeout": str(int(timeout * 1e6))}
    if stream.headers:
        options["headers"] = "".join(f"{k}: {v}\r\n" for k, v in stream.headers.items())
    if stream.cookies:
        options["cookies"] = stream.cookies
    try:
        with av.open(stream.url, options=options, timeout=timeout) as container:
            video = container.streams.video[0]
            if video.codec_context.name != "h264" or video.time_base is None:
                return None
            tb = float(video.time_base)
            container.seek(int(start / tb), stream=video, backward=True)
            key_pts = None
            after = head = 0
            for packet in container.demux(video):
                if packet.pts is None:
                    continue
                if key_pts is None:
                    t = packet.pts * tb
                    if t >= end:
                        return None
                    if packet.is_keyframe and t >= start - 1e-3:
                        key_pts = packet.pts
                    elif t >= start - 1e-3:
                        head += 1
                    continue
                if packet.pts < key_pts:
                    return None  # open GOP: this frame needs the one before the keyframe
                after += 1
                if after >= _GOP_CHECK_PACKETS:
                    break
            return None if key_pts is None else (key_pts * tb, head)
    except (av.FFmpegError, OSError, IndexError, ValueError):
        return None


def smart_cut(streams: Sequence[Stream], video: int, audio: int, seg: Segment, length: float,
              out: Path, audio_args: Sequence[str], timeout: float = 30.0,
              env: Optional[Dict[str, str]] = None) -> Optional[Tuple[str, float]]:
    """Write the exact cut of ``[seg.start, seg.start + length]`` to ``out`` re-encoding only
    the head; return ffmpeg's log of the final step and the keyframe's time, or None when this
    cut does not apply (the caller then re-encodes the whole segment)."""
    from avprep.download.cut import EXACT_VIDEO

    end = seg.start + length
    vstream = streams[video]
    found = next_keyframe(vstream, seg.start, end - 0.5, timeout)
    if found is None:
        return None
    key, frames = found
    base = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-y", "-loglevel", "error"]
    head = out.with_name(out.stem + ".head.ts")
    tail = out.with_name(out.stem + ".tail.ts")
    listing = out.with_name(out.stem + ".parts.txt")
    parts = []
    try:
        if frames:  # (-t would also take the frame at the keyframe)
            run = subprocess.run(base + vstream.ffmpeg_input_args(timeout) + [
                "-ss", f"{seg.start:.3f}", "-i", vstream.url, "-map", "0:v:0", "-an",
                "-frames:v", str(frames), *EXACT_VIDEO, "-f", "mpegts", os.fspath(head)],
                stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=timeout * 4)
            if run.returncode != 0:
                return None
            parts.append(head)
        run = subprocess.run(base + vstream.ffmpeg_input_args(timeout) + [
            "-ss", f"{key + 0.001:.3f}", "-t", f"{end - key:.3f}", "-i", vstream.url,
            "-map", "0:v:0", "-an", "-c:v", "copy", "-f", "mpegts", os.fspath(tail)],
            stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=timeout * 4)
        if run.returncode != 0:
            return None
        parts.append(tail)
        quoted = (p.name.replace("'", "'\\''") for p in parts)  # the concat list's quoting
        listing.write_text("".join(f"file '{name}'\n" for name in quoted))
        astream = streams[audio]
        final = subprocess.run([
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-y",
            "-f", "concat", "-safe", "0", "-i", os.fspath(listing),
            *astream.ffmpeg_input_args(timeout), "-ss", f"{seg.start:.3f}", "-t", f"{length:.3f}",
            "-i", astream.url, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", *audio_args,
            "-map_metadata", "-1", "-f", "mp4", os.fspath(out)],
            stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=timeout * 4)
        if final.returncode != 0:
            return None
        return final.stderr.decode("utf-8", "replace"), key
    except (OSError, subprocess.TimeoutExpired):
        return None
    finally:
        for path in (head, tail, listing):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
