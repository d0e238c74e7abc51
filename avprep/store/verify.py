"""``avprep pack --verify``: check every shard and the index of a pack against its manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Union

import pyarrow as pa

from avprep.digest import sha256_of
from avprep.progress import progress
from avprep.store.manifest import INDEX_NAME, read_manifest

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class VerifyReport:
    """What ``verify_store`` found: one line per problem, naming the file."""

    folder: Path
    shards: int = 0
    rows: int = 0
    problems: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every shard and the index match the manifest."""
        return not self.problems


def verify_store(folder: PathLike) -> VerifyReport:
    """Rehash every shard and the index against the manifest and check the index's rows.

    A missing manifest raises :class:`avprep.errors.InputError` (not a pack); everything else is a
    problem in the report: a missing or damaged shard, an index that does not match the shards.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    report = VerifyReport(folder, shards=len(manifest.shards), rows=manifest.rows)
    good_shards = {}
    for k, info in enumerate(progress(manifest.shards, total=len(manifest.shards),
                                      desc="verify", unit="shard")):
        path = folder / info.name
        if not path.is_file():
            report.problems.append(f"{path}: missing shard")
            continue
        size = path.stat().st_size
        if size != info.bytes:
            report.problems.append(f"{path}: damaged shard: {size} bytes, manifest says "
                                   f"{info.bytes}")
            continue
        if sha256_of(path) != info.sha256:
            report.problems.append(f"{path}: damaged shard: sha256 differs from the manifest")
            continue
        try:  # mapped, not read: only the id column is needed
            with pa.memory_map(os.fspath(path), "r") as source:
                ids = pa.ipc.open_file(source).read_all().column("video_id").to_pylist()
        except (OSError, pa.ArrowInvalid, KeyError) as err:
            report.problems.append(f"{path}: unreadable shard: {err}")
            continue
        if len(ids) != info.rows:
            report.problems.append(f"{path}: {len(ids)} rows, manifest says {info.rows}")
            continue
        good_shards[k] = ids
    _check_index(folder, manifest, good_shards, report)
    return report


def _check_index(folder: Path, manifest, good_shards: dict, report: VerifyReport) -> None:
    path = folder / INDEX_NAME
    if not path.is_file():
        report.problems.append(f"{path}: missing index")
        return
    if (path.stat().st_size != manifest.index.get("bytes")
            or sha256_of(path) != manifest.index.get("sha256")):
        report.problems.append(f"{path}: damaged index: sha256 differs from the manifest")
        return
    try:
        with pa.OSFile(os.fspath(path), "rb") as source:
            table = pa.ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid) as err:
        report.problems.append(f"{path}: unreadable index: {err}")
        return
    if table.num_rows != manifest.rows:
        report.problems.append(f"{path}: {table.num_rows} rows, manifest says {manifest.rows}")
        return
    ids = table.column("video_id").to_pylist()
    shard = table.column("shard").to_pylist()
    offset = table.column("offset").to_pylist()
    seen = set()
    for row, (vid, k, off) in enumerate(zip(ids, shard, offset)):
        if vid in seen:
            report.problems.append(f"{path}: row {row}: duplicate id {vid}")
            return
        seen.add(vid)
        if not 0 <= k < len(manifest.shards):
            report.problems.append(f"{path}: row {row}: shard {k} does not exist")
            return
        if k in good_shards:
            held = good_shards[k]
            if not 0 <= off < len(held) or held[off] != vid:
                report.problems.append(f"{path}: row {row} ({vid}) does not match "
                                       f"{manifest.shards[k].name} offset {off}")
                return
