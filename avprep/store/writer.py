"""``avprep pack``: write a data list's clips into Arrow shards, resumably, with a manifest.

Shard ``k`` holds list entries ``[k * shard_size, (k + 1) * shard_size)`` that could be packed, in
list order, so row ``i`` of the pack is the ``i``-th packable entry. Each shard is written under a
temporary name and renamed when complete, then a small record of it goes into ``.parts/``; a
later run with the same list and options reuses every shard that has its record and writes only
the rest. ``index.arrow`` and ``manifest.json`` come last. Shards are written in this process
or, one shard per job, by :func:`avprep.store.task.pack_shard` on an execution engine
(:mod:`avprep.store.dispatch`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import pyarrow as pa

from avprep.atomic import atomic_path, remove_stale_temps, write_text
from avprep.errors import AvprepError, InputError, MediaError
from avprep.complete import MISSING, jpeg_bytes_problem, wav_problem
from avprep.layout import N_FRAMES, frame_paths
from avprep.lists.ids import unsafe_reason
from avprep.progress import progress
from avprep.store.manifest import (INDEX_NAME, PARTS_DIR, Failure, Manifest, ShardInfo,
                                   sha256_of, shard_name)
from avprep.store.schema import FBANK_DTYPES, INDEX_SCHEMA, SHARD_SCHEMA

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_SHARD_SIZE = 1000
BATCH_ROWS = 64

EntryRow = Tuple[int, str, str, str, str]  # list index, video_id, wav, video_path, labels


@dataclass
class PackResult:
    """What a pack run did: the manifest, and how many shards it wrote or found finished."""

    folder: Path
    manifest: Manifest
    written: int
    reused: int
    retries: int = 0  #: shards written again because their worker died mid-shard

    @property
    def failures(self) -> List[Failure]:
        """Entries left out, with their reasons."""
        return self.manifest.failures


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


def pack(data, out_dir: PathLike, labels=None, shard_size: int = DEFAULT_SHARD_SIZE,
         workers: int = 1, fbank: Optional[str] = None, source: Optional[str] = None,
         on_shard: Optional[Callable[[ShardInfo], None]] = None, engine: str = "local",
         address: Optional[str] = None) -> PackResult:
    """Pack the clips of ``data`` (a :class:`avprep.lists.DataList` or a JSON list path).

    ``labels``: a :class:`avprep.lists.LabelSet` or label CSV path; with it every label must be in
    the CSV and rows also store the class indices. ``fbank``: None, ``'float32'`` or ``'float16'``
    stores each clip's :func:`avprep.features.wav_fbank` result in that precision.

    ``engine`` (a name from :mod:`avprep.media.engines`) writes ``workers`` shards at a time:
    ``'local'`` in this process (``workers`` 1) or in worker processes on this machine (forked
    from a fork server or spawned: a script calling this needs the ``if __name__ ==
    "__main__":`` guard),
    ``'ray'`` as Ray tasks on a local Ray cluster started for the run or, with ``address``, on
    an existing cluster (whose nodes must share the pack folder's file system); every engine
    writes the same bytes. A worker that dies mid-shard under Ray costs a retry of that shard
    (counted in :attr:`PackResult.retries`). A shard that could not be written at all raises
    once the other shards are done, so a later run has only that one left to do.
    ``on_shard`` is called in this process after each shard is finished. Entries whose wav or
    frames cannot be read are left out and recorded with their reason in the manifest. Raises
    :class:`InputError` when ``out_dir`` holds a pack of another list or other options, for an
    unknown engine, and for ``address`` without the ray engine.
    """
    from avprep.lists import DataList, LabelSet, read_labels, read_list
    from avprep.store.dispatch import check_engine_args

    if shard_size < 1:
        raise InputError(f"--shard-size must be at least 1, got {shard_size}")
    if fbank is not None and fbank not in FBANK_DTYPES:
        raise InputError(f"--fbank must be one of {', '.join(FBANK_DTYPES)}, got {fbank!r}")
    check_engine_args(engine, workers, address)
    if not isinstance(data, DataList):
        source = source or os.fspath(data)
        data = read_list(data)
    label_set = None
    labels_csv = None
    if labels is not None:
        label_set = labels if isinstance(labels, LabelSet) else read_labels(labels)
        labels_csv = {"classes": len(label_set)}
        if not isinstance(labels, LabelSet):
            labels_csv.update(path=os.fspath(labels), sha256=sha256_of(labels))

    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError("output exists and is not a folder", folder)
    fingerprint = list_fingerprint(data)
    plan = {"entries": len(data), "shard_size": shard_size, "fbank": fbank,
            "source_sha256": fingerprint,
            "labels_sha256": _labels_fingerprint(label_set)}
    _check_plan(folder / PARTS_DIR / "plan.json", plan, folder)
    remove_stale_temps(folder)

    ids = data.video_id
    skip = _duplicates(ids)
    label_index = dict(label_set.index) if label_set is not None else None
    numbers = range((len(data) + shard_size - 1) // shard_size)
    done: Dict[int, ShardInfo] = {}
    for k in numbers:
        info = _finished_shard(folder, k)
        if info is not None:
            done[k] = info
    todo = [k for k in numbers if k not in done]

    def job(k: int) -> ShardJob:
        first = k * shard_size
        last = min(first + shard_size, len(data))
        rows = [(i, ids[i], data.wav[i], data.video_path[i], data.labels[i])
                for i in range(first, last)]
        return ShardJob(k, os.fspath(folder), first, rows,
                        {i: r for i, r in skip.items() if first <= i < last}, label_index, fbank)

    inline = engine == "local" and (workers <= 1 or len(todo) <= 1)
    retries = 0
    bar = progress(total=len(data), desc="pack", unit="clip")
    bar.update(sum(s.entries for s in done.values()))
    try:
        if inline:
            from avprep.features.kaldi import torch_threads

            with torch_threads(1):
                for k in todo:
                    done[k] = write_shard(job(k), on_entry=lambda: bar.update(1))
                    if on_shard:
                        on_shard(done[k])
        elif todo:
            retries = _run_on_engine(engine, workers, address, (job(k) for k in todo), done,
                                     bar, on_shard)
    finally:
        bar.close()
        if not inline:
            remove_stale_temps(folder)  # what workers killed mid-shard left behind

    shards = [done[k] for k in numbers]
    index = _write_index(folder, data, shards)
    manifest = Manifest(entries=len(data), rows=sum(s.rows for s in shards),
                        shard_size=shard_size, fbank=fbank, source=source or "",
                        source_sha256=fingerprint, labels_csv=labels_csv, shards=shards,
                        index=index)
    manifest.write(folder)
    return PackResult(folder, manifest, written=len(todo), reused=len(numbers) - len(todo),
                      retries=retries)


def _run_on_engine(engine: str, workers: int, address: Optional[str], jobs: Iterable[ShardJob],
                   done: Dict[int, ShardInfo], bar, on_shard) -> int:
    """Write the shards of ``jobs`` with :func:`avprep.store.task.pack_shard` on an engine;
    fill ``done``.

    Returns how many shards were run again after their worker died. When some shard could not be
    written, the others still finish and the first such error is raised at the end.
    """
    from avprep.store.dispatch import open_engine, retries_of, run_jobs, window_size
    from avprep.store.task import pack_shard

    errors: List[AvprepError] = []
    runner = open_engine(engine, workers, address)
    try:
        for outcome in run_jobs(runner, pack_shard, jobs, window_size(workers)):
            job: ShardJob = outcome.item
            result = outcome.value
            if outcome.error is not None or isinstance(result, AvprepError):
                errors.append(result if outcome.error is None else AvprepError(
                    f"{shard_name(job.number)} was not written: {outcome.error}", job.folder))
                continue
            done[job.number] = result
            bar.update(result.entries)
            if on_shard:
                on_shard(result)
        retries = retries_of(runner)
    finally:
        runner.close()
    if errors:
        first = errors[0]
        first.message = (f"{first.message} ({len(errors)} shard{'s' if len(errors) > 1 else ''} "
                         "not written; a new run writes only those)")
        raise first
    return retries


def write_shard(job: ShardJob, on_entry: Optional[Callable[[], None]] = None) -> ShardInfo:
    """Write shard ``job.number`` (atomically) and its record in ``.parts/``; return its info."""
    folder = Path(job.folder)
    final = folder / shard_name(job.number)
    failures: List[Failure] = []
    incomplete: List[dict] = []
    row_entries: List[int] = []
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
                    row_entries.append(row[0])
                    if len(buffer["video_id"]) >= BATCH_ROWS:
                        _flush(writer, buffer)
                if on_entry:
                    on_entry()
            _flush(writer, buffer)
        size = os.path.getsize(tmp)
        digest = sha256_of(tmp)
    info = ShardInfo(name=final.name, first_entry=job.first_entry, entries=len(job.rows),
                     rows=len(row_entries), bytes=size, sha256=digest, failures=failures,
                     incomplete=incomplete)
    record = info.to_json()
    record["row_entries"] = row_entries
    write_text(_record_path(folder, job.number), json.dumps(record) + "\n")
    return info


def _record_path(folder: Path, number: int) -> Path:
    """``.parts/shard-NNNNN.json``: what a finished shard holds (its info and row entries)."""
    return folder / PARTS_DIR / f"{Path(shard_name(number)).stem}.json"


def _read_clip(row: EntryRow, label_index: Optional[Dict[str, int]],
               fbank_dtype: Optional[str]) -> dict:
    """One row's column values; :class:`MediaError` with the reason when it cannot be packed."""
    from avprep.features import centred_fbank, pcm16_to_float, read_pcm16

    entry, video_id, wav, video_path, labels = row
    unsafe = unsafe_reason(video_id)
    if unsafe:
        raise MediaError(f"unsafe video id: {unsafe}")
    indices = None
    if label_index is not None:
        mids = labels.split(",") if labels else []
        if not mids:
            raise MediaError("no labels")
        unknown = [m for m in mids if m not in label_index]
        if unknown:
            raise MediaError(f"label {unknown[0]} is not in the label CSV")
        indices = [label_index[m] for m in mids]
    problem = wav_problem(wav, channels=None)
    if problem is not None and problem != MISSING:  # a missing file: read_pcm16 says so
        raise MediaError(f"incomplete wav: {problem}", wav)
    pcm, rate = read_pcm16(wav)
    frames = {}
    for i, path in enumerate(frame_paths(video_path, video_id)):
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


def _finished_shard(folder: Path, number: int) -> Optional[ShardInfo]:
    """The record of shard ``number`` when both it and the shard file (same size) exist."""
    shard = folder / shard_name(number)
    try:
        obj = json.loads(_record_path(folder, number).read_text(encoding="utf-8"))
        obj.pop("row_entries", None)
        info = ShardInfo.from_json(obj)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not shard.is_file() or shard.stat().st_size != info.bytes:
        return None
    return info


def _row_entries(folder: Path, number: int) -> List[int]:
    record = _record_path(folder, number)
    return list(json.loads(record.read_text(encoding="utf-8"))["row_entries"])


def _write_index(folder: Path, data, shards: Sequence[ShardInfo]) -> dict:
    entries: List[int] = []
    shard_of: List[int] = []
    offsets: List[int] = []
    for k, info in enumerate(shards):
        rows = _row_entries(folder, k)
        if len(rows) != info.rows:
            raise InputError(f"record of {info.name} is inconsistent; delete {PARTS_DIR} and "
                             "run again", folder)
        entries.extend(rows)
        shard_of.extend([k] * len(rows))
        offsets.extend(range(len(rows)))
    ids = pa.array([data.video_id[i] for i in entries], type=pa.string())
    table = pa.table([ids, pa.array(entries, pa.int64()), pa.array(shard_of, pa.int32()),
                      pa.array(offsets, pa.int32())], schema=INDEX_SCHEMA)
    final = folder / INDEX_NAME
    with atomic_path(final) as tmp:
        with pa.OSFile(os.fspath(tmp), "wb") as sink, pa.ipc.new_file(sink, INDEX_SCHEMA) as w:
            w.write_table(table)
    return {"name": INDEX_NAME, "rows": len(entries), "bytes": final.stat().st_size,
            "sha256": sha256_of(final)}


def list_fingerprint(data) -> str:
    """sha256 over the four columns of a data list (same entries, same fingerprint)."""
    from avprep.lists.datalist import FIELDS

    digest = hashlib.sha256()
    for name in FIELDS:
        arr = data.arrow_column(name)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if not pa.types.is_string(arr.type):
            arr = arr.cast(pa.string())
        digest.update(f"{name}:{len(arr)}\n".encode())
        if len(arr) == 0:
            continue
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)
        offsets = offsets[arr.offset:arr.offset + len(arr) + 1]
        body = arr.buffers()[2]
        digest.update((offsets - offsets[0]).astype("<i4").tobytes())
        if body is not None:
            digest.update(memoryview(body)[int(offsets[0]):int(offsets[-1])])
    return digest.hexdigest()


def _labels_fingerprint(label_set) -> Optional[str]:
    if label_set is None:
        return None
    text = "\n".join(f"{m}\t{n}" for m, n in zip(label_set.mids, label_set.names))
    return hashlib.sha256(text.encode()).hexdigest()


def _check_plan(path: Path, plan: dict, folder: Path) -> None:
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if old != plan:
            differs = sorted(k for k in plan if old is None or old.get(k) != plan[k])
            raise InputError("folder holds a pack of another list or other options "
                             f"({', '.join(differs)} differ); use a new folder", folder)
        return
    # .parts without a plan is what a run killed right after creating it leaves
    leftovers = sorted(p.name for p in folder.iterdir() if p.name != PARTS_DIR) \
        if folder.is_dir() else []
    if leftovers:
        raise InputError(f"output folder is not empty and holds no pack ({leftovers[0]} ...)",
                         folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(plan, indent=1) + "\n")


def _duplicates(ids: Sequence[str]) -> Dict[int, str]:
    first: Dict[str, int] = {}
    out: Dict[int, str] = {}
    for i, vid in enumerate(ids):
        j = first.setdefault(vid, i)
        if j != i:
            out[i] = f"duplicate video id (first at entry {j})"
    return out
