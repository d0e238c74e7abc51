"""Which part of a released list a score was computed on (``--released LIST``).

About a sixth of AudioSet's evaluation clips can no longer be downloaded, so two scores on the
"same" split are comparable only on the same clips. :func:`coverage` counts how many of the
released ids were scored; :func:`write_ids` records the ids scored, one a line, beside the result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

from avprep import atomic
from avprep.errors import InputError
from avprep.safetext import lines_text

PathLike = Union[str, "os.PathLike[str]"]


def read_ids(path: PathLike) -> List[str]:
    """The video ids of a released JSON list, a pack folder, or a text file of ids (one a line,
    ``#`` comments and blank lines skipped)."""
    p = Path(path)
    if p.is_dir() or p.suffix.lower() == ".json":
        from avprep.train.represent import data_ids
        return data_ids(p)
    if not p.is_file():
        raise InputError("released list not found", p)
    lines = p.read_text(encoding="utf-8").splitlines()
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def coverage(scored: Sequence[str], released: PathLike) -> Dict[str, Any]:
    """How many of the ids in ``released`` are among ``scored``.

    Returns ``list``, ``n_released`` (distinct released ids), ``n_scored`` (distinct ids scored),
    ``n_scored_released`` (scored and released), ``percent`` (of the released ids scored) and
    ``n_scored_not_released`` (ids scored that the released list does not have).
    """
    rel = set(read_ids(released))
    if not rel:
        raise InputError("the released list has no ids", released)
    done = set(scored)
    both = len(done & rel)
    return {"list": os.fspath(released), "n_released": len(rel), "n_scored": len(done),
            "n_scored_released": both, "percent": 100.0 * both / len(rel),
            "n_scored_not_released": len(done - rel)}


def ids_path(json_path: PathLike) -> Path:
    """Where the ids scored go beside a ``--json`` result: ``<name>.scored_ids.txt``."""
    p = Path(json_path)
    stem = p.name[:-len(p.suffix)] if p.suffix else p.name
    return p.with_name(stem + ".scored_ids.txt")


def write_ids(path: PathLike, ids: Sequence[str]) -> None:
    """Write ``ids``, one a line (escaped as :func:`avprep.safetext.escape_line` says),
    atomically."""
    atomic.write_text(path, lines_text(ids))


def summary(cov: Dict[str, Any]) -> str:
    """One line for the terminal: ``scored 1,234 of 1,500 released ids (82.3%)``."""
    line = (f"scored {cov['n_scored_released']:,} of {cov['n_released']:,} released ids "
            f"({cov['percent']:.1f}%) of {cov['list']}")
    if cov["n_scored_not_released"]:
        line += f"; {cov['n_scored_not_released']:,} scored ids are not in it"
    return line


def annotate(result: Dict[str, Any], scored: Sequence[str], released: PathLike,
             json_path: Union[PathLike, None]) -> Dict[str, Any]:
    """Add ``result['released']`` (the :func:`coverage`) and, with ``json_path``, write the ids
    scored beside it (``ids_file`` in the coverage). Returns the coverage."""
    cov = coverage(scored, released)
    if json_path:
        target = ids_path(json_path)
        write_ids(target, scored)
        cov["ids_file"] = os.fspath(target)
    result["released"] = cov
    return cov
