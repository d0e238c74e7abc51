"""What a fetched file must be before it is recorded, checked with the project's own readers.

A label CSV parses (:func:`avprep.lists.read_labels`) with the manifest's ``classes``; a list
parses (:func:`avprep.lists.read_list`) with the manifest's ``entries``; a weight CSV parses
(:func:`avprep.lists.read_weights`) with its list's length; a checkpoint loads as a state dict
with ``torch.load(weights_only=True)`` (:func:`avprep.models.checkpoint.read_state_dict`). Every
file is refused when it is an HTML page or larger than its kind's size cap (the manifest's
optional ``max_bytes``, else :data:`MAX_BYTES`); a kind without a reader here gets only those two
checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Union

from avprep.errors import AvprepError, IntegrityError
from avprep.manifests import Resource

__all__ = ["check", "max_bytes", "ContentError", "MAX_BYTES", "DEFAULT_MAX_BYTES"]

PathLike = Union[str, "os.PathLike[str]"]

#: size cap by kind; the released files are far below (label CSVs 15 kB, lists up to 0.5 GB,
#: weight CSVs 45 MB, checkpoints up to 1 GB)
MAX_BYTES: Dict[str, int] = {"labels": 1 << 20, "list": 2 << 30, "weights": 256 << 20,
                             "checkpoint": 8 << 30, "segments": 512 << 20}
DEFAULT_MAX_BYTES = 8 << 30
_WHAT = {"labels": "label CSV", "list": "JSON list", "weights": "weight CSV",
         "checkpoint": "checkpoint", "segments": "segments CSV"}
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


class ContentError(IntegrityError):
    """A file that is not what its manifest entry says it is."""


def max_bytes(res: Resource) -> int:
    """The most bytes ``res`` may have: its manifest's ``max_bytes``, else its kind's cap."""
    explicit = res.info.get("max_bytes")
    if isinstance(explicit, int) and explicit > 0:
        return explicit
    return MAX_BYTES.get(res.kind, DEFAULT_MAX_BYTES)


def _expected(res: Resource, key: str):
    value = res.info.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read(res: Resource, path: Path) -> str:
    """Parse ``path`` as ``res.kind``; return what it holds (``"527 classes"``)."""
    if res.kind == "labels":
        from avprep.lists.labels import read_labels
        count, unit, wanted = len(read_labels(path)), "classes", _expected(res, "classes")
    elif res.kind == "list":
        from avprep.lists.jsonlist import read_list
        count, unit, wanted = len(read_list(path, cache=False)), "entries", \
            _expected(res, "entries")
    elif res.kind == "weights":
        from avprep.lists.weights import read_weights
        count, unit, wanted = len(read_weights(path)), "weights", _expected(res, "entries")
    elif res.kind == "checkpoint":
        from avprep.models.checkpoint import read_state_dict
        count, unit, wanted = len(read_state_dict(path)), "tensors", None
    elif res.kind == "segments":  # AudioSet's segment CSVs or VGGSound's vggsound.csv
        from avprep.download.segments import csv_kind, read_audioset_segments, read_vggsound_csv
        table = csv_kind(path)
        if table is None:
            raise ContentError("neither an AudioSet segments CSV nor vggsound.csv", path)
        count = len(read_audioset_segments(path) if table == "audioset"
                    else read_vggsound_csv(path))
        unit, wanted = "segments", _expected(res, "segments")
    else:
        return f"{os.path.getsize(path)} bytes"
    if wanted is not None and count != wanted:
        raise ContentError(f"{count} {unit}, expected {wanted}", path)
    return f"{count} {unit}"


def check(res: Resource, path: PathLike) -> str:
    """Check that ``path`` is what ``res`` says it is; return a short description of it
    (``"label CSV, 527 classes"``). Raises :class:`ContentError` whose message says what the
    file is not and why (``not a valid label CSV (line 3: ...)``)."""
    path = Path(path)
    what = _WHAT.get(res.kind, res.kind)
    size = path.stat().st_size
    cap = max_bytes(res)
    if size > cap:
        raise ContentError(f"not a {what}: {size} bytes, more than the {cap} a {what} may have",
                           path)
    with open(path, "rb") as fh:
        head = fh.read(1024).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_HTML_STARTS):
        raise ContentError(f"not a {what} but an HTML page (an error or sign-in page?)", path)
    try:
        found = _read(res, path)
    except ContentError as err:
        raise ContentError(f"not the released {what}: {err.message}", path) from None
    except AvprepError as err:
        entry = f"entry {err.entry}: " if err.entry is not None else ""
        raise ContentError(f"not a valid {what} ({entry}{err.message})", path) from None
    return f"{what}, {found}"
