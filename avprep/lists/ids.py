"""Video ids: from file names, AudioSet and VGGSound forms, and the safety check for paths.

The video id of a raw file is its name without the last extension (``/x/abc_40.000.mp4`` ->
``abc_40.000``). AudioSet lists use the bare 11-character YouTube id; VGGSound lists use
``<ytid>_<start second, 6 digits>``. Downloads are named in several ways, which
:func:`to_list_id` maps to the list ids.
"""

from __future__ import annotations

import os
import re
from typing import Optional, Tuple, Union

from avprep.errors import UnsafeIdError

PathLike = Union[str, "os.PathLike[str]"]

YTID = r"[A-Za-z0-9_-]{11}"
_AUDIOSET = re.compile(rf"^{YTID}$")
_VGGSOUND = re.compile(rf"^{YTID}_\d{{6}}$")
# <ytid>_<start>[_<end>], start and end as seconds (int, float or milliseconds-free decimals)
_WITH_START = re.compile(
    rf"^(?P<ytid>{YTID})_(?P<start>\d+(?:\.\d+)?)(?:_(?P<end>\d+(?:\.\d+)?))?$")
SCHEMES = ("audioset", "vggsound")
MAX_ID_BYTES = 250  # leaves room for ".wav" within the usual 255-byte file-name limit


def video_id_of(path: PathLike) -> str:
    """The video id of a raw file: its name without the last extension."""
    name = os.path.basename(os.fspath(path))
    stem, _ext = os.path.splitext(name)
    return stem or name


def is_audioset_id(video_id: str) -> bool:
    """Whether ``video_id`` has the AudioSet list form (an 11-character YouTube id)."""
    return bool(_AUDIOSET.match(video_id))


def is_vggsound_id(video_id: str) -> bool:
    """Whether ``video_id`` has the VGGSound list form (``<ytid>_<6-digit start>``)."""
    return bool(_VGGSOUND.match(video_id))


def unsafe_reason(video_id: object) -> Optional[str]:
    """Why ``video_id`` cannot be used as a file name inside a folder, or None when it can."""
    if not isinstance(video_id, str):
        return f"id is a {type(video_id).__name__}, not a string"
    if video_id == "":
        return "id is empty"
    if "\x00" in video_id:
        return "id contains a NUL character"
    if "/" in video_id or "\\" in video_id:
        return "id contains a path separator"
    if video_id in (".", ".."):
        return "id is a relative folder name"
    if len(video_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        return f"id is longer than {MAX_ID_BYTES} bytes"
    return None


def is_safe_id(video_id: object) -> bool:
    """Whether ``video_id`` is safe to use as a file name (see :func:`unsafe_reason`)."""
    return unsafe_reason(video_id) is None


def check_safe_id(video_id: object, path: Optional[PathLike] = None, entry: object = None) -> str:
    """Return ``video_id`` when it is safe as a file name; else raise :class:`UnsafeIdError`."""
    reason = unsafe_reason(video_id)
    if reason is not None:
        raise UnsafeIdError(f"unsafe video id {video_id!r}: {reason}", path, entry)
    return video_id  # type: ignore[return-value]


def _with_and_without_y(stem: str) -> Tuple[str, ...]:
    """``stem``, then ``stem`` without the leading ``Y`` of YouTube download names, if any."""
    return (stem, stem[1:]) if stem.startswith("Y") else (stem,)


def audioset_id(stem: str) -> Optional[str]:
    """Map an AudioSet download name (without extension) to the list id, or None.

    Accepts ``<ytid>``, ``Y<ytid>``, ``<ytid>_<start>[_<end>]`` and ``Y<ytid>_<start>[_<end>]``.
    """
    for candidate in _with_and_without_y(stem):
        if _AUDIOSET.match(candidate):
            return candidate
        match = _WITH_START.match(candidate)
        if match:
            return match.group("ytid")
    return None


def vggsound_id(stem: str) -> Optional[str]:
    """Map a VGGSound download name (without extension) to ``<ytid>_<6-digit start>``, or None.

    Accepts ``<ytid>_<start>`` with the start in whole or decimal seconds, padded or not, an
    optional ``_<end>``, and a leading ``Y``.
    """
    for candidate in _with_and_without_y(stem):
        match = _WITH_START.match(candidate)
        if match:
            start = int(float(match.group("start")))
            return f"{match.group('ytid')}_{start:06d}"
    return None


def to_list_id(stem: str, scheme: Optional[str]) -> Optional[str]:
    """Map a file stem to the list id of ``scheme`` (``audioset``, ``vggsound``, or None: as is)."""
    if scheme is None:
        return stem
    if scheme == "audioset":
        return audioset_id(stem)
    if scheme == "vggsound":
        return vggsound_id(stem)
    raise ValueError(f"unknown id scheme {scheme!r}; expected one of {SCHEMES}")
