"""Random access to a pack: ``open_store(folder)[i]`` and ``.by_id(video_id)``.

Shards are memory-mapped when first used, in the process that uses them: a store object made
before a DataLoader forks its workers opens its own maps in each worker, and pickling it (spawned
workers) carries only the folder and the index. At most ``max_open`` shards stay mapped at once.
"""

from __future__ import annotations

import bisect
import collections
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import pyarrow as pa

from avprep.errors import IntegrityError
from avprep.store.manifest import INDEX_NAME, Manifest, read_manifest
from avprep.store.schema import FBANK_BINS, FRAME_COLUMNS

PathLike = Union[str, "os.PathLike[str]"]


class Record:
    """One packed clip, read from the mapped shard on access: a sample that uses one frame and
    the stored fbank builds only those.

    ``pcm``: int16 ``[channels, samples]`` exactly as in the wav (a read-only view of the mapped
    shard); ``frames``: the JPEG files' bytes as written, one per frame column, None for a frame
    that was missing (a sequence that reads a frame when it is indexed); ``fbank``: float32
    ``[frames, 128]`` un-padded and un-normalized, or None when packed without ``--fbank``;
    ``label_indices``: class indices when packed with ``--labels``.
    """

    __slots__ = ("video_id", "list_index", "row", "_arrays", "_r", "_columns", "_fbank_dtype")

    def __init__(self, video_id: str, list_index: int, row: int, arrays: List[pa.Array], r: int,
                 columns: Dict[str, int], fbank_dtype: Optional[np.dtype]):
        self.video_id = video_id
        self.list_index = list_index
        self.row = row
        self._arrays, self._r, self._columns = arrays, r, columns
        self._fbank_dtype = fbank_dtype

    def _value(self, name: str):
        return self._arrays[self._columns[name]][self._r]

    @property
    def labels(self) -> str:
        """The comma-joined label string."""
        return self._value("labels").as_py()

    @property
    def label_indices(self) -> Optional[List[int]]:
        """The class indices (packed with ``--labels``), else None."""
        return self._value("label_indices").as_py()

    @property
    def sample_rate(self) -> int:
        """The wav's sample rate."""
        return self._value("sample_rate").as_py()

    @property
    def pcm(self) -> np.ndarray:
        """int16 ``[channels, samples]``, a read-only view of the mapped shard."""
        channels = self._value("channels").as_py()
        pcm = np.frombuffer(self._value("pcm").as_buffer(), dtype="<i2")
        return pcm.reshape(-1, channels).T

    @property
    def frames(self) -> "Frames":
        """The frames' JPEG bytes (None where missing), each read when indexed."""
        return Frames(self)

    def frame(self, index: int) -> Optional[bytes]:
        """The JPEG bytes of frame ``index``, or None where it was missing."""
        value = self._value(FRAME_COLUMNS[index])
        return value.as_py() if value.is_valid else None

    @property
    def fbank(self) -> Optional[np.ndarray]:
        """float32 ``[frames, 128]`` (a copy), or None when not stored."""
        if self._fbank_dtype is None:
            return None
        blob = self._value("fbank")
        if not blob.is_valid:
            return None
        fb = np.frombuffer(blob.as_buffer(), dtype=self._fbank_dtype)
        return fb.reshape(self._value("fbank_frames").as_py(), FBANK_BINS).astype(np.float32)

    def label_list(self) -> List[str]:
        """The labels as a list of mids (empty for an empty label string)."""
        from avprep.lists.labels import split_labels

        return split_labels(self.labels)

    def waveform(self):
        """The audio as ``torchaudio.load`` (and :func:`avprep.features.load_wav`) returns it."""
        from avprep.features import pcm16_to_float

        return pcm16_to_float(self.pcm)

    def __repr__(self) -> str:
        return f"Record({self.video_id!r}, row={self.row}, list_index={self.list_index})"


class Frames(Sequence):
    """The frames of one :class:`Record`: ``frames[i]`` reads frame ``i`` only; a slice gives a
    list; equal to a list of the same bytes."""

    __slots__ = ("_record",)

    def __init__(self, record: Record):
        self._record = record

    def __len__(self) -> int:
        return len(FRAME_COLUMNS)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._record.frame(i) for i in range(len(FRAME_COLUMNS))[index]]
        n = len(FRAME_COLUMNS)
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames")
        return self._record.frame(index % n)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Frames, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Frames({self._record.video_id!r}, {len(self)} frames)"


class _Shard:
    """One memory-mapped shard: its record batches and where each starts."""

    def __init__(self, path: Path):
        self.source = pa.memory_map(os.fspath(path), "r")
        reader = pa.ipc.open_file(self.source)
        self.batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        self.starts = []
        total = 0
        for batch in self.batches:
            self.starts.append(total)
            total += batch.num_rows
        self.rows = total
        self.columns = {name: i for i, name in enumerate(reader.schema.names)}
        self._arrays: Dict[int, List[pa.Array]] = {}

    def locate(self, offset: int) -> Tuple[List[pa.Array], int]:
        """The columns of the batch holding row ``offset`` (made once per batch), and the row's
        place in it."""
        b = bisect.bisect_right(self.starts, offset) - 1
        arrays = self._arrays.get(b)
        if arrays is None:
            arrays = self._arrays[b] = self.batches[b].columns
        return arrays, offset - self.starts[b]

    def close(self) -> None:
        self.batches = []
        self._arrays = {}
        self.source.close()


class Store:
    """A finished pack folder: ``len``, ``store[i]`` (row i) and ``store.by_id(video_id)``."""

    def __init__(self, folder: PathLike, max_open: int = 64):
        self.folder = Path(folder)
        self.manifest: Manifest = read_manifest(self.folder)
        self.max_open = max_open
        table = _read_index(self.folder / INDEX_NAME)
        if table.num_rows != self.manifest.rows:
            raise IntegrityError(f"index has {table.num_rows} rows, manifest says "
                                 f"{self.manifest.rows}", self.folder / INDEX_NAME)
        self._ids = table.column("video_id").combine_chunks()
        self._shard = table.column("shard").to_numpy()
        self._offset = table.column("offset").to_numpy()
        self._list_index = table.column("list_index").to_numpy()
        self._names = [s.name for s in self.manifest.shards]
        self._fbank_dtype = (np.dtype(self.manifest.fbank).newbyteorder("<")
                             if self.manifest.fbank else None)
        self._by_id: Optional[Dict[str, int]] = None
        self._open: "collections.OrderedDict[int, _Shard]" = collections.OrderedDict()
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self._shard)

    def __getitem__(self, row: int) -> Record:
        n = len(self)
        if not isinstance(row, (int, np.integer)):
            raise TypeError(f"store rows are integers, not {type(row).__name__}")
        row = int(row)
        if row < 0:
            row += n
        if not 0 <= row < n:
            raise IndexError(f"row {row} out of range for a pack of {n} rows")
        return self._record(row)

    def __iter__(self):
        for row in range(len(self)):
            yield self._record(row)

    @property
    def video_ids(self) -> List[str]:
        """The ids in row order."""
        return self._ids.to_pylist()

    @property
    def id_column(self) -> pa.Array:
        """The ids in row order, as one Arrow string array."""
        return self._ids

    @property
    def has_fbank(self) -> bool:
        """Whether the rows carry a stored fbank."""
        return self._fbank_dtype is not None

    def index_of(self, video_id: str) -> int:
        """Row of ``video_id``; KeyError when it is not packed."""
        if self._by_id is None:
            self._by_id = {vid: i for i, vid in enumerate(self._ids.to_pylist())}
        return self._by_id[video_id]

    def by_id(self, video_id: str) -> Record:
        """The record of ``video_id``; KeyError when it is not packed."""
        return self._record(self.index_of(video_id))

    def __contains__(self, video_id: object) -> bool:
        try:
            self.index_of(video_id)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    def close(self) -> None:
        """Unmap every open shard (they reopen on the next access)."""
        for shard in self._open.values():
            shard.close()
        self._open.clear()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_open"] = collections.OrderedDict()
        state["_by_id"] = None
        return state

    def __repr__(self) -> str:
        return f"Store({os.fspath(self.folder)!r}, rows={len(self)}, shards={len(self._names)})"

    def _shard_for(self, number: int) -> _Shard:
        if self._pid != os.getpid():  # forked: the parent's maps are not ours to use
            self._open = collections.OrderedDict()
            self._pid = os.getpid()
        shard = self._open.get(number)
        if shard is None:
            path = self.folder / self._names[number]
            try:
                shard = _Shard(path)
            except (OSError, pa.ArrowInvalid) as err:
                raise IntegrityError(f"cannot open shard: {err} (run avprep pack --verify)",
                                     path) from None
            self._open[number] = shard
            while len(self._open) > self.max_open:
                self._open.popitem(last=False)[1].close()
        else:
            self._open.move_to_end(number)
        return shard

    def _record(self, row: int) -> Record:
        number = int(self._shard[row])
        shard = self._shard_for(number)
        arrays, r = shard.locate(int(self._offset[row]))
        video_id = arrays[shard.columns["video_id"]][r].as_py()
        expected = self._ids[row].as_py()
        if video_id != expected:
            raise IntegrityError(f"row {row}: shard holds {video_id!r}, index says "
                                 f"{expected!r} (run avprep pack --verify)",
                                 self.folder / self._names[number])
        return Record(video_id, int(self._list_index[row]), row, arrays, r, shard.columns,
                      self._fbank_dtype)


def _read_index(path: Path) -> pa.Table:
    try:
        with pa.OSFile(os.fspath(path), "rb") as source:
            return pa.ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid) as err:
        raise IntegrityError(f"cannot read the pack index: {err} (run avprep pack --verify)",
                             path) from None


def open_store(folder: PathLike, max_open: int = 64) -> Store:
    """Open a finished pack folder for random access (see :class:`Store`)."""
    return Store(folder, max_open=max_open)
