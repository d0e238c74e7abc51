"""Whether a video id is safe to use as a file name inside a folder.

A leaf module (it imports only :mod:`avprep.errors`), so that the layout and the extraction
workers can check ids without loading the list readers and their columnar libraries.
"""

from __future__ import annotations

import os
from typing import Optional, Union

from avprep.errors import UnsafeIdError

PathLike = Union[str, "os.PathLike[str]"]

#: leaves room for ".wav" within the usual 255-byte file-name limit
MAX_ID_BYTES = 250


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
