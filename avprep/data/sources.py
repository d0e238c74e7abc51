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
    """The entries of a JSON data list (a path or an ``avprep.lists.DataList``)."""

    kind = "list"

    def __init__(self, data: object):
        from avprep.lists import read_list
        self.path = None if hasattr(data, "video_id") else os.fspath(data)  # type: ignore[arg-type]
        self.data = read_list(self.path) if self.path is not None else data
        self._spec: Optional[FrameSpec] = None

    @property
    def frame_spec(self) -> FrameSpec:
        """How the list's frames were made: the record of its entries' frame folders (the
        default without one); :class:`InputError` when two folders record different counts."""
        if self._spec is None:
            self._spec = common_frame_spec(self.data.distinct("video_path"),  # type: ignore
                                           self.path)
        return self._spec

    def __len__(self) -> int:
        return len(self.data)  # type: ignore[arg-type]

    def clip(self, index: int) -> LooseClip:
        """Entry ``index``."""
        e = self.data[index]  # type: ignore[index]
        return LooseClip(e.video_id, e.wav, e.video_path, e.labels)


class PackClip(Clip):
    """A clip of a pack: one stored record."""

    def __init__(self, record: object, pack_dir: str, index: int):
        self.record = record
        self.video_id = str(record.video_id)  # type: ignore[attr-defined]
        self.labels = str(record.labels)  # type: ignore[attr-defined]
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
        if frames is None or index >= len(frames) or not frames[index]:
            return None
        return bytes(frames[index])

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
