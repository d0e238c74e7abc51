"""Video ids: from file names, AudioSet and VGGSound forms, and the safety check for paths.

The video id of a raw file is its name without the last extension (``/x/abc_40.000.mp4`` ->
``abc_40.000``). AudioSet lists use the bare 11-character YouTube id; VGGSound lists use
``<ytid>_<start second, 6 digits>``. Downloads are named in several ways, which
:func:`to_list_id` maps to the list ids. The safety check (:func:`unsafe_reason`,
:func:`check_safe_id`) lives in the leaf module :mod:`avprep.safeid` and is re-exported here.
"""

from __future__ import annotations

import os
import re
from typing import Optional, Tuple, Union

from avprep.safeid import MAX_ID_BYTES, check_safe_id, is_safe_id, unsafe_reason

PathLike = Union[str, "os.PathLike[str]"]

YTID = r"[A-Za-z0-9_-]{11}"
_AUDIOSET = re.compile(rf"^{YTID}$")
_VGGSOUND = re.compile(rf"^{YTID}_\d{{6}}$")
# <ytid>_<start>[_<end>], start and end as seconds (int, float or milliseconds-free decimals)
_WITH_START = re.compile(
    rf"^(?P<ytid>{YTID})_(?P<start>\d+(?:\.\d+)?)(?:_(?P<end>\d+(?:\.\d+)?))?$")
SCHEMES = ("audioset", "vggsound")


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


__all__ = ["YTID", "SCHEMES", "MAX_ID_BYTES", "video_id_of", "is_audioset_id", "is_vggsound_id",
           "unsafe_reason", "is_safe_id", "check_safe_id", "audioset_id", "vggsound_id",
           "to_list_id"]
