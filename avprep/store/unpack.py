"""``avprep unpack DIR``: a pack back into the loose layout, ``<A>/<id>.wav`` and
``<F>/frame_<i>/<id>.jpg``, for tools that read those files.

Each wav is written as :func:`avprep.media.audio.write_wav` writes one (a plain 44-byte header,
then the stored samples) and each frame is the stored JPEG's bytes, so a pack made with
``avprep extract --pack`` unpacks to exactly the files ``avprep extract`` writes. Every file is
written under a temporary name and renamed (a clip's frames land together); outputs already
complete are kept, as ``avprep extract`` keeps them, so a killed run continues where it stopped.
A frame the pack lacks (an entry packed with missing frames) is not written.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from avprep.atomic import is_stale_temp, write_bytes
from avprep.complete import scan_media
from avprep.errors import InputError, WriteError
from avprep.framespec import claim_frame_spec, frame_spec_of
from avprep.layout import wav_path
from avprep.progress import progress

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class UnpackResult:
    """Counts of one :func:`unpack` run."""

    rows: int = 0
    written: int = 0  #: clips with at least one file written
    skipped: int = 0  #: clips whose outputs were all complete already
    temps_removed: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """The one-line summary printed at the end of a run."""
        text = (f"{self.rows} clips: {self.written} written, {self.skipped} already complete")
        if self.temps_removed:
            text += f"; removed {self.temps_removed} stale temporary files"
        return text


def unpack(folder: PathLike, audio_dir: Optional[PathLike],
           frame_dir: Optional[PathLike]) -> UnpackResult:
    """Write every row of the pack in ``folder`` as ``audio_dir/<id>.wav`` and
    ``frame_dir/frame_<i>/<id>.jpg`` (None leaves that output out); see the module docstring.

    Raises :class:`InputError` when ``folder`` is not a finished pack or no output is given,
    :class:`WriteError` when an output folder cannot be made.
    """
    from avprep.media.audio import wav_bytes
    from avprep.media.frames import write_frame_set
    from avprep.store.reader import open_store

    start = time.perf_counter()
    if audio_dir is None and frame_dir is None:
        raise InputError("nothing to unpack into: give an audio folder, a frame folder, or both")
    store = open_store(folder)
    spec = frame_spec_of(folder)
    for out in (audio_dir, frame_dir):
        if out is None:
            continue
        try:
            Path(out).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise WriteError(f"cannot create the output folder: {err.strerror or err}",
                             out) from None
    if frame_dir is not None:
        claim_frame_spec(frame_dir, spec)  # the frame folder records what the pack records
    ids = store.video_ids
    scan = scan_media(audio_dir, frame_dir, ids, temps=True)
    result = UnpackResult(rows=len(ids))
    for tmp in scan.temps:
        if is_stale_temp(tmp):
            try:
                os.unlink(tmp)
                result.temps_removed += 1
            except FileNotFoundError:
                pass
    with store:
        for row, video_id in enumerate(progress(ids, total=len(ids), desc="unpack",
                                                unit="clip")):
            need_audio = audio_dir is not None and video_id not in scan.audio
            need_frames = frame_dir is not None and video_id not in scan.frames
            if not (need_audio or need_frames):
                result.skipped += 1
                continue
            record = store[row]
            if need_audio:
                pcm = record.pcm
                write_bytes(wav_path(audio_dir, video_id),
                            wav_bytes(np.ascontiguousarray(pcm.T), record.sample_rate,
                                      pcm.shape[0]))
            if need_frames:
                write_frame_set(frame_dir, video_id,
                                {i: jpeg for i, jpeg in enumerate(record.frames)
                                 if jpeg is not None})
            result.written += 1
    result.seconds = time.perf_counter() - start
    return result


__all__ = ["UnpackResult", "unpack"]
