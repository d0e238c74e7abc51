"""Per-clip embeddings of a list or pack in one Arrow file keyed by video id (``avprep embed``).

Columns: ``video_id`` (string), ``audio`` and ``video`` (the mean-pooled ``forward_feat`` tokens,
fixed-size lists of D floats) and, with ``tokens``, ``audio_tokens`` ``[N_a, D]`` and
``video_tokens`` ``[N_v, D]`` (the un-pooled sequences the original's
``extract_audio_representation.py`` saves, 512 x 768 audio tokens for a ViT-Base clip). The vectors
are not normalized. How they were made (checkpoint, frame, normalization, dtype) is in the schema
metadata under ``avprep.embed``.

Resumable: the work is written as part files in ``<out>.parts/``, each one atomically after every
``chunk`` clips, so a killed run loses at most the chunk under way. A later run with the same
settings skips every id already in the output or in a part, then merges everything into ``<out>``
(atomically) and removes the parts. Clips that fail are reported and retried by the next run.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pyarrow as pa

from avprep import atomic
from avprep.errors import FormatError, InputError
from avprep.models import resolve
from avprep.train.represent import (MIDDLE_FRAME, ClipDataset, clip_config, data_ids, encode,
                                    load_encoder)
from avprep.train.runtime import setup_runtime

PathLike = Union[str, "os.PathLike[str]"]

META_KEY = b"avprep.embed"
FORMAT_VERSION = 1
DTYPES = ("float32", "float16")
#: settings that must agree between the runs writing one embeddings file
SAME_SETTINGS = ("checkpoint", "checkpoint_bytes", "frame", "mean", "std", "target_length",
                 "dtype", "tokens", "pooling")


@dataclass
class EmbedResult:
    """What :func:`embed` did: the file, how many clips it holds, how many this run added and
    skipped (already embedded), and the clips that failed ``(video_id, reason)``."""

    path: Path
    n_rows: int
    n_new: int
    n_skipped: int
    failures: List[Tuple[str, str]] = field(default_factory=list)


@dataclass
class Embeddings:
    """Embeddings read back: ``ids`` and row-aligned ``audio``/``video`` ``[n, D]`` (float32),
    and the settings they were made with."""

    ids: List[str]
    audio: np.ndarray
    video: np.ndarray
    meta: Dict[str, Any]


def parts_dir(out: PathLike) -> Path:
    """Folder of the part files of a run writing ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _vectors(x: np.ndarray, dtype: str) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(x, dtype=dtype).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, x.shape[-1])


def _sequences(x: np.ndarray, dtype: str) -> pa.FixedSizeListArray:
    inner = _vectors(x.reshape(-1, x.shape[-1]), dtype)
    return pa.FixedSizeListArray.from_arrays(inner, x.shape[1])


def _table(ids: List[str], columns: Dict[str, np.ndarray], meta: Dict[str, Any]) -> pa.Table:
    arrays = {"video_id": pa.array(ids, pa.string())}
    for name, x in columns.items():
        arrays[name] = _sequences(x, meta["dtype"]) if x.ndim == 3 else _vectors(x, meta["dtype"])
    table = pa.table(arrays)
    return table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})


def _write(path: Path, table: pa.Table) -> None:
    with atomic.atomic_path(path) as tmp:
        with pa.OSFile(os.fspath(tmp), "wb") as sink:
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)


def read_table(path: PathLike) -> Tuple[pa.Table, Dict[str, Any]]:
    """An embeddings (or part) file as an Arrow table, and its ``avprep.embed`` settings."""
    try:
        with pa.memory_map(os.fspath(path), "r") as source:
            table = pa.ipc.open_file(source).read_all()
    except FileNotFoundError as err:
        raise InputError("embeddings file not found", path) from err
    except (OSError, pa.ArrowInvalid) as err:
        raise FormatError(f"not an Arrow embeddings file ({err})", path) from err
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None or "video_id" not in table.column_names:
        raise FormatError("not an avprep embeddings file (no avprep.embed metadata)", path)
    return table, json.loads(raw)


def _matrix(column: pa.ChunkedArray) -> np.ndarray:
    arr = column.combine_chunks()
    width = arr.type.list_size
    return np.asarray(arr.flatten().to_numpy(zero_copy_only=False),
                      dtype=np.float32).reshape(-1, width)


def read_embeddings(path: PathLike, ids: Optional[Sequence[str]] = None) -> Embeddings:
    """The pooled embeddings of ``path``: every row in file order, or the rows of ``ids`` in that
    order (an id the file lacks raises :class:`InputError` naming how many are missing)."""
    table, meta = read_table(path)
    file_ids = table.column("video_id").to_pylist()
    audio, video = _matrix(table.column("audio")), _matrix(table.column("video"))
    if ids is None:
        return Embeddings(file_ids, audio, video, meta)
    where = {vid: i for i, vid in reversed(list(enumerate(file_ids)))}
    missing = [vid for vid in ids if vid not in where]
    if missing:
        raise InputError(f"{len(missing)} of {len(ids)} clips have no embedding "
                         f"(first: {missing[0]}); run avprep embed on the list", path)
    rows = np.array([where[vid] for vid in ids], dtype=np.int64)
    return Embeddings(list(ids), audio[rows], video[rows], meta)


def read_tokens(path: PathLike, modality: str = "audio") -> Tuple[List[str], np.ndarray]:
    """The ids and token sequences ``[n, N, D]`` (float32) of ``modality`` ('audio', 'video')
    of a file written with ``tokens``."""
    table, _meta = read_table(path)
    name = f"{modality}_tokens"
    if name not in table.column_names:
        raise InputError(f"no {name} in this file: embed with --tokens", path)
    arr = table.column(name).combine_chunks()
    n_tok, dim = arr.type.list_size, arr.type.value_type.list_size
    values = np.asarray(arr.flatten().flatten().to_numpy(zero_copy_only=False), np.float32)
    return table.column("video_id").to_pylist(), values.reshape(-1, n_tok, dim)


def _check_same(meta: Dict[str, Any], found: Dict[str, Any], path: Path) -> None:
    for key in SAME_SETTINGS:
        if meta.get(key) != found.get(key):
            raise InputError(f"was written with {key} {found.get(key)!r}, this run has "
                             f"{meta.get(key)!r}; write to another file or remove it", path)


def _done_tables(out: Path, meta: Dict[str, Any]) -> List[pa.Table]:
    """The tables already written for ``out``: the file itself, then the parts in order."""
    tables = []
    files = ([out] if out.is_file() else []) + sorted(parts_dir(out).glob("part-*.arrow"))
    for path in files:
        table, found = read_table(path)
        _check_same(meta, found, path)
        tables.append(table)
    return tables


def _merge(out: Path, tables: List[pa.Table], order: Sequence[str],
           meta: Dict[str, Any]) -> int:
    """Write every row of ``tables`` (first copy of each id) to ``out``: the ids of ``order``
    first, in its order, then the others as found. Returns the row count."""
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables])
    ids = table.column("video_id").to_pylist()
    first: Dict[str, int] = {}
    for i, vid in enumerate(ids):
        first.setdefault(vid, i)
    rows = [first[vid] for vid in dict.fromkeys(order) if vid in first]
    listed = set(order)
    rows += [i for vid, i in first.items() if vid not in listed]
    merged = table.take(pa.array(rows, pa.int64()))
    merged = merged.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    _write(out, merged)
    return merged.num_rows


def embed(model: PathLike, data: PathLike, out: PathLike, *, tokens: bool = False,
          dtype: str = "float32", batch_size: int = 48, num_workers: int = 4,
          chunk: int = 1024, mean: Optional[float] = None, std: Optional[float] = None,
          frame: int = MIDDLE_FRAME, amp: Optional[bool] = None,
          device: Optional[str] = None) -> EmbedResult:
    """Embed every clip of ``data`` (a JSON list or pack) with checkpoint ``model`` into
    ``out`` (see the module notes); ids already there are skipped."""
    if dtype not in DTYPES:
        raise InputError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if batch_size < 1 or chunk < 1:
        raise InputError("batch size and chunk must be at least 1")
    out = Path(out)
    path = resolve(model)
    net, _report = load_encoder(path)
    config = clip_config(net, mean, std, frame)
    meta = {"version": FORMAT_VERSION, "model": os.fspath(model), "checkpoint": path.name,
            "checkpoint_bytes": path.stat().st_size, "frame": frame, "mean": config.mean,
            "std": config.std, "target_length": config.target_length, "dtype": dtype,
            "tokens": bool(tokens), "pooling": "mean", "normalized": False}
    order = data_ids(data)
    tables = _done_tables(out, meta)
    done = set()
    for t in tables:
        done.update(t.column("video_id").to_pylist())
    todo, seen = [], set(done)
    for i, vid in enumerate(order):
        if vid not in seen:
            seen.add(vid)
            todo.append(i)
    n_skipped = sum(1 for vid in dict.fromkeys(order) if vid in done)

    runtime = setup_runtime(amp, device)
    net = net.to(runtime.device)
    parts = parts_dir(out)
    start = len(list(parts.glob("part-*.arrow"))) if parts.is_dir() else 0
    failures: List[Tuple[str, str]] = []
    n_new = 0
    for k, begin in enumerate(range(0, len(todo), chunk)):
        dataset = ClipDataset(data, config, todo[begin:begin + chunk])
        ids: List[str] = []
        cols: Dict[str, List[np.ndarray]] = {"audio": [], "video": []}
        if tokens:
            cols.update(audio_tokens=[], video_tokens=[])
        desc = f"embedding {begin + 1}-{begin + len(dataset)} of {len(todo)}"
        for batch in encode(net, dataset, batch_size, num_workers, runtime, tokens, desc):
            failures += batch.failures
            if not batch.ids:
                continue
            ids += batch.ids
            cols["audio"].append(batch.audio.numpy())
            cols["video"].append(batch.video.numpy())
            if tokens:
                cols["audio_tokens"].append(batch.audio_tokens.numpy())
                cols["video_tokens"].append(batch.video_tokens.numpy())
        if ids:
            table = _table(ids, {n: np.concatenate(c) for n, c in cols.items()}, meta)
            _write(parts / f"part-{start + k:06d}.arrow", table)
            tables.append(table)
            n_new += len(ids)
    if parts.is_dir() and any(parts.glob("part-*.arrow")):
        n_rows = _merge(out, tables, order, meta)
    else:  # nothing new: the file stays as it is
        n_rows = tables[0].num_rows if tables else 0
    if parts.is_dir():
        shutil.rmtree(parts)
    return EmbedResult(out, n_rows, n_new, n_skipped, failures)
