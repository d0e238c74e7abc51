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
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import pyarrow as pa

from avprep.atomic import atomic_path, write_text
from avprep.complete import MISSING, jpeg_bytes_problem, wav_problem
from avprep.digest import sha256_of
from avprep.errors import FormatError, MediaError
from avprep.layout import frame_paths
from avprep.safeid import unsafe_reason
from avprep.store.manifest import PARTS_DIR, Failure, ShardInfo, shard_name
from avprep.store.schema import FRAME_COLUMNS, SHARD_SCHEMA

PathLike = Union[str, "os.PathLike[str]"]

BATCH_ROWS = 64

EntryRow = Tuple[int, str, str, str, str]  # list index, video_id, wav, video_path, labels
ShardRow = Tuple[int, str, Union[dict, str]]  # list index, video_id, columns or why left out


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

    def rows() -> Iterator[ShardRow]:
        for row in job.rows:
            reason = job.skip.get(row[0])
            if reason is None:
                try:
                    yield row[0], row[1], _read_clip(row, job.label_index, job.fbank)
                    continue
                except MediaError as err:
                    reason = err.message if err.path is None else f"{err.message}: {err.path}"
            yield row[0], row[1], reason or "unreadable"

    return write_rows(Path(job.folder), job.number, job.first_entry, len(job.rows), rows(),
                      on_entry)


def write_rows(folder: Path, number: int, first_entry: int, entries: int,
               rows: Iterable[ShardRow], on_entry: Optional[Callable[[], None]] = None,
               extra: Optional[dict] = None) -> ShardInfo:
    """Write shard ``number`` of ``folder`` from ``rows`` (atomically), then its record in
    ``.parts/``; return its info.

    ``rows`` holds, for each of the shard's ``entries`` list entries from ``first_entry`` on,
    ``(entry, video_id, columns)`` with the row's column values (:func:`clip_columns`), or
    ``(entry, video_id, reason)`` for an entry left out. ``extra`` (read once every row is
    written) goes into the record too (:func:`read_record`).
    """
    final = folder / shard_name(number)
    failures: List[Failure] = []
    incomplete: List[dict] = []
    entries_of_rows: List[int] = []
    buffer: Dict[str, list] = {name: [] for name in SHARD_SCHEMA.names}
    with atomic_path(final) as tmp:
        with pa.OSFile(os.fspath(tmp), "wb") as sink, \
                pa.ipc.new_file(sink, SHARD_SCHEMA) as writer:
            for entry, video_id, clip in rows:
                if isinstance(clip, str):
                    failures.append(Failure(entry, video_id, clip))
                else:
                    missing = [i for i, name in enumerate(FRAME_COLUMNS) if clip[name] is None]
                    if missing:
                        incomplete.append({"entry": entry, "video_id": video_id,
                                           "missing_frames": missing})
                    for name in SHARD_SCHEMA.names:
                        buffer[name].append(clip[name])
                    entries_of_rows.append(entry)
                    if len(buffer["video_id"]) >= BATCH_ROWS:
                        _flush(writer, buffer)
                if on_entry:
                    on_entry()
            _flush(writer, buffer)
        size = os.path.getsize(tmp)
        digest = sha256_of(tmp)
    info = ShardInfo(name=final.name, first_entry=first_entry, entries=entries,
                     rows=len(entries_of_rows), bytes=size, sha256=digest, failures=failures,
                     incomplete=incomplete)
    record = info.to_json()
    record.update(extra or {})
    record["row_entries"] = entries_of_rows
    write_text(record_path(folder, number), json.dumps(record) + "\n")
    return info


def record_path(folder: Path, number: int) -> Path:
    """``.parts/shard-NNNNN.json``: what a finished shard holds (its info and row entries)."""
    return folder / PARTS_DIR / f"{Path(shard_name(number)).stem}.json"


def _read_clip(row: EntryRow, label_index: Optional[Dict[str, int]],
               fbank_dtype: Optional[str]) -> dict:
    """One row's column values; :class:`MediaError` with the reason when it cannot be packed."""
    from avprep.features import read_pcm16
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
    frames: List[Optional[bytes]] = []
    for i, path in enumerate(frame_paths(video_path, video_id, len(FRAME_COLUMNS))):
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
        frames.append(blob)
    if all(b is None for b in frames):
        raise MediaError("no frames found", Path(video_path) / "frame_<i>" / f"{video_id}.jpg")
    return clip_columns(video_id, entry, labels, indices, pcm, rate, frames, fbank_dtype)


def clip_columns(video_id: str, list_index: int, labels: str,
                 label_indices: Optional[List[int]], pcm: np.ndarray, rate: int,
                 frames: Sequence[Optional[bytes]], fbank_dtype: Optional[str]) -> dict:
    """One row's column values: ``pcm`` int16 ``[channels, samples]``, ``frames`` the JPEG
    bytes (None where missing) in the order of the frame columns and, with ``fbank_dtype``,
    the fbank computed from ``pcm`` as ``avprep pack --fbank`` stores it."""
    from avprep.features import centred_fbank, pcm16_to_float

    fb_bytes, fb_frames = None, None
    if fbank_dtype is not None:
        fb = centred_fbank(pcm16_to_float(pcm), rate).numpy()
        fb_bytes = fb.astype(np.dtype(fbank_dtype).newbyteorder("<")).tobytes()
        fb_frames = fb.shape[0]
    clip = {"video_id": video_id, "list_index": list_index, "labels": labels,
            "label_indices": label_indices, "sample_rate": rate, "channels": pcm.shape[0],
            "pcm": np.ascontiguousarray(pcm.T).astype("<i2").tobytes(),
            "fbank_frames": fb_frames, "fbank": fb_bytes}
    clip.update(zip(FRAME_COLUMNS, frames))
    return clip


def _flush(writer, buffer: Dict[str, list]) -> None:
    if not buffer["video_id"]:
        return
    batch = pa.record_batch([pa.array(buffer[f.name], type=f.type) for f in SHARD_SCHEMA],
                            schema=SHARD_SCHEMA)
    writer.write_batch(batch)
    for values in buffer.values():
        values.clear()


def read_record(folder: Path, number: int) -> dict:
    """The record of shard ``number`` as :func:`write_rows` wrote it (``OSError``,
    ``ValueError`` when it is missing or damaged)."""
    return json.loads(record_path(folder, number).read_text(encoding="utf-8"))


def finished_shard(folder: Path, number: int) -> Optional[ShardInfo]:
    """The record of shard ``number`` when both it and the shard file (same size) exist."""
    shard = folder / shard_name(number)
    try:
        info = ShardInfo.from_json(read_record(folder, number))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not shard.is_file() or shard.stat().st_size != info.bytes:
        return None
    return info


def finished_shards(folder: Path, numbers: Iterable[int]) -> Dict[int, ShardInfo]:
    """number -> record of each shard of ``numbers`` that is finished (:func:`finished_shard`)."""
    done: Dict[int, ShardInfo] = {}
    for k in numbers:
        info = finished_shard(folder, k)
        if info is not None:
            done[k] = info
    return done


def row_entries(folder: Path, number: int) -> List[int]:
    """The list entries of shard ``number``'s rows, in row order, from its record."""
    return list(read_record(folder, number)["row_entries"])
