"""Writing one shard of a pack: read its entries' clips, write the Arrow file and its record.

A shard is written under a temporary name and renamed when complete, then a small record of it
(its :class:`~avprep.store.manifest.ShardInfo` and which list entries its rows are) goes into
``.parts/``; :func:`finished_shard` reads that record back, so a later run can reuse the shard.
The whole pack (which shards, reuse, the index, the engine) is :mod:`avprep.store.pack`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import pyarrow as pa

from avprep.atomic import atomic_path, write_text
from avprep.complete import MISSING, jpeg_bytes_problem, wav_problem
from avprep.digest import sha256_of
from avprep.errors import FormatError, MediaError
from avprep.layout import N_FRAMES, frame_paths
from avprep.safeid import unsafe_reason
from avprep.store.manifest import PARTS_DIR, Failure, ShardInfo, shard_name
from avprep.store.schema import SHARD_SCHEMA

PathLike = Union[str, "os.PathLike[str]"]

BATCH_ROWS = 64

EntryRow = Tuple[int, str, str, str, str]  # list index, video_id, wav, video_path, labels


@dataclass
class ShardJob:
    """Everything a worker needs to write one shard."""

    number: int
    folder: str
    first_entry: int
    rows: List[EntryRow]
    skip: Dict[int, str] = field(default_factory=dict)
    label_index: Optional[Dict[str, int]] = None
    fbank: Optional[str] = None


def write_shard(job: ShardJob, on_entry: Optional[Callable[[], None]] = None) -> ShardInfo:
    """Write shard ``job.number`` (atomically) and its record in ``.parts/``; return its info."""
    folder = Path(job.folder)
    final = folder / shard_name(job.number)
    failures: List[Failure] = []
    incomplete: List[dict] = []
    entries_of_rows: List[int] = []
    buffer: Dict[str, list] = {name: [] for name in SHARD_SCHEMA.names}
    with atomic_path(final) as tmp:
        with pa.OSFile(os.fspath(tmp), "wb") as sink, \
                pa.ipc.new_file(sink, SHARD_SCHEMA) as writer:
            for row in job.rows:
                reason = job.skip.get(row[0])
                clip = None
                if reason is None:
                    try:
                        clip = _read_clip(row, job.label_index, job.fbank)
                    except MediaError as err:
                        reason = err.message if err.path is None else f"{err.message}: {err.path}"
                if clip is None:
                    failures.append(Failure(row[0], row[1], reason or "unreadable"))
                else:
                    missing = [i for i in range(N_FRAMES) if clip[f"frame_{i}"] is None]
                    if missing:
                        incomplete.append({"entry": row[0], "video_id": row[1],
                                           "missing_frames": missing})
                    for name in SHARD_SCHEMA.names:
                        buffer[name].append(clip[name])
                    entries_of_rows.append(row[0])
                    if len(buffer["video_id"]) >= BATCH_ROWS:
                        _flush(writer, buffer)
                if on_entry:
                    on_entry()
            _flush(writer, buffer)
        size = os.path.getsize(tmp)
        digest = sha256_of(tmp)
    info = ShardInfo(name=final.name, first_entry=job.first_entry, entries=len(job.rows),
                     rows=len(entries_of_rows), bytes=size, sha256=digest, failures=failures,
                     incomplete=incomplete)
    record = info.to_json()
    record["row_entries"] = entries_of_rows
    write_text(record_path(folder, job.number), json.dumps(record) + "\n")
    return info


def record_path(folder: Path, number: int) -> Path:
    """``.parts/shard-NNNNN.json``: what a finished shard holds (its info and row entries)."""
    return folder / PARTS_DIR / f"{Path(shard_name(number)).stem}.json"


def _read_clip(row: EntryRow, label_index: Optional[Dict[str, int]],
               fbank_dtype: Optional[str]) -> dict:
    """One row's column values; :class:`MediaError` with the reason when it cannot be packed."""
    from avprep.features import centred_fbank, pcm16_to_float, read_pcm16
    from avprep.lists.labels import class_indices

    entry, video_id, wav, video_path, labels = row
    unsafe = unsafe_reason(video_id)
    if unsafe:
        raise MediaError(f"unsafe video id: {unsafe}")
    indices = None
    if label_index is not None:
        try:
            indices = class_indices(labels, label_index)
        except FormatError as err:
            raise MediaError(err.message) from None
    problem = wav_problem(wav, channels=None)
    if problem is not None and problem != MISSING:  # a missing file: read_pcm16 says so
        raise MediaError(f"incomplete wav: {problem}", wav)
    pcm, rate = read_pcm16(wav)
    frames = {}
    for i, path in enumerate(frame_paths(video_path, video_id, N_FRAMES)):
        try:
            blob = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            blob = None
        except OSError as err:
            raise MediaError(f"cannot read frame {i}: {err.strerror or err}", path) from None
        if blob is not None:
            problem = jpeg_bytes_problem(blob[:2], blob[-2:]) if blob else "an empty file"
            if problem is not None:
                raise MediaError(f"incomplete frame {i}: {problem}", path)
        frames[f"frame_{i}"] = blob
    if all(b is None for b in frames.values()):
        raise MediaError("no frames found", Path(video_path) / "frame_<i>" / f"{video_id}.jpg")
    fb_bytes, fb_frames = None, None
    if fbank_dtype is not None:
        fb = centred_fbank(pcm16_to_float(pcm), rate).numpy()
        fb_bytes = fb.astype(np.dtype(fbank_dtype).newbyteorder("<")).tobytes()
        fb_frames = fb.shape[0]
    clip = {"video_id": video_id, "list_index": entry, "labels": labels,
            "label_indices": indices, "sample_rate": rate, "channels": pcm.shape[0],
            "pcm": np.ascontiguousarray(pcm.T).astype("<i2").tobytes(),
            "fbank_frames": fb_frames, "fbank": fb_bytes}
    clip.update(frames)
    return clip


def _flush(writer, buffer: Dict[str, list]) -> None:
    if not buffer["video_id"]:
        return
    batch = pa.record_batch([pa.array(buffer[f.name], type=f.type) for f in SHARD_SCHEMA],
                            schema=SHARD_SCHEMA)
    writer.write_batch(batch)
    for values in buffer.values():
        values.clear()


def finished_shard(folder: Path, number: int) -> Optional[ShardInfo]:
    """The record of shard ``number`` when both it and the shard file (same size) exist."""
    shard = folder / shard_name(number)
    try:
        obj = json.loads(record_path(folder, number).read_text(encoding="utf-8"))
        obj.pop("row_entries", None)
        info = ShardInfo.from_json(obj)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not shard.is_file() or shard.stat().st_size != info.bytes:
        return None
    return info


def row_entries(folder: Path, number: int) -> List[int]:
    """The list entries of shard ``number``'s rows, in row order, from its record."""
    record = record_path(folder, number)
    return list(json.loads(record.read_text(encoding="utf-8"))["row_entries"])
