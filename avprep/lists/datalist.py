"""A data list held as four string columns: one entry per clip, as in the released JSON lists.

The columns are Arrow string arrays, so a 2M-entry list costs about its text size in memory, stays
shared between forked data-loader workers, and reloads from a memory-mapped cache. Python lists of
``str`` are made on first use of a column attribute and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Mapping, Sequence, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avprep.lists.labels import split_labels

FIELDS = ("video_id", "wav", "video_path", "labels")
_ITER_BATCH = 65536

Column = Union[Sequence[str], pa.Array, pa.ChunkedArray]


@dataclass(frozen=True)
class Entry:
    """One clip of a data list; ``labels`` is the comma-joined string as stored in the file."""

    video_id: str
    wav: str
    video_path: str
    labels: str

    def label_list(self) -> List[str]:
        """The labels as a list of mids (empty for an empty label string)."""
        return split_labels(self.labels)

    def to_dict(self) -> Dict[str, str]:
        """The entry as the JSON object the original scripts read."""
        return {"video_id": self.video_id, "wav": self.wav, "video_path": self.video_path,
                "labels": self.labels}


def _as_string_array(values: Column, name: str) -> Union[pa.Array, pa.ChunkedArray]:
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 1:
            values = values.chunk(0)
        elif values.num_chunks == 0:
            values = pa.array([], type=pa.string())
        else:
            kind = values.type
            if not (pa.types.is_string(kind) or (pa.types.is_dictionary(kind)
                                                 and pa.types.is_string(kind.value_type))):
                values = values.cast(pa.string())
            if values.null_count:
                raise TypeError(f"column {name} has {values.null_count} missing values")
            return values
    if isinstance(values, pa.Array):
        if pa.types.is_dictionary(values.type):
            if pa.types.is_string(values.type.value_type) and values.null_count == 0:
                return values
            values = values.dictionary_decode()
        if pa.types.is_large_string(values.type):
            values = values.cast(pa.string())
        if not pa.types.is_string(values.type):
            raise TypeError(f"column {name} must hold strings, not {values.type}")
        if values.null_count:
            raise TypeError(f"column {name} has {values.null_count} missing values")
        return values
    return pa.array(list(values), type=pa.string())


def _plain(values: Union[pa.Array, pa.ChunkedArray]) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values


class DataList:
    """The entries of a data list, column-wise: ``video_id``, ``wav``, ``video_path``, ``labels``.

    Supports ``len``, indexing (an int gives an :class:`Entry`, a slice a :class:`DataList`) and
    iteration over entries. Build one with :meth:`from_entries`, :meth:`from_columns` or
    :func:`avprep.lists.read_list`.
    """

    __slots__ = ("_arrays", "_python")

    def __init__(self, video_id: Column, wav: Column, video_path: Column, labels: Column):
        arrays = {name: _as_string_array(col, name)
                  for name, col in zip(FIELDS, (video_id, wav, video_path, labels))}
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns differ in length: "
                             f"{ {k: len(v) for k, v in arrays.items()} }")
        self._arrays: Dict[str, pa.Array] = arrays
        self._python: Dict[str, List[str]] = {}

    # construction -------------------------------------------------------------------------
    @classmethod
    def from_entries(cls, entries: Iterable[Union[Entry, Mapping[str, str]]]) -> "DataList":
        """A list from :class:`Entry` objects or dicts with the four fields."""
        cols: Dict[str, List[str]] = {name: [] for name in FIELDS}
        for entry in entries:
            get = entry.__getitem__ if isinstance(entry, Mapping) else entry.__getattribute__
            for name in FIELDS:
                cols[name].append(get(name))
        return cls(**cols)

    @classmethod
    def from_columns(cls, columns: Mapping[str, Column]) -> "DataList":
        """A list from a mapping of the four field names to columns of equal length."""
        return cls(**{name: columns[name] for name in FIELDS})

    @classmethod
    def from_arrow(cls, table: pa.Table) -> "DataList":
        """A list from an Arrow table with (at least) the four string columns."""
        return cls(**{name: table.column(name) for name in FIELDS})

    def to_arrow(self) -> pa.Table:
        """The four columns as an Arrow table (no copy; a repetitive column may be dictionary
        encoded)."""
        return pa.Table.from_arrays([self._arrays[n] for n in FIELDS], names=list(FIELDS))

    def compact(self) -> "DataList":
        """The same list with columns of few distinct values (usually ``video_path``) held once
        per distinct value."""
        arrays = dict(self._arrays)
        for name in ("video_path",):
            column = arrays[name]
            if pa.types.is_dictionary(column.type) or len(column) < 2:
                continue
            distinct = pc.unique(column)
            if len(distinct) * 2 <= len(column):
                indices = pc.index_in(column, value_set=distinct).cast(pa.int32())
                if isinstance(indices, pa.ChunkedArray):
                    indices = indices.combine_chunks()
                arrays[name] = pa.DictionaryArray.from_arrays(indices, distinct)
        return DataList(**arrays)

    # columns ------------------------------------------------------------------------------
    def column(self, name: str) -> List[str]:
        """Column ``name`` as a list of ``str`` (made once, then kept)."""
        if name not in self._arrays:
            raise KeyError(f"no column {name!r}; columns are {FIELDS}")
        if name not in self._python:
            self._python[name] = self._arrays[name].to_pylist()
        return self._python[name]

    def arrow_column(self, name: str) -> Union[pa.Array, pa.ChunkedArray]:
        """Column ``name`` as Arrow strings, no copy: a string array, a chunked one (as parsed
        in pieces) or a dictionary array (``video_path`` of a read list)."""
        return self._arrays[name]

    def distinct(self, name: str) -> List[str]:
        """The distinct values of column ``name``, in order of first appearance."""
        import pyarrow.compute as pc

        return [str(v) for v in pc.unique(self.arrow_column(name)).to_pylist()]

    @property
    def video_id(self) -> List[str]:
        """The video ids, in list order."""
        return self.column("video_id")

    @property
    def wav(self) -> List[str]:
        """The wav paths, in list order."""
        return self.column("wav")

    @property
    def video_path(self) -> List[str]:
        """The frame folders, in list order."""
        return self.column("video_path")

    @property
    def labels(self) -> List[str]:
        """The comma-joined label strings, in list order."""
        return self.column("labels")

    def label_list(self, i: int) -> List[str]:
        """The labels of entry ``i`` as a list of mids (empty for an empty label string)."""
        return split_labels(self._value("labels", i))

    # sequence protocol --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._arrays["video_id"])

    def _value(self, name: str, i: int) -> str:
        cached = self._python.get(name)
        if cached is not None:
            return cached[i]
        return self._arrays[name][i].as_py()

    def __getitem__(self, key: Union[int, slice]) -> Union[Entry, "DataList"]:
        if isinstance(key, slice):
            return self.select(range(len(self))[key])
        n = len(self)
        i = int(key)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"entry {key} out of range for a list of {n}")
        return Entry(*(self._value(name, i) for name in FIELDS))

    def __iter__(self) -> Iterator[Entry]:
        n = len(self)
        for start in range(0, n, _ITER_BATCH):
            stop = min(n, start + _ITER_BATCH)
            cols = [self._python[name][start:stop] if name in self._python
                    else self._arrays[name][start:stop].to_pylist() for name in FIELDS]
            for values in zip(*cols):
                yield Entry(*values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataList):
            return NotImplemented
        return len(self) == len(other) and all(
            _plain(self._arrays[n]).equals(_plain(other._arrays[n])) for n in FIELDS)

    def __repr__(self) -> str:
        return f"DataList({len(self)} entries)"

    # derived lists ------------------------------------------------------------------------
    def select(self, indices: Union[Sequence[int], np.ndarray, range]) -> "DataList":
        """A new list of the entries at ``indices``, in that order."""
        if isinstance(indices, range) and indices.step == 1:
            return DataList(**{n: self._arrays[n].slice(indices.start, len(indices))
                               for n in FIELDS})
        idx = pa.array(np.asarray(indices, dtype=np.int64).reshape(-1), type=pa.int64())
        return DataList(**{n: self._arrays[n].take(idx) for n in FIELDS})

    def replace(self, **columns: Column) -> "DataList":
        """A new list with some columns replaced (e.g. ``wav=[...]`` to rewrite paths)."""
        unknown = set(columns) - set(FIELDS)
        if unknown:
            raise KeyError(f"unknown columns {sorted(unknown)}; columns are {FIELDS}")
        return DataList(**{n: columns.get(n, self._arrays[n]) for n in FIELDS})

    def to_dicts(self) -> List[Dict[str, str]]:
        """The entries as dicts, as ``json.load(...)["data"]`` would give them."""
        return [e.to_dict() for e in self]
