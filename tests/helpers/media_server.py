"""A media server on 127.0.0.1 for the download tests and benchmark, and clips that show where
they were cut.

``MediaServer`` serves ``files[ytid]`` at ``/<ytid>.mp4`` with HTTP Range, and per id: 404 for an
id it does not hold, ``rate_limit[ytid] = n`` answers 429 to the first n requests, ``fail[ytid] =
status`` always answers that status, ``truncate[ytid] = n`` closes every response after n bytes of
its body (the announced length stays the full one), ``pace`` seconds of sleep before each 64 KiB
of a body slow every transfer down (0: full speed). ``requests`` records ``(ytid, Range)``;
``bytes_sent`` counts the body bytes clients took.

:func:`make_timed_clip` writes a clip whose frames and audio show the second they come from: the
luma of frame at time t is ``16 + 11 * (floor(t) mod 20)`` and its blue chroma ``16 + 9 * (frame
index within the second)``; the audio is a sine of ``300 + 100 * floor(t)`` Hz.
:func:`frame_times` and :func:`audio_seconds` read them back with PyAV.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import av
import numpy as np

from avprep.atomic import atomic_path
from avprep.synth import ffmpeg_exe

FPS = 25
TONE_BASE, TONE_STEP = 300.0, 100.0


def make_timed_clip(path: Path, duration: float = 16.0, gop_seconds: float = 2.0,
                    size: str = "160x120", audio: bool = True, video: bool = True,
                    vcodec: str = "libx264") -> Path:
    """Write an H.264 (or ``vcodec``)/AAC mp4 (moov first) of ``duration`` seconds, a keyframe
    every ``gop_seconds``, whose frames and audio encode the second they come from."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    if video:
        cmd += ["-f", "lavfi", "-i",
                f"color=c=black:s={size}:r={FPS}:d={duration},"
                f"geq=lum='16+mod(floor(T+0.001),20)*11':cb='16+floor(mod(T+0.001,1)*{FPS})*9'"
                ":cr=128"]
    if audio:
        cmd += ["-f", "lavfi", "-i",
                f"aevalsrc='0.5*sin(2*PI*({TONE_BASE}+{TONE_STEP}*floor(t))*t)':s=44100:"
                f"d={duration}"]
    if video:
        gop = str(int(round(gop_seconds * FPS)))
        cmd += ["-c:v", vcodec, "-g", gop, "-keyint_min", gop, "-pix_fmt", "yuv420p"]
        cmd += (["-preset", "ultrafast", "-sc_threshold", "0"] if vcodec == "libx264"
                else ["-q:v", "2"])
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "96k"]
    with atomic_path(path) as tmp:
        subprocess.run(cmd + ["-movflags", "+faststart", os.fspath(tmp)], check=True,
                       stdin=subprocess.DEVNULL)
    return path


def frame_times(path: Path) -> List[Tuple[float, float]]:
    """(presentation time, source second the frame shows) of every decoded frame."""
    out = []
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            planes = frame.to_ndarray(format="yuv420p")
            h = frame.height
            luma = planes[:h].mean()
            blue = planes[h:h + h // 4].mean()
            second = round((luma - 16) / 11)
            index = round((blue - 16) / 9)
            out.append((float(frame.time), second + index / FPS))
    return out


def audio_seconds(path: Path, window: float = 0.05) -> Tuple[float, float, float]:
    """(duration, source second of the first ``window``, source second of the last) of the
    audio, from the dominant frequency of each window (seconds are whole: the tone changes per
    second)."""
    with av.open(os.fspath(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(stream)])
    n = int(window * rate)

    def second_of(chunk: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(chunk * np.hanning(len(chunk))))
        freq = np.fft.rfftfreq(len(chunk), 1 / rate)[spectrum.argmax()]
        return (freq - TONE_BASE) / TONE_STEP

    return len(samples) / rate, second_of(samples[:n]), second_of(samples[-n:])


def assert_covers(clip: Path, start: float, end: float, tol: float = 0.1) -> None:
    """The decoded clip shows source time ``start`` first and ``end`` last, within ``tol``, in
    its frames and its audio."""
    frames = frame_times(clip)
    shown = [second for _t, second in frames]
    assert all(abs(b - a - 1 / FPS) < 1e-6 for a, b in zip(shown, shown[1:])), shown  # no gap
    assert abs(frames[0][1] - start) <= tol, frames[:3]
    assert abs(frames[-1][1] + 1 / FPS - end) <= tol, frames[-3:]
    duration, first, last = audio_seconds(clip)
    assert abs(duration - (end - start)) <= tol
    assert first == round(int(start)) and last == int(end - 0.05)


def start_partial(handler: http.server.BaseHTTPRequestHandler, start: int, end: int,
                  size: int) -> bool:
    """Begin a 206 answer for bytes ``start..end`` of ``size``; or, when ``start`` is past the
    end, answer 416 in full and return False."""
    if start >= size:
        handler.send_response(416)
        handler.send_header("Content-Range", f"bytes */{size}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return False
    handler.send_response(206)
    handler.send_header("Content-Range", f"bytes {start}-{end}/{size}")
    return True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        # a small send buffer: what a client does not read is not counted as sent
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
        super().setup()

    def log_message(self, *args):
        pass

    def _reply(self, head_only: bool) -> None:
        srv: MediaServer = self.server  # type: ignore[assignment]
        match = re.match(r"^/([^/?]+)\.mp4(?:\?.*)?$", self.path)
        ytid = match.group(1) if match else ""
        rng = self.headers.get("Range")
        with srv.lock:
            srv.requests.append((ytid, rng))
            limited = srv.rate_limit.get(ytid, 0)
            if limited > 0:
                srv.rate_limit[ytid] = limited - 1
        status = 429 if limited > 0 else srv.fail.get(ytid)
        body = srv.files.get(ytid)
        if status is None and body is None:
            status = 404
        if status is not None:
            text = f"{status} for {ytid}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            if not head_only:
                self.wfile.write(text)
            return
        start, end = 0, len(body) - 1
        m = re.match(r"bytes=(\d+)-(\d*)$", rng or "")
        if m:
            start = int(m.group(1))
            end = min(end, int(m.group(2))) if m.group(2) else end
            if not start_partial(self, start, end, len(body)):
                return
        else:
            self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end + 1 - start))
        self.end_headers()
        if head_only:
            return
        chunk = body[start:end + 1]
        cut = srv.truncate.get(ytid)
        try:
            if cut is not None and cut < len(chunk):
                self.wfile.write(chunk[:cut])
                self.wfile.flush()
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            for pos in range(0, len(chunk), 1 << 16):  # count what the client really took
                piece = chunk[pos:pos + (1 << 16)]
                if srv.pace:
                    time.sleep(srv.pace)
                self.wfile.write(piece)
                with srv.lock:
                    srv.bytes_sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client read what it wanted and hung up

    def do_GET(self):
        self._reply(head_only=False)

    def do_HEAD(self):
        self._reply(head_only=True)


class MediaServer(http.server.ThreadingHTTPServer):
    """The server; use as a context manager. ``template`` is the ``--url-template`` for it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: Dict[str, bytes] = {}
        self.rate_limit: Dict[str, int] = {}
        self.fail: Dict[str, int] = {}
        self.truncate: Dict[str, int] = {}
        self.pace = 0.0
        self.requests: List[Tuple[str, Optional[str]]] = []
        self.bytes_sent = 0
        self.lock = threading.Lock()
        self.template = f"http://127.0.0.1:{self.server_address[1]}/{{ytid}}.mp4"
        self._thread = threading.Thread(target=self.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def handle_error(self, request, client_address) -> None:
        """Clients that hang up early (yt-dlp reads 512 bytes, ffmpeg seeks) are no error."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def __enter__(self) -> "MediaServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
