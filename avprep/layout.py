"""Where extracted media live: ``<audio_dir>/<id>.wav`` and ``<frame_dir>/frame_<i>/<id>.jpg``.

This is the layout the original CAV-MAE scripts write and its loader reads; a list entry's
``video_path`` is the ``frame_dir``. Every path made from an id goes through the safety check.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Union

from avprep.constants import N_FRAMES
from avprep.lists.ids import check_safe_id

PathLike = Union[str, "os.PathLike[str]"]

SAMPLE_RATE = 16000


def wav_path(audio_dir: PathLike, video_id: str) -> Path:
    """Path of the extracted audio of ``video_id``."""
    return Path(audio_dir) / f"{check_safe_id(video_id)}.wav"


def frame_path(frame_dir: PathLike, index: int, video_id: str) -> Path:
    """Path of frame ``index`` (0..9) of ``video_id``."""
    return Path(frame_dir) / f"frame_{index}" / f"{check_safe_id(video_id)}.jpg"


def frame_paths(frame_dir: PathLike, video_id: str) -> List[Path]:
    """Paths of all ten frames of ``video_id``, in order."""
    return [frame_path(frame_dir, i, video_id) for i in range(N_FRAMES)]


def missing_frames(frame_dir: PathLike, video_id: str) -> List[int]:
    """Indices of the frames of ``video_id`` that do not exist."""
    return [i for i, p in enumerate(frame_paths(frame_dir, video_id)) if not p.is_file()]


def has_media(audio_dir: PathLike, frame_dir: PathLike, video_id: str) -> bool:
    """Whether the wav and all ten frames of ``video_id`` exist."""
    return wav_path(audio_dir, video_id).is_file() and not missing_frames(frame_dir, video_id)
