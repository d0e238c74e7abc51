"""Random access to a pack: ``open_store(folder)[i]`` and ``.by_id(video_id)``.

Shards are memory-mapped when first used, in the process that uses them: a store object made
before a DataLoader forks its workers opens its own maps in each worker, and pickling it (spawned
workers) carries only the folder and the index. At most ``max_open`` shards stay mapped at once.
"""

from __future__ import annotations

import bisect
import collections
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
import pyarrow as pa

from avprep.errors import IntegrityError
from avprep.store.manifest import INDEX_NAME, Manifest, read_manifest
from avprep.store.schema import FBANK_BINS, FRAME_COLUMNS

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Record:
    """One packed clip.

    ``pcm``: int16 ``[channels, samples]`` exactly as in the wav (a read-only view of the mapped
    shard); ``frames``: ten JPEG files' bytes as written, None for a frame that was missing;
    ``fbank``: float32 ``[frames, 128]`` un-padded and un-normalized, or None when packed without
    ``--fbank``; ``label_indices``: class indices when packed with ``--labels``.
    """

    video_id: str
    labels: str
    label_indices: Optional[List[int]]
    list_index: int
    row: int
    sample_rate: int
    pcm: np.ndarray
    frames: List[Optional[bytes]]
    fbank: Optional[np.ndarray]

    def label_list(self) -> List[str]:
        """The labels as a list of mids (empty for an empty label string)."""
        from avprep.lists.labels import split_labels

        return split_labels(self.labels)

    def waveform(self):
        """The audio as ``torchaudio.load`` (and :func:`avprep.features.load_wav`) returns it."""
        from avprep.features import pcm16_to_float

        return pcm16_to_float(self.pcm)


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

    def locate(self, offset: int):
        b = bisect.bisect_right(self.starts, offset) - 1
        return self.batches[b], offset - self.starts[b]

    def close(self) -> None:
        self.batches = []
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
        batch, r = shard.locate(int(self._offset[row]))
        col = shard.columns

        def value(name):
            return batch.column(col[name])[r]

        video_id = value("video_id").as_py()
        if video_id != self._ids[row].as_py():
            raise IntegrityError(f"row {row}: shard holds {video_id!r}, index says "
                                 f"{self._ids[row].as_py()!r} (run avprep pack --verify)",
                                 self.folder / self._names[number])
        channels = value("channels").as_py()
        pcm = np.frombuffer(value("pcm").as_buffer(), dtype="<i2")
        pcm = pcm.reshape(-1, channels).T
        fb = None
        if self._fbank_dtype is not None:
            blob = value("fbank")
            if blob.is_valid:
                fb = np.frombuffer(blob.as_buffer(), dtype=self._fbank_dtype)
                fb = fb.reshape(value("fbank_frames").as_py(), FBANK_BINS).astype(np.float32)
        indices = value("label_indices").as_py()
        return Record(video_id=video_id, labels=value("labels").as_py(),
                      label_indices=indices, list_index=int(self._list_index[row]), row=row,
                      sample_rate=value("sample_rate").as_py(), pcm=pcm,
                      frames=[value(name).as_py() for name in FRAME_COLUMNS], fbank=fb)


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
