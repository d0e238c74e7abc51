"""yt-dlp as a library: find the media URLs of one video and choose its formats.

Each worker thread has its own ``YoutubeDL`` (:func:`extractor_for`), set up with the packaged
ffmpeg (imageio-ffmpeg's binary) and the ``deno`` JavaScript runtime from PyPI that YouTube
extraction needs. yt-dlp finds ffmpeg in two ways: ``YoutubeDL(params={"ffmpeg_location": ...})``
serves the post-processors built with that ``YoutubeDL``, but the section downloader
(``FFmpegFD.available()``) and other ``FFmpegPostProcessor()`` built without one read a context
variable that only yt-dlp's command line sets, and a context variable is empty in every new
thread. :func:`use_packaged_ffmpeg` sets both, in the calling thread.

The clip itself is cut by :mod:`avprep.download.cut` from the URLs chosen here, so ffmpeg's own
messages (HTTP status, a truncated body) tell what went wrong.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from avprep.download.outcomes import UNAVAILABLE, Failure, classify_exception, classify_message
from avprep.synth import ffmpeg_exe

#: the default ``--url-template``
YOUTUBE_TEMPLATE = "https://www.youtube.com/watch?v={ytid}"
#: the default ``--format``: the smallest video whose short side is at least 224 pixels, plus the
#: best audio; else the smallest single file at least that big; else the largest there is (with
#: :data:`DEFAULT_SORT`'s ascending sizes, "w" picks the largest)
DEFAULT_FORMAT = ("bv*[height>=?224][width>=?224]+ba/b[height>=?224][width>=?224]/wv*+ba/w")
#: with the default format, smaller resolutions sort first (``res`` is the short side), H.264
#: before other codecs at the same size (cheaper to decode and to cut)
DEFAULT_SORT = ("+res", "vcodec:h264", "acodec")

_log = logging.getLogger(__name__)


@dataclass
class Stream:
    """One input to cut from: its URL and what ffmpeg must send to get it."""

    url: str
    headers: Dict[str, str] = field(default_factory=dict)
    cookies: str = ""
    vcodec: Optional[str] = None
    acodec: Optional[str] = None

    def ffmpeg_input_args(self, timeout: float) -> List[str]:
        """The ffmpeg options that must precede ``-i`` for this input: a read timeout of
        ``timeout`` seconds and the headers and cookies of an HTTP(S) URL."""
        args: List[str] = []
        if self.url.startswith(("http://", "https://")):
            args += ["-rw_timeout", str(int(timeout * 1e6))]
            if self.headers:
                args += ["-headers", "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())]
            if self.cookies:
                args += ["-cookies", self.cookies]
        return args


@dataclass
class MediaInfo:
    """What extraction found: the inputs (one file with both streams, or a video and an audio
    format), the video's duration when known, and the chosen format ids."""

    streams: List[Stream]
    duration: Optional[float]
    format_id: str


class _Messages:
    """yt-dlp's ``logger``: keeps its errors and warnings for the failure reason, prints
    nothing."""

    def __init__(self) -> None:
        self.errors: List[str] = []

    def debug(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        _log.debug("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        self.errors.append(message)


def deno_path() -> Optional[str]:
    """The deno binary of the ``deno`` package, or one on PATH, or None."""
    try:
        from deno import find_deno_bin

        return find_deno_bin()
    except (ImportError, OSError, RuntimeError):
        return shutil.which("deno")


def use_packaged_ffmpeg() -> str:
    """Make yt-dlp in the calling thread find the packaged ffmpeg (see the module docstring);
    return its path."""
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    exe = ffmpeg_exe()
    FFmpegPostProcessor._ffmpeg_location.set(exe)
    return exe


def ydl_params(fmt: Optional[str] = None, cookies: Optional[str] = None,
               proxy: Optional[str] = None, timeout: float = 30.0) -> Dict[str, Any]:
    """The ``YoutubeDL`` parameters of a download run."""
    params: Dict[str, Any] = {
        "quiet": True, "no_warnings": True, "noprogress": True, "noplaylist": True,
        "skip_download": True, "format": fmt or DEFAULT_FORMAT, "socket_timeout": timeout,
        "retries": 0, "extractor_retries": 0, "ffmpeg_location": ffmpeg_exe(),
        "merge_output_format": "mp4", "color": {"stdout": "never", "stderr": "never"},
        # YouTube's extractor and the generic one (direct links, a mirror): no other site is
        # tried, and a URL is not matched against ~1,900 extractors' patterns (seconds each run)
        "allowed_extractors": ["youtube", "generic"],
    }
    if fmt is None:
        params["format_sort"] = list(DEFAULT_SORT)
    deno = deno_path()
    if deno:
        params["js_runtimes"] = {"deno": {"path": deno}}
    if cookies:
        params["cookiefile"] = cookies
    if proxy:
        params["proxy"] = proxy
    return params


_local = threading.local()


def extractor_for(params: Dict[str, Any]):
    """This thread's ``YoutubeDL`` for ``params`` (made once per thread), with the packaged
    ffmpeg set up for the thread."""
    import yt_dlp

    key = repr(sorted(params.items(), key=lambda kv: kv[0]))
    if getattr(_local, "key", None) != key:
        use_packaged_ffmpeg()
        messages = _Messages()
        _local.messages = messages
        _local.ydl = yt_dlp.YoutubeDL(dict(params, logger=messages))
        _local.key = key
    return _local.ydl, _local.messages


def _stream(ydl, fmt: Dict[str, Any], info: Dict[str, Any]) -> Stream:
    url = fmt["url"]
    headers = dict(fmt.get("http_headers") or info.get("http_headers") or {})
    cookies = ""
    if url.startswith(("http://", "https://")):
        jar = ydl.cookiejar.get_cookies_for_url(url)
        cookies = "".join(f"{c.name}={c.value}; path={c.path}; domain={c.domain};\r\n"
                          for c in jar)
    none = ("none",)
    return Stream(url, headers, cookies,
                  vcodec=None if fmt.get("vcodec") in none else fmt.get("vcodec") or "?",
                  acodec=None if fmt.get("acodec") in none else fmt.get("acodec") or "?")


def find_media(url: str, params: Dict[str, Any]) -> MediaInfo:
    """Extract ``url`` and choose its formats; raise :class:`Failure` with the class of what
    went wrong."""
    from yt_dlp.utils import DownloadError

    ydl, messages = extractor_for(params)
    messages.errors.clear()
    try:
        info = ydl.extract_info(url, download=False)
    except DownloadError as err:
        raise classify_exception(err) from None
    except Exception as err:  # yt-dlp raises more than its own types at times
        raise classify_exception(err) from None
    if info is None:
        raise classify_message("; ".join(messages.errors) or "no information extracted")
    if info.get("_type") in ("playlist", "multi_video"):
        raise Failure(UNAVAILABLE, "the URL is a playlist, not one video")
    if info.get("is_live") or info.get("live_status") in ("is_upcoming", "is_live"):
        raise Failure(UNAVAILABLE, "a live or upcoming stream, not a video")
    chosen = info.get("requested_formats") or [info]
    if any(not f.get("url") for f in chosen):
        raise Failure(UNAVAILABLE, "no downloadable format")
    streams = [_stream(ydl, f, info) for f in chosen]
    if not any(s.vcodec for s in streams):
        raise Failure(UNAVAILABLE, "no video stream")
    if not any(s.acodec for s in streams):
        raise Failure(UNAVAILABLE, "no audio stream")
    duration = info.get("duration")
    return MediaInfo(streams, float(duration) if duration else None,
                     str(info.get("format_id") or ""))
