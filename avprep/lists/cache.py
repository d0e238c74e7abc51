"""A memory-mapped Arrow copy of a parsed data list, reused while its source file is unchanged.

The copy lives in the ``lists`` part of avprep's cache folder (:mod:`avprep.cache_dir`:
``$AVPREP_CACHE/lists``, else ``$XDG_CACHE_HOME/avprep/lists``, else ``~/.cache/avprep/lists``),
never beside the source, so read-only and shared data folders are left alone. It records the source's absolute path, size, modification time and a SHA-256 of
its first and last MiB; any difference makes the copy stale and it is rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Optional, Union

import pyarrow as pa

from avprep.atomic import atomic_path
from avprep.cache_dir import cache_path

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

FORMAT_VERSION = "1"
_EDGE_BYTES = 1 << 20
_META_KEY = b"avprep.list.source"


def default_cache_dir() -> Path:
    """The folder that holds list caches (see the module docstring)."""
    return cache_path("lists")


def fingerprint(source: PathLike) -> str:
    """What identifies the current content of ``source``: path, size, mtime, edge hash."""
    source = Path(source).resolve()
    st = source.stat()
    digest = hashlib.sha256()
    with open(source, "rb") as fh:
        digest.update(fh.read(_EDGE_BYTES))
        if st.st_size > _EDGE_BYTES:
            fh.seek(max(_EDGE_BYTES, st.st_size - _EDGE_BYTES))
            digest.update(fh.read(_EDGE_BYTES))
    return "|".join((FORMAT_VERSION, str(source), str(st.st_size), str(st.st_mtime_ns),
                     digest.hexdigest()))


def cache_file(source: PathLike, cache_dir: Optional[PathLike] = None) -> Path:
    """Where the cached copy of ``source`` is kept."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = hashlib.sha256(str(Path(source).resolve()).encode("utf-8", "surrogatepass"))
    return folder / f"{key.hexdigest()[:32]}.arrow"


def load(source: PathLike, key: str, cache_dir: Optional[PathLike] = None) -> Optional[pa.Table]:
    """The cached table of ``source`` when its recorded fingerprint equals ``key``, else None."""
    path = cache_file(source, cache_dir)
    try:
        reader = pa.ipc.open_file(pa.memory_map(str(path), "r"))
        meta = reader.schema.metadata or {}
        if meta.get(_META_KEY) != key.encode("utf-8", "surrogatepass"):
            return None
        return reader.read_all()
    except (OSError, pa.ArrowException) as err:
        if not isinstance(err, FileNotFoundError):
            log.debug("list cache %s unusable: %s", path, err)
        return None


def store(source: PathLike, key: str, table: pa.Table,
          cache_dir: Optional[PathLike] = None) -> Optional[Path]:
    """Write ``table`` as the cached copy of ``source``; return its path, or None on failure."""
    path = cache_file(source, cache_dir)
    table = table.replace_schema_metadata({_META_KEY: key.encode("utf-8", "surrogatepass")})
    try:
        with atomic_path(path) as tmp:
            with pa.OSFile(str(tmp), "wb") as sink:
                with pa.ipc.new_file(sink, table.schema) as writer:
                    writer.write_table(table)
    except (OSError, pa.ArrowException) as err:
        log.debug("could not write list cache %s: %s", path, err)
        return None
    return path
