"""When an extracted clip counts as done: the one check behind extract, build-list, validate, pack.

A clip is complete when ``<audio_dir>/<id>.wav`` and its ``<frame_dir>/frame_<i>/<id>.jpg`` are
complete files, for every i below the folder's recorded frame count (ten without a record;
:func:`frame_count`):

- a wav is a regular file (or a link to one) whose RIFF/WAVE header parses with
  :data:`SAMPLE_RATE` Hz, :data:`CHANNELS` channel and a data chunk of non-zero length that the
  file really holds;
- a frame is a regular, non-empty file that starts with the JPEG start-of-image marker ``FFD8``
  and ends with the end-of-image marker ``FFD9``.

Only a few bytes of each file are read. A zero-byte file, a dangling link, a folder named
``<id>.wav`` or a JPEG cut short is therefore not done: ``extract`` writes it again (a folder in
the way is reported, never removed), ``build-list`` leaves the entry out, ``validate
--check-files`` reports it, ``pack`` leaves it out. :func:`scan_media` answers "which ids are
complete" for whole folders with one listing per folder and header checks only for the names
that can be complete. A light module: the standard library only.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple, Union

from avprep.atomic import TMP_MARK
from avprep.constants import N_FRAMES, SAMPLE_RATE
from avprep.framespec import frame_spec_of

PathLike = Union[str, "os.PathLike[str]"]

CHANNELS = 1
WAV_SUFFIX = ".wav"
FRAME_SUFFIX = ".jpg"
MISSING = "missing"  #: the reason of a file that does not exist

_JPEG_START = b"\xff\xd8"
_JPEG_END = b"\xff\xd9"
_WAVE_FORMATS = (1, 3, 0xFFFE)  # PCM, IEEE float, WAVE_FORMAT_EXTENSIBLE
_HEADER_READ = 512
# never block on a named pipe; regular files ignore O_NONBLOCK
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_MAX_CHUNKS = 64


def frame_folder(frame_dir: PathLike, index: int) -> str:
    """``<frame_dir>/frame_<index>``: the folder of every clip's frame ``index``."""
    return os.path.join(os.fspath(frame_dir), f"frame_{index}")


def frame_count(frame_dir: PathLike) -> int:
    """How many frames each clip of ``frame_dir`` has: its recorded count
    (:func:`avprep.framespec.frame_spec_of`), ten without a record."""
    return frame_spec_of(frame_dir).count


def _open(path: PathLike) -> Tuple[Optional[int], Union[int, str]]:
    """(file descriptor, size) of a regular file, or (None, the reason it is not one)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None, "a dangling symbolic link" if os.path.lexists(path) else MISSING
    except (NotADirectoryError, ValueError):  # ValueError: a NUL in the path names no file
        return None, MISSING
    except OSError as err:
        return None, f"cannot be read: {err.strerror or err}"
    try:
        st = os.fstat(fd)
    except OSError as err:
        os.close(fd)
        return None, f"cannot be read: {err.strerror or err}"
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None, "a folder, not a file" if stat.S_ISDIR(st.st_mode) else "not a regular file"
    if st.st_size == 0:
        os.close(fd)
        return None, "an empty file"
    return fd, st.st_size


def _wav_header_problem(fd: int, size: int, channels_wanted: Optional[int]) -> Optional[str]:
    head = os.pread(fd, _HEADER_READ, 0)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return "not a RIFF/WAVE file"
    offset, fmt = 12, None
    for _ in range(_MAX_CHUNKS):
        chunk = head[offset:offset + 8] if offset + 8 <= len(head) else os.pread(fd, 8, offset)
        if len(chunk) < 8:
            break
        name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        body = offset + 8
        if name == b"fmt ":
            raw = head[body:body + 16] if body + 16 <= len(head) else os.pread(fd, 16, body)
            if len(raw) < 16:
                return "its format chunk is cut short"
            fmt = struct.unpack("<HHI", raw[:8])
        elif name == b"data":
            if fmt is None:
                return "no format chunk before the samples"
            tag, channels, rate = fmt
            if tag not in _WAVE_FORMATS:
                return f"audio format {tag} is not PCM"
            if rate != SAMPLE_RATE:
                return f"sample rate is {rate} Hz, expected {SAMPLE_RATE}"
            if channels_wanted is not None and channels != channels_wanted:
                return f"{channels} channels, expected {channels_wanted}"
            if channels == 0:
                return "0 channels"
            if length == 0 or size <= body:
                return "no audio samples"
            if length != 0xFFFFFFFF and size < body + length:
                return f"cut short: {size - body} of the {length} bytes of samples its header says"
            return None
        offset = body + length + (length & 1)
    return "no data chunk"


def wav_problem(path: PathLike, channels: Optional[int] = CHANNELS) -> Optional[str]:
    """None when ``path`` is a complete wav (see the module docstring), else why it is not
    (:data:`MISSING` when it does not exist). ``channels=None`` accepts any channel count
    (``pack`` stores multi-channel wavs as they are)."""
    fd, size = _open(path)
    if fd is None:
        return size
    try:
        return _wav_header_problem(fd, size, channels)
    except OSError as err:
        return f"cannot be read: {err.strerror or err}"
    finally:
        os.close(fd)


def audio_problem(path: PathLike) -> Optional[str]:
    """:func:`wav_problem` for a ``.wav`` path; for another audio file (a released list names
    ``.flac`` files) only whether it is a non-empty regular file, which needs no decoder."""
    if os.fspath(path).lower().endswith(WAV_SUFFIX):
        return wav_problem(path)
    fd, size = _open(path)
    if fd is None:
        return size
    os.close(fd)
    return None


def jpeg_bytes_problem(head: bytes, tail: bytes) -> Optional[str]:
    """None when a JPEG file's first two and last two bytes are its start and end markers."""
    if head[:2] != _JPEG_START:
        return "not a JPEG file"
    if tail[-2:] != _JPEG_END:
        return "a JPEG file cut short (no end marker)"
    return None


def jpeg_problem(path: PathLike) -> Optional[str]:
    """None when ``path`` is a complete frame (see the module docstring), else why it is not
    (:data:`MISSING` when it does not exist)."""
    fd, size = _open(path)
    if fd is None:
        return size
    try:
        return jpeg_bytes_problem(os.pread(fd, 2, 0), os.pread(fd, 2, max(size - 2, 0)))
    except OSError as err:
        return f"cannot be read: {err.strerror or err}"
    finally:
        os.close(fd)


def temp_id(name: str) -> Optional[str]:
    """The id in a temporary output name ``.<id>.avprep-tmp-<token><ext>``, or None."""
    pos = name.rfind(TMP_MARK)
    if pos <= 1 or not name.startswith("."):
        return None
    return name[1:pos]


def _listing(folder: str, suffix: str, wanted: Optional[Set[str]],
             temps: Optional[List[str]]) -> Set[str]:
    """Ids named ``<id><suffix>`` in ``folder`` (from ``wanted`` when given); temporary files
    of those ids go to ``temps``."""
    found: Set[str] = set()
    try:
        entries = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return found
    cut = len(suffix)
    with entries:
        for entry in entries:
            name = entry.name
            if TMP_MARK in name:
                if temps is not None and (wanted is None or temp_id(name) in wanted):
                    temps.append(entry.path)
            elif name.endswith(suffix) and len(name) > cut:
                stem = name[:-cut]
                if wanted is None or stem in wanted:
                    found.add(stem)
    return found


@dataclass
class MediaScan:
    """What :func:`scan_media` found: ids with a complete wav, ids with all their frames complete,
    the incomplete outputs with their reasons, and the temporary files of the ids scanned."""

    audio: Set[str] = field(default_factory=set)
    frames: Set[str] = field(default_factory=set)
    broken: Dict[str, str] = field(default_factory=dict)  #: path -> why it is not complete
    temps: List[str] = field(default_factory=list)

    def complete(self) -> Set[str]:
        """Ids with both a complete wav and all their frames complete."""
        return self.audio & self.frames


def scan_media(audio_dir: Optional[PathLike], frame_dir: Optional[PathLike],
               ids: Optional[Iterable[str]] = None, both: bool = False,
               temps: bool = False) -> MediaScan:
    """Which ids (of ``ids``, or all found) have a complete wav and all their frames complete
    (as many as ``frame_dir`` records, :func:`frame_count`).

    Each folder (the audio folder, every ``frame_<i>``) is listed once; only the names that can
    make a complete output are opened, and only for their first and last bytes. With ``both`` an id counts only when
    all its names exist, and the others are not opened at all (build-list's question);
    without it the wav and the frames are judged apart (extract's question, which redoes either).
    ``temps`` also collects the temporary files of the ids scanned (a killed run's leftovers).
    A folder of None is not scanned and its set stays empty.
    """
    wanted = None if ids is None else set(ids)
    scan = MediaScan()
    collect = scan.temps if temps else None
    wav_ids: Set[str] = set()
    if audio_dir is not None:
        wav_ids = _listing(os.fspath(audio_dir), WAV_SUFFIX, wanted, collect)
    frame_ids: Optional[Set[str]] = None
    if frame_dir is not None:
        count = frame_count(frame_dir)
        for i in range(count):
            named = _listing(frame_folder(frame_dir, i), FRAME_SUFFIX,
                             frame_ids if frame_ids is not None and collect is None else wanted,
                             collect)
            frame_ids = named if frame_ids is None else frame_ids & named
    frame_ids = frame_ids or set()
    if both:
        wav_ids &= frame_ids
        frame_ids = set(wav_ids)
    audio_root = os.fspath(audio_dir) if audio_dir is not None else ""
    for vid in wav_ids:
        path = os.path.join(audio_root, vid + WAV_SUFFIX)
        problem = wav_problem(path)
        if problem is None:
            scan.audio.add(vid)
        else:
            scan.broken[path] = problem
    if frame_dir is not None:
        folders = [frame_folder(frame_dir, i) for i in range(frame_count(frame_dir))]
        for vid in frame_ids:
            if both and vid not in scan.audio:
                continue
            name = vid + FRAME_SUFFIX
            for folder in folders:
                path = os.path.join(folder, name)
                problem = jpeg_problem(path)
                if problem is not None:
                    scan.broken[path] = problem
                    break
            else:
                scan.frames.add(vid)
    return scan


__all__ = ["N_FRAMES", "SAMPLE_RATE", "CHANNELS", "MISSING", "frame_folder", "frame_count",
           "wav_problem",
           "audio_problem", "jpeg_problem", "jpeg_bytes_problem", "temp_id", "MediaScan",
           "scan_media"]
