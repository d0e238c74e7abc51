"""Where a Dataset's clips come from: a JSON data list with loose files, or a pack folder.

Both give, per list index, a :class:`Clip`: its id, its label string, and lazy access to its
waveform, its stored fbank (packs made with ``--fbank``) and its frames; and ``frame_spec``, how
the frames were made (how many per clip), from the frame folders' or the pack's record
(:func:`avprep.framespec.frame_spec_of`). A missing file is
reported, not raised, here (``frame`` returns None, ``waveform`` raises ``MediaError``); the
Dataset decides between failing and substituting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np
import torch

from avprep.errors import InputError, MediaError
from avprep.framespec import FrameSpec, common_frame_spec, frame_spec_of

PathLike = Union[str, "os.PathLike[str]"]
ImageSource = Union[str, bytes]


class Clip:
    """One list entry's media, read on demand."""

    video_id: str
    labels: str

    def waveform(self) -> Tuple[torch.Tensor, int]:
        """``(float32 [channels, samples], sample_rate)`` as ``torchaudio.load`` gives it;
        ``MediaError`` naming the file when it cannot be read."""
        raise NotImplementedError

    def stored_fbank(self) -> Optional[torch.Tensor]:
        """The stored un-padded, un-normalized fbank ``[T, 128]`` (float32), or None."""
        return None

    def frame(self, index: int) -> Optional[ImageSource]:
        """Frame ``index`` as a path or JPEG bytes, or None when it does not exist."""
        raise NotImplementedError

    def wav_name(self) -> str:
        """Where the audio comes from, for messages."""
        raise NotImplementedError

    def frame_name(self, index: int) -> str:
        """Where frame ``index`` comes from, for messages."""
        raise NotImplementedError


class LooseClip(Clip):
    """A clip of a JSON list: ``wav`` and ``<video_path>/frame_<i>/<video_id>.jpg`` files."""

    def __init__(self, video_id: str, wav: str, video_path: str, labels: str):
        self.video_id, self.wav, self.video_path, self.labels = video_id, wav, video_path, labels

    def waveform(self) -> Tuple[torch.Tensor, int]:
        from avprep.features import load_wav
        return load_wav(self.wav)

    def frame(self, index: int) -> Optional[str]:
        path = self.frame_name(index)
        return path if os.path.isfile(path) else None

    def wav_name(self) -> str:
        return self.wav

    def frame_name(self, index: int) -> str:
        from avprep.layout import frame_path
        return os.fspath(frame_path(self.video_path, index, self.video_id))


class LooseSource:
    """The entries of a JSON data list (a path or an ``avprep.lists.DataList``).

    Entries that point into a pack (``video_path`` ``pack://<folder>``, ``wav``
    ``pack://<folder>#<video_id>``, as ``avprep build-list --pack`` writes them) are read from
    that pack, with the list's labels; each such entry's row is found once, when the source is
    made. An entry whose id the pack lacks reads as a clip whose files are missing.
    """

    kind = "list"

    def __init__(self, data: object):
        from avprep.lists import read_list
        self.path = None if hasattr(data, "video_id") else os.fspath(data)  # type: ignore[arg-type]
        self.data = read_list(self.path) if self.path is not None else data
        self._packs = PackRows.of(self.data, self.path)
        self._spec: Optional[FrameSpec] = None

    @property
    def frame_spec(self) -> FrameSpec:
        """How the list's frames were made: the record of its entries' frame folders, or of the
        packs they point into (the default without one); :class:`InputError` when two record
        different counts."""
        if self._spec is None:
            from avprep.layout import PACK_SCHEME
            folders = [f[len(PACK_SCHEME):] if f.startswith(PACK_SCHEME) else f
                       for f in self.data.distinct("video_path")]  # type: ignore[attr-defined]
            self._spec = common_frame_spec(folders, self.path)
        return self._spec

    def __len__(self) -> int:
        return len(self.data)  # type: ignore[arg-type]

    def clip(self, index: int) -> Clip:
        """Entry ``index``."""
        e = self.data[index]  # type: ignore[index]
        if self._packs is not None:
            found = self._packs.record(index)
            if found is not None:
                record, folder = found
                return PackClip(record, folder, int(record.row), labels=e.labels)
        return LooseClip(e.video_id, e.wav, e.video_path, e.labels)


class PackRows:
    """For each entry of a list, its pack and its row there: :meth:`of` finds them once for the
    whole list (one Arrow lookup per pack), :meth:`record` reads one."""

    def __init__(self, folders: List[str], which: np.ndarray, rows: np.ndarray):
        self.folders = folders
        self.which = which  # entry -> index into folders, -1 for a loose entry
        self.rows = rows  # entry -> row in its pack, -1 when the pack lacks it
        self._stores: List[Optional[object]] = [None] * len(folders)
        self._pid: Optional[int] = None

    @classmethod
    def of(cls, data: object, source: Optional[str]) -> "Optional[PackRows]":
        """The pack rows of ``data``'s entries, or None when no entry points into a pack;
        :class:`InputError` (naming the entry) for a ``wav`` that does not match its
        ``video_path`` and id, or a pack folder that cannot be opened."""
        import pyarrow.compute as pc
        from avprep.layout import PACK_SCHEME

        video_path = _plain_strings(data.arrow_column("video_path"))  # type: ignore[attr-defined]
        in_pack = pc.starts_with(video_path, PACK_SCHEME)
        if not pc.any(in_pack).as_py():
            return None
        ids = _plain_strings(data.arrow_column("video_id"))  # type: ignore[attr-defined]
        wav = _plain_strings(data.arrow_column("wav"))  # type: ignore[attr-defined]
        expected = pc.binary_join_element_wise(video_path, ids, "#")
        bad = pc.and_(in_pack, pc.invert(pc.equal(wav, expected)))
        if pc.any(bad).as_py():
            entry = int(pc.index(bad, True).as_py())
            raise InputError(f"wav {wav[entry].as_py()!r} does not point at entry "
                             f"{ids[entry].as_py()!r} of the pack {video_path[entry].as_py()!r} "
                             "(pack://<folder>#<video_id>)", source, entry)
        refs = pc.unique(pc.filter(video_path, in_pack)).to_pylist()
        which = np.full(len(ids), -1, dtype=np.int32)
        rows = np.full(len(ids), -1, dtype=np.int64)
        folders, stores = [], []
        for k, ref in enumerate(refs):
            folder = ref[len(PACK_SCHEME):]
            folders.append(folder)
            mask = pc.equal(video_path, ref)
            entries = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
            store = _open_pack(folder, source, int(entries[0]))
            stores.append(store)
            found = pc.index_in(pc.filter(ids, mask), value_set=store.id_column)
            which[entries] = k
            rows[entries] = found.fill_null(-1).to_numpy().astype(np.int64)
        made = cls(folders, which, rows)
        made._stores, made._pid = stores, os.getpid()
        return made

    def where(self, index: int) -> Tuple[Optional[str], int]:
        """``(folder, row)`` of entry ``index``: ``(None, -1)`` for an entry not in a pack,
        ``(folder, -1)`` for one its pack lacks."""
        k = int(self.which[index])
        return (None, -1) if k < 0 else (self.folders[k], int(self.rows[index]))

    def record(self, index: int):
        """``(record, folder)`` of entry ``index``, or None when it is not in a pack."""
        k = int(self.which[index])
        row = int(self.rows[index])
        if k < 0 or row < 0:
            return None
        if self._pid != os.getpid():  # a DataLoader worker opens its own stores
            self._stores = [None] * len(self.folders)
            self._pid = os.getpid()
        store = self._stores[k]
        if store is None:
            from avprep.store import open_store
            store = self._stores[k] = open_store(self.folders[k])
        return store[row], self.folders[k]  # type: ignore[index]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_stores"] = [None] * len(self.folders)
        state["_pid"] = None
        return state


def _plain_strings(column):
    """A list column as one plain Arrow string array."""
    import pyarrow as pa
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column


def _open_pack(folder: str, source: Optional[str], entry: int):
    from avprep.errors import AvprepError
    from avprep.store import open_store
    try:
        return open_store(folder)
    except AvprepError as err:
        raise InputError(f"entry points into a pack that cannot be opened: {err.message}",
                         err.path or folder, entry) from None


class PackClip(Clip):
    """A clip of a pack: one stored record."""

    def __init__(self, record: object, pack_dir: str, index: int, labels: Optional[str] = None):
        self.record = record
        self.video_id = str(record.video_id)  # type: ignore[attr-defined]
        self.labels = str(record.labels if labels is None else labels)  # type: ignore[attr-defined]
        self.pack_dir, self.index = pack_dir, index

    def waveform(self) -> Tuple[torch.Tensor, int]:
        from avprep.features import pcm16_to_float
        from avprep.layout import SAMPLE_RATE
        pcm = getattr(self.record, "pcm", None)
        if pcm is None:
            raise MediaError("no audio stored for this clip", self.wav_name(), self.video_id)
        pcm = np.asarray(pcm, dtype=np.int16)  # pcm16_to_float copies the read-only mapped view
        if pcm.ndim == 1:
            pcm = pcm[None, :]
        rate = int(getattr(self.record, "sample_rate", SAMPLE_RATE) or SAMPLE_RATE)
        return pcm16_to_float(pcm), rate

    def stored_fbank(self) -> Optional[torch.Tensor]:
        fb = getattr(self.record, "fbank", None)
        if fb is None:
            return None
        if isinstance(fb, torch.Tensor):
            return fb.to(torch.float32)
        return torch.from_numpy(np.asarray(fb, dtype=np.float32))

    def frame(self, index: int) -> Optional[bytes]:
        frames = getattr(self.record, "frames", None)
        if frames is None or index >= len(frames):
            return None
        jpeg = frames[index]  # a pack's record reads this frame alone
        return bytes(jpeg) if jpeg else None

    def wav_name(self) -> str:
        return f"{self.pack_dir} (row {self.index} audio)"

    def frame_name(self, index: int) -> str:
        return f"{self.pack_dir} (row {self.index} frame {index})"


class PackSource:
    """The rows of a pack folder written by ``avprep pack``, opened lazily in each process."""

    kind = "pack"

    def __init__(self, pack_dir: PathLike):
        self.path = os.fspath(pack_dir)
        self._store = None
        self._pid = None
        self._len = len(self._open())
        self.frame_spec: FrameSpec = frame_spec_of(self.path)

    def _open(self):
        if self._store is None or self._pid != os.getpid():
            from avprep.store import open_store
            self._store = open_store(self.path)
            self._pid = os.getpid()
        return self._store

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_store"] = None
        state["_pid"] = None
        return state

    def __len__(self) -> int:
        return self._len

    def clip(self, index: int) -> PackClip:
        """Row ``index``."""
        return PackClip(self._open()[index], self.path, index)


Source = Union[LooseSource, PackSource]


def open_source(data: object) -> Source:
    """A pack for a folder, a JSON list for a file path or a ``DataList``."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.is_dir():
            return PackSource(path)
        if not path.exists():
            raise InputError("data list or pack folder not found", path)
    return LooseSource(data)


def frame_order(first: int) -> List[int]:
    """Frames to try for ``first``: itself, then each lower index down to 0 (the original's
    fallback)."""
    return list(range(first, -1, -1))
