"""Label CSVs: ``index,mid,display_name``, one row per class, display names double-quoted.

The class index of a mid is the file's ``index`` column, as the original loader reads it; the
indices must be 0..N-1 (in any row order) and mids unique, or the file is unusable.

A list entry's label string (``"/m/09x0r,/m/05zppz"``) becomes class indices with
:func:`class_indices` (one entry) or :func:`label_codes` (a whole list column, for counts); both
follow one rule, stated in :func:`class_indices`.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avprep.atomic import write_text
from avprep.errors import FormatError
from avprep.lists.textfile import read_text

PathLike = Union[str, "os.PathLike[str]"]

HEADER = ("index", "mid", "display_name")


@dataclass(frozen=True)
class LabelSet:
    """The classes of a dataset in index order: ``mids[i]`` has display name ``names[i]``."""

    mids: List[str]
    names: List[str]
    index: Dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.mids) != len(self.names):
            raise ValueError(f"{len(self.mids)} mids but {len(self.names)} names")
        index = {mid: i for i, mid in enumerate(self.mids)}
        if len(index) != len(self.mids):
            raise ValueError("mids are not unique")
        object.__setattr__(self, "index", index)

    def __len__(self) -> int:
        return len(self.mids)

    def __contains__(self, mid: object) -> bool:
        return mid in self.index

    @classmethod
    def from_pairs(cls, pairs: Sequence[Sequence[str]]) -> "LabelSet":
        """A label set from ``(mid, display_name)`` pairs in index order."""
        return cls([p[0] for p in pairs], [p[1] for p in pairs])


def split_labels(text: str) -> List[str]:
    """The mids of a label string, split at commas; none for an empty string."""
    return text.split(",") if text else []


def class_indices(text: str, index: Mapping[str, int], path: Optional[PathLike] = None,
                  entry: object = None, video_id: Optional[str] = None) -> List[int]:
    """The class indices of label string ``text``, in the order written, a repeated mid repeated.

    ``index`` maps mid -> class index (:attr:`LabelSet.index`). Every mid must be in it: a label
    that is not (an empty one between commas included) is a :class:`FormatError` naming the
    label, and ``path``, ``entry`` and ``video_id`` where given. An empty string is refused the
    same way (``no labels``), not read as "no classes": the original loader splits it into one
    empty label and fails on that lookup (``index_dict['']``), and an all-zero target would train
    a clip as a negative of every class.
    """
    of = f" of {video_id!r}" if video_id is not None else ""
    if not text:
        raise FormatError(f"no labels{of} (an empty label string)", path, entry)
    out = []
    for mid in text.split(","):
        cls = index.get(mid) if mid else None
        if cls is None:
            raise FormatError(f"label {mid!r}{of} is not in the label CSV", path, entry)
        out.append(cls)
    return out


def label_codes(column: Union[pa.Array, pa.ChunkedArray], labels: LabelSet
                ) -> Tuple[np.ndarray, np.ndarray, pa.Array]:
    """Every label of a list's ``labels`` column, split as :func:`class_indices` splits it:
    ``(entry, code, pieces)``, one item per label in entry order: the entry it belongs to, its
    class index or -1 where :func:`class_indices` refuses it (an unknown or empty label; an empty
    string is one empty label), and the label text."""
    split = pc.split_pattern(column, ",")
    lengths = pc.list_value_length(split).to_numpy(zero_copy_only=False).astype(np.int64)
    entry = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    pieces = pc.list_flatten(split)
    if isinstance(pieces, pa.ChunkedArray):
        pieces = pieces.combine_chunks()
    code = pc.index_in(pieces, value_set=pa.array(labels.mids, pa.string()))
    code = code.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    code[pc.equal(pieces, "").to_numpy(zero_copy_only=False)] = -1
    return entry, code, pieces


def read_labels(path: PathLike) -> LabelSet:
    """Read a label CSV; :class:`FormatError` names the line of a bad row."""
    path = Path(path)
    text = read_text(path, "label CSV", newline="")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader, None)
        if header is None:
            raise FormatError("empty file; expected the header index,mid,display_name", path)
        header = [h.strip() for h in header]
        missing = [h for h in HEADER if h not in header]
        if missing:
            raise FormatError(f"header {','.join(header)!r} lacks column(s) "
                              f"{', '.join(missing)}; expected index,mid,display_name", path)
        col = {h: header.index(h) for h in HEADER}
        rows = {}
        seen_mids: Dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise FormatError(f"line {line}: {len(row)} fields, expected {len(header)}", path)
            raw_index, mid, name = (row[col["index"]].strip(), row[col["mid"]].strip(),
                                    row[col["display_name"]])
            try:
                index = int(raw_index)
            except ValueError:
                raise FormatError(f"line {line}: index {raw_index!r} is not an integer",
                                  path) from None
            if index in rows:
                raise FormatError(f"line {line}: index {index} appears twice", path)
            if not mid:
                raise FormatError(f"line {line}: empty mid", path)
            if mid in seen_mids:
                raise FormatError(f"line {line}: mid {mid!r} already on line {seen_mids[mid]}",
                                  path)
            seen_mids[mid] = line
            rows[index] = (mid, name)
    except csv.Error as err:
        raise FormatError(f"line {reader.line_num}: not valid CSV: {err}", path) from None
    if not rows:
        raise FormatError("no classes after the header", path)
    if sorted(rows) != list(range(len(rows))):
        bad = next(i for i in sorted(rows) if i < 0 or i >= len(rows))
        raise FormatError(f"class indices must be 0..{len(rows) - 1}; found {bad}", path)
    return LabelSet.from_pairs([rows[i] for i in range(len(rows))])


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def labels_text(labels: LabelSet) -> str:
    """The CSV text of ``labels`` as the released files write it (names always quoted)."""
    lines = [",".join(HEADER)]
    for i, (mid, name) in enumerate(zip(labels.mids, labels.names)):
        if any(c in mid for c in ',"\n\r'):
            mid = _quote(mid)
        lines.append(f"{i},{mid},{_quote(name)}")
    return "\n".join(lines) + "\n"


def write_labels(path: PathLike, labels: LabelSet) -> None:
    """Write a label CSV atomically, in the released files' layout."""
    write_text(path, labels_text(labels))
