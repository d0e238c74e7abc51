"""avprep's one cache folder: where it is, what it holds, and how to empty it.

The folder is ``$AVPREP_CACHE``, else ``$XDG_CACHE_HOME/avprep``, else ``~/.cache/avprep``. It
holds three parts, each in its own subfolder:

- ``lists/``: memory-mapped Arrow copies of parsed JSON lists (:mod:`avprep.lists.cache`),
  about half a list's size, rebuilt when a list changes;
- ``models/``: model-zoo checkpoints fetched on first use by name (:mod:`avprep.models.zoo`),
  with their ``fetch-lock.json``;
- ``released/<group>/``: released lists, label CSVs and weights that ``make prepare-audioset``
  and ``make prepare-vggsound`` fetch when no ``LISTS`` folder is given.

:func:`clear` removes only what avprep put there (``*.arrow`` files in ``lists/``, the files a
``fetch-lock.json`` records, their partial downloads and the lock files), so pointing
``$AVPREP_CACHE`` at a folder that holds other files never deletes them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["CACHE_ENV", "PARTS", "cache_root", "cache_path", "CachePart", "usage", "clear"]

CACHE_ENV = "AVPREP_CACHE"
#: subfolder -> what it holds
PARTS: Dict[str, str] = {
    "lists": "Arrow copies of parsed JSON lists",
    "models": "model-zoo checkpoints fetched by name",
    "released": "released lists, label CSVs and weights fetched by make prepare-*",
}
# kept in step with avprep.fetch (this module imports nothing from avprep)
_LOCK_NAME = "fetch-lock.json"
_PART_SUFFIXES = (".avprep-part", ".avprep-part.json")


def cache_root() -> Path:
    """The cache folder: ``$AVPREP_CACHE``, else ``$XDG_CACHE_HOME/avprep``, else
    ``~/.cache/avprep``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "avprep"


def cache_path(part: str) -> Path:
    """The subfolder ``part`` (one of :data:`PARTS`) of the cache folder."""
    if part not in PARTS:
        raise ValueError(f"unknown cache part {part!r}; known: {', '.join(PARTS)}")
    return cache_root() / part


@dataclass
class CachePart:
    """One part of the cache: the files avprep stored in it and their total bytes."""

    name: str
    path: Path
    files: List[Path] = field(default_factory=list)
    size: int = 0


def _locked_files(folder: Path) -> List[Path]:
    """The files a ``fetch-lock.json`` in ``folder`` records, their partial downloads and the
    lock file itself, those that exist."""
    lock = folder / _LOCK_NAME
    names: List[str] = []
    try:
        names = list(json.loads(lock.read_text(encoding="utf-8")).get("files", {}))
    except (OSError, ValueError, AttributeError):
        pass
    found = [lock] if lock.is_file() else []
    for name in names:
        if "/" in name or name in ("", ".", ".."):  # a lock file only ever names plain files
            continue
        found += [p for p in [folder / name] if p.is_file()]
    found += sorted(p for p in folder.glob("*") if p.name.endswith(_PART_SUFFIXES)
                    and p.is_file())
    return found


def _part_files(name: str, path: Path) -> List[Path]:
    if not path.is_dir():
        return []
    if name == "lists":
        return sorted(p for p in path.glob("*.arrow") if p.is_file())
    if name == "models":
        return _locked_files(path)
    return [f for group in sorted(path.iterdir()) if group.is_dir()
            for f in _locked_files(group)]


def _sizes(paths: List[Path]) -> int:
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except OSError:
            pass
    return total


def usage() -> List[CachePart]:
    """Each part of the cache with the files avprep stored in it (see the module docstring)."""
    root = cache_root()
    parts = []
    for name in PARTS:
        files = _part_files(name, root / name)
        parts.append(CachePart(name, root / name, files, _sizes(files)))
    return parts


def clear(part: Optional[str] = None) -> List[CachePart]:
    """Remove what avprep stored in the cache, every part or only ``part``; return what was
    removed. Files avprep did not put there are left alone, and so are the folders."""
    if part is not None and part not in PARTS:
        raise ValueError(f"unknown cache part {part!r}; known: {', '.join(PARTS)}")
    removed = [p for p in usage() if part is None or p.name == part]
    for entry in removed:
        for path in entry.files:
            path.unlink(missing_ok=True)
    return removed
