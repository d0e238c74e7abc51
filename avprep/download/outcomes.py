"""What a failed download is: **unavailable** (permanent), **rate-limited** or **transient**.

yt-dlp's exceptions (``DownloadError`` wrapping an ``ExtractorError``, ``GeoRestrictedError``,
``UnsupportedError``, the networking ``HTTPError`` / ``TransportError`` / ``IncompleteRead``) and
messages, and ffmpeg's error lines, are mapped onto these three classes. Anything not recognized
is transient: a re-run retries it, and nothing is ever called unavailable on a guess. Rate limits
are never unavailable either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple

UNAVAILABLE = "unavailable"
RATE_LIMITED = "rate-limited"
TRANSIENT = "transient"

# (pattern, reason) in the order they are tried; a rate limit is checked first, so that a bot
# check worded like an availability message is never taken for one.
_RATE_LIMITED: Tuple[Tuple[str, str], ...] = (
    (r"http error 429|status 429|too many requests", "HTTP 429 Too Many Requests"),
    (r"confirm you.?re not a bot|not a robot", "YouTube asks to sign in to confirm this is not a bot"),
    (r"rate[- ]?limit", "rate-limited by the site"),
    (r"try again later", "the site says to try again later"),
)
_UNAVAILABLE: Tuple[Tuple[str, str], ...] = (
    (r"private video|video is private", "private video"),
    (r"account associated with this video has been terminated|account .*terminated",
     "the uploader's account was terminated"),
    (r"copyright", "taken down for copyright"),
    (r"terms of service|violat", "removed for violating the terms of service"),
    (r"removed by the uploader|has been removed|been deleted|no longer available",
     "removed"),
    (r"not (?:made this video )?available in your country|geo.?restrict|not available from your location",
     "not available in this country"),
    (r"members?[- ]only|join this channel", "members-only video"),
    (r"confirm your age|age.?restricted|inappropriate for some users",
     "age-restricted (needs --cookies of a signed-in account)"),
    (r"video unavailable|this video is (?:not )?(?:un)?available|video is not available",
     "video unavailable"),
    (r"unsupported url", "not a video page (unsupported URL)"),
    (r"requested format is not available", "no format matches --format"),
    (r"no video formats found", "no video formats"),
)


@dataclass
class Failure(Exception):
    """A failed download attempt of one clip: ``kind`` is one of :data:`UNAVAILABLE`,
    :data:`RATE_LIMITED`, :data:`TRANSIENT`; ``reason`` says why in a few words."""

    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


def _first_line(text: str) -> str:
    text = re.sub(r"^\s*ERROR:\s*", "", str(text).strip())
    text = re.sub(r"\s+", " ", text)
    return text[:300]


#: yt-dlp's "ERROR: [extractor] <id>: " prefix: the id must not be read as part of the message
_PREFIX = re.compile(r"^\s*(?:ERROR:\s*)?\[[^\]]*\]\s*[^:\s]*:\s*")


def classify_message(text: str) -> Failure:
    """The class of an error message (yt-dlp's or a site's); transient when unrecognized."""
    low = _PREFIX.sub("", str(text)).lower()
    for pattern, reason in _RATE_LIMITED:
        if re.search(pattern, low):
            return Failure(RATE_LIMITED, reason)
    for pattern, reason in _UNAVAILABLE:
        if re.search(pattern, low):
            return Failure(UNAVAILABLE, reason)
    return Failure(TRANSIENT, _first_line(text) or "unknown error")


def _http_status(exc: BaseException) -> Optional[int]:
    """The HTTP status of yt-dlp's ``HTTPError`` anywhere in ``exc``'s chain of causes."""
    from yt_dlp.networking.exceptions import HTTPError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, HTTPError):
            return exc.status
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    return None


def _root(exc: BaseException) -> BaseException:
    """The exception a ``DownloadError`` wraps (its ``exc_info``), else ``exc``."""
    info = getattr(exc, "exc_info", None)
    if info and info[1] is not None:
        return info[1]
    return exc


def classify_status(status: int) -> Failure:
    """The class of an HTTP status that ended a request."""
    if status == 429:
        return Failure(RATE_LIMITED, "HTTP 429 Too Many Requests")
    if status in (404, 410):
        return Failure(UNAVAILABLE, f"not found (HTTP {status})")
    if status >= 500:
        return Failure(TRANSIENT, f"server error (HTTP {status})")
    return Failure(TRANSIENT, f"HTTP {status}")


def classify_exception(exc: BaseException) -> Failure:
    """The class of an exception raised by yt-dlp (or by the network under it)."""
    from yt_dlp.networking.exceptions import IncompleteRead, TransportError
    from yt_dlp.utils import GeoRestrictedError, UnsupportedError

    if isinstance(exc, Failure):
        return exc
    root = _root(exc)
    message = str(getattr(root, "orig_msg", None) or root or exc)
    status = _http_status(root)
    by_message = classify_message(message)
    if by_message.kind == RATE_LIMITED:
        return by_message
    if status is not None:
        return classify_status(status)
    if isinstance(root, GeoRestrictedError):
        return Failure(UNAVAILABLE, "not available in this country")
    if isinstance(root, UnsupportedError):
        return Failure(UNAVAILABLE, "not a video page (unsupported URL)")
    cause = getattr(root, "cause", None)
    for candidate in (root, cause):
        if isinstance(candidate, IncompleteRead):
            return Failure(TRANSIENT, "truncated transfer")
        if isinstance(candidate, (TransportError, TimeoutError, ConnectionError)):
            return Failure(TRANSIENT, f"network error: {_first_line(str(candidate))}")
    if by_message.kind == UNAVAILABLE and getattr(root, "expected", True):
        return by_message
    return Failure(TRANSIENT, _first_line(message) or type(root).__name__)


_FFMPEG_HTTP = re.compile(r"(?:HTTP error|Server returned) (\d{3}|4XX|5XX)", re.I)


def classify_ffmpeg(stderr: str) -> Optional[Failure]:
    """The failure ffmpeg's log shows while reading the source, or None when it shows none."""
    match = _FFMPEG_HTTP.search(stderr)
    if match:
        code = match.group(1).upper()
        if code.isdigit():
            return classify_status(int(code))
        return Failure(TRANSIENT, f"HTTP {code}")
    low = stderr.lower()
    if "stream ends prematurely" in low or "error during demuxing" in low:
        return Failure(TRANSIENT, "truncated transfer")
    for needle in ("connection reset", "connection refused", "timed out", "timeout",
                   "broken pipe", "end of file", "i/o error", "input/output error"):
        if needle in low:
            return Failure(TRANSIENT, f"network error: {needle}")
    return None
