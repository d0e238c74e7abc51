"""Where extracted media live: ``<audio_dir>/<id>.wav`` and ``<frame_dir>/frame_<i>/<id>.jpg``,
and clips: ``<folder>/<id>.mp4``.

This is the layout the original CAV-MAE scripts write and its loader reads; a list entry's
``video_path`` is the ``frame_dir``. An entry whose clip is in a pack points into it instead
(:data:`PACK_SCHEME`). Every path made from an id goes through the safety check.
What makes an output complete (not merely present) is :mod:`avprep.complete`'s one check.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Union

from avprep.complete import (N_FRAMES, SAMPLE_RATE, frame_count, frame_folder, jpeg_problem,
                             wav_problem)
from avprep.safeid import check_safe_id

PathLike = Union[str, "os.PathLike[str]"]

CLIP_SUFFIX = ".mp4"

__all__ = ["N_FRAMES", "SAMPLE_RATE", "CLIP_SUFFIX", "PACK_SCHEME", "wav_path", "frame_path",
           "frame_paths", "clip_path", "has_clip", "missing_frames", "has_audio", "has_media",
           "pack_ref", "pack_wav_ref"]

#: how a list entry points into a pack folder: ``video_path`` is ``pack://<folder>`` (the
#: folder's absolute path) and ``wav`` is ``pack://<folder>#<video_id>``
PACK_SCHEME = "pack://"


def wav_path(audio_dir: PathLike, video_id: str) -> Path:
    """Path of the extracted audio of ``video_id``."""
    return Path(audio_dir) / f"{check_safe_id(video_id)}.wav"


def frame_path(frame_dir: PathLike, index: int, video_id: str) -> Path:
    """Path of frame ``index`` (0..9 by default) of ``video_id``."""
    return Path(frame_folder(frame_dir, index)) / f"{check_safe_id(video_id)}.jpg"


def frame_paths(frame_dir: PathLike, video_id: str, count: Optional[int] = None) -> List[Path]:
    """Paths of all the frames of ``video_id``, in order: ``count`` of them, or as many as
    ``frame_dir`` records (:func:`avprep.complete.frame_count`; ten without a record)."""
    if count is None:
        count = frame_count(frame_dir)
    return [frame_path(frame_dir, i, video_id) for i in range(count)]


def clip_path(folder: PathLike, video_id: str) -> Path:
    """Path of the clip file of ``video_id``: ``<folder>/<id>.mp4`` (what ``download`` writes and
    ``extract --keep-clip`` keeps)."""
    return Path(folder) / f"{check_safe_id(video_id)}{CLIP_SUFFIX}"


def has_clip(folder: PathLike, video_id: str) -> bool:
    """Whether the clip file of ``video_id`` is there: a non-empty regular file (clips are renamed
    into place only whole)."""
    path = clip_path(folder, video_id)
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def missing_frames(frame_dir: PathLike, video_id: str, count: Optional[int] = None) -> List[int]:
    """Indices of the frames of ``video_id`` (``count``, or as many as ``frame_dir`` records)
    that are not complete (missing, empty, not a regular file, not a whole JPEG)."""
    return [i for i, p in enumerate(frame_paths(frame_dir, video_id, count))
            if jpeg_problem(p) is not None]


def has_audio(audio_dir: PathLike, video_id: str) -> bool:
    """Whether the wav of ``video_id`` is complete (a 16 kHz mono wav with samples)."""
    return wav_problem(wav_path(audio_dir, video_id)) is None


def has_media(audio_dir: PathLike, frame_dir: PathLike, video_id: str) -> bool:
    """Whether the wav and all the frames of ``video_id`` are complete."""
    return has_audio(audio_dir, video_id) and not missing_frames(frame_dir, video_id)


def pack_ref(folder: PathLike) -> str:
    """The ``video_path`` of a list entry whose clip is in the pack ``folder``:
    ``pack://`` and the folder's absolute path."""
    return PACK_SCHEME + os.path.abspath(os.fspath(folder))


def pack_wav_ref(folder: PathLike, video_id: str) -> str:
    """The ``wav`` of a list entry whose clip is row ``video_id`` of the pack ``folder``:
    ``pack://<folder>#<video_id>``."""
    return f"{pack_ref(folder)}#{video_id}"
