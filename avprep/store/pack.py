"""``avprep pack``: write a data list's clips into Arrow shards, resumably, with a manifest.

Shard ``k`` holds list entries ``[k * shard_size, (k + 1) * shard_size)`` that could be packed, in
list order, so row ``i`` of the pack is the ``i``-th packable entry. Each shard is written whole
by :func:`avprep.store.writer.write_shard`; a later run with the same list and options reuses
every shard that has its record and writes only the rest. ``index.arrow`` and ``manifest.json``
come last. Shards are written in this process or, one shard per job, by
:func:`avprep.store.task.pack_shard` on an execution engine (:mod:`avprep.store.dispatch`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
import pyarrow as pa

from avprep.atomic import atomic_path, remove_stale_temps, write_text
from avprep.constants import N_FRAMES
from avprep.digest import sha256_of
from avprep.errors import AvprepError, InputError
from avprep.framespec import FrameSpec, common_frame_spec, write_frame_spec
from avprep.progress import progress
from avprep.store.manifest import INDEX_NAME, PARTS_DIR, Failure, Manifest, ShardInfo, shard_name
from avprep.store.schema import FBANK_DTYPES, INDEX_SCHEMA
from avprep.store.writer import ShardJob, finished_shards, row_entries, write_shard

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_SHARD_SIZE = 1000


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


def pack(data, out_dir: PathLike, labels=None, shard_size: int = DEFAULT_SHARD_SIZE,
         workers: int = 1, fbank: Optional[str] = None, source: Optional[str] = None,
         on_shard: Optional[Callable[[ShardInfo], None]] = None, engine: str = "local",
         address: Optional[str] = None) -> PackResult:
    """Pack the clips of ``data`` (a :class:`avprep.lists.DataList` or a JSON list path).

    ``labels``: a :class:`avprep.lists.LabelSet` or label CSV path; with it every label must be in
    the CSV and rows also store the class indices. ``fbank``: None, ``'float32'`` or ``'float16'``
    stores each clip's :func:`avprep.features.wav_fbank` result in that precision.

    ``engine`` (a name from :mod:`avprep.engines`) writes ``workers`` shards at a time:
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
    from avprep.engines import check_engine_args

    if shard_size < 1:
        raise InputError(f"--shard-size must be at least 1, got {shard_size}")
    if fbank is not None and fbank not in FBANK_DTYPES:
        raise InputError(f"--fbank must be one of {', '.join(FBANK_DTYPES)}, got {fbank!r}")
    check_engine_args(engine, workers, address)
    if not isinstance(data, DataList):
        source = source or os.fspath(data)
        data = read_list(data)
    frame_spec = packable_frame_spec(data, source)
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
    check_plan(folder / PARTS_DIR / "plan.json", plan, folder)
    remove_stale_temps(folder)

    ids = data.video_id
    skip = _duplicates(ids)
    label_index = dict(label_set.index) if label_set is not None else None
    numbers = range((len(data) + shard_size - 1) // shard_size)
    done = finished_shards(folder, numbers)
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
            retries = run_on_engine(engine, workers, address, (job(k) for k in todo), done,
                                    bar, on_shard)
    finally:
        bar.close()
        if not inline:
            remove_stale_temps(folder)  # what workers killed mid-shard left behind

    shards = [done[k] for k in numbers]
    index = write_index(folder, data.video_id, shards)
    manifest = Manifest(entries=len(data), rows=sum(s.rows for s in shards),
                        shard_size=shard_size, fbank=fbank, source=source or "",
                        source_sha256=fingerprint, labels_csv=labels_csv, shards=shards,
                        index=index)
    if not frame_spec.is_default:
        write_frame_spec(folder, frame_spec)
    manifest.write(folder)
    return PackResult(folder, manifest, written=len(todo), reused=len(numbers) - len(todo),
                      retries=retries)


def packable_frame_spec(data, source: Optional[str] = None) -> FrameSpec:
    """The frame spec the list's frame folders record, which the pack records too; a pack holds
    :data:`~avprep.constants.N_FRAMES` frames per clip, so another count is an
    :class:`InputError`."""
    spec = common_frame_spec(data.distinct("video_path"), source)
    if spec.count != N_FRAMES:
        raise InputError(f"a pack holds {N_FRAMES} frames per clip; the list's frames are "
                         f"{spec.count} per clip ({spec.describe()})", source)
    return spec


def run_on_engine(engine: str, workers: int, address: Optional[str], jobs: Iterable[ShardJob],
                  done: Dict[int, ShardInfo], bar, on_shard,
                  fn: Optional[Callable[[Any], Any]] = None) -> int:
    """Write the shards of ``jobs`` with ``fn`` (default :func:`avprep.store.task.pack_shard`)
    on an engine; fill ``done``.

    Returns how many shards were run again after their worker died. When some shard could not be
    written, the others still finish and the first such error is raised at the end.
    """
    from avprep.store.dispatch import open_engine, run_jobs, window_size

    if fn is None:
        from avprep.store.task import pack_shard as fn
    errors: List[AvprepError] = []
    runner = open_engine(engine, workers, address)
    try:
        for outcome in run_jobs(runner, fn, jobs, window_size(workers)):
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
        retries = runner.retries
    finally:
        runner.close()
    if errors:
        first = errors[0]
        first.message = (f"{first.message} ({len(errors)} shard{'s' if len(errors) > 1 else ''} "
                         "not written; a new run writes only those)")
        raise first
    return retries


def write_index(folder: Path, ids: Sequence[str], shards: Sequence[ShardInfo]) -> dict:
    """Write ``index.arrow`` for ``shards`` (``ids``: the video id of every list entry) from
    the shards' records; return its manifest entry."""
    entries: List[int] = []
    shard_of: List[int] = []
    offsets: List[int] = []
    for k, info in enumerate(shards):
        rows = row_entries(folder, k)
        if len(rows) != info.rows:
            raise InputError(f"record of {info.name} is inconsistent; delete {PARTS_DIR} and "
                             "run again", folder)
        entries.extend(rows)
        shard_of.extend([k] * len(rows))
        offsets.extend(range(len(rows)))
    row_ids = pa.array([ids[i] for i in entries], type=pa.string())
    table = pa.table([row_ids, pa.array(entries, pa.int64()), pa.array(shard_of, pa.int32()),
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


def check_plan(path: Path, plan: dict, folder: Path) -> None:
    """Write ``plan`` to ``path`` in a new or empty ``folder``; :class:`InputError` when the
    folder holds a pack of another plan, or other files and no plan."""
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if old != plan:
            differs = sorted(k for k in plan if old is None or old.get(k) != plan[k])
            raise InputError("folder holds a pack of another input or other options "
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
