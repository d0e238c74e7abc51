"""Atomic file writes: write to a temporary name in the same folder, then rename.

A reader never sees a half-written file under its final name, whatever kills the writer. The
temporary names carry :data:`TMP_MARK` so that a later run can find and remove what a killed run
left behind (:func:`remove_stale_temps`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import time
from pathlib import Path
from typing import Iterator, Optional, Union

TMP_MARK = ".avprep-tmp-"

#: seconds after which a temporary file nobody writes to is stale even if its process id runs
STALE_AFTER_S = 3600.0

PathLike = Union[str, "os.PathLike[str]"]


def temp_name(final: PathLike) -> Path:
    """A unique temporary path beside ``final`` that keeps its extension (encoders read it)."""
    final = Path(final)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return final.with_name(f".{final.stem}{TMP_MARK}{token}{final.suffix}")


def is_temp(path: PathLike) -> bool:
    """Whether ``path`` is a temporary name made by :func:`temp_name`."""
    return TMP_MARK in Path(path).name


def temp_writer_pid(path: PathLike) -> Optional[int]:
    """The process id recorded in a temporary name made by :func:`temp_name`, or None."""
    name = Path(path).name
    pos = name.rfind(TMP_MARK)
    if pos < 0:
        return None
    pid, _, _rest = name[pos + len(TMP_MARK):].partition("-")
    return int(pid) if pid.isdigit() else None


def is_stale_temp(path: PathLike, max_age: float = STALE_AFTER_S) -> bool:
    """Whether a temporary file was left by a writer that is gone, so it may be removed.

    It is stale when the process named in it is not running on this machine, or when it has not
    been written to for ``max_age`` seconds (a writer on another machine, or a reused process
    id). A temporary that a live run is writing is not stale: removing it would fail that run's
    rename.
    """
    pid = temp_writer_pid(path)
    if pid is None or pid <= 0:
        return True
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    if pid != os.getpid():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # running, under another user
        if not _may_have_written(pid, mtime):
            return True
    return time.time() - mtime > max_age


def _may_have_written(pid: int, mtime: float) -> bool:
    """Whether the live process ``pid`` can be the writer of a file last modified at ``mtime``.

    A killed writer's process id may already belong to another process, or linger as a zombie
    that nobody reaps (in containers): neither can have written the file. Where ``/proc`` is not
    available, every live process might have.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as fh:
            boot = next(float(line.split()[1]) for line in fh if line.startswith(b"btime"))
    except (OSError, StopIteration, IndexError, ValueError):
        return True
    if fields[0] == b"Z":
        return False
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= mtime + 1.0  # /proc's start time is rounded to whole clock ticks


@contextlib.contextmanager
def atomic_path(final: PathLike, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it to ``final``, on failure delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(final)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(final: PathLike, data: bytes) -> None:
    """Write ``data`` to ``final`` atomically."""
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def write_text(final: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``final`` atomically (no newline translation)."""
    write_bytes(final, text.encode(encoding))


def hard_link(source: PathLike, final: PathLike) -> bool:
    """Make ``final`` a hard link to ``source`` atomically (linked under a temporary name, then
    renamed over ``final``); return False, leaving ``final`` as it was, where the file system
    has no hard links (the caller then writes a copy)."""
    final = Path(final)
    tmp = temp_name(final)
    try:
        os.link(source, tmp)
    except FileNotFoundError:
        raise
    except (OSError, NotImplementedError):  # EPERM, EXDEV, ENOTSUP, EMLINK...
        return False
    try:
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True


def remove_stale_temps_of(*finals: PathLike) -> int:
    """Delete the stale temporaries of these final paths (a killed writer's leftovers).

    Only names :func:`temp_name` makes for each path are considered, and only stale ones removed
    (see :func:`is_stale_temp`); the folder is listed once per path, so call it for the few
    files a command writes, not per clip in a folder of millions.
    """
    removed = 0
    for final in finals:
        final = Path(final)
        if not final.parent.is_dir():
            continue
        pattern = f".{glob.escape(final.stem)}{TMP_MARK}*{glob.escape(final.suffix)}"
        for path in final.parent.glob(pattern):
            if is_stale_temp(path):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
    return removed


def remove_stale_temps(folder: PathLike, recursive: bool = True) -> int:
    """Delete temporary files left in ``folder`` by killed runs; return how many were removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    pattern = f"**/*{TMP_MARK}*" if recursive else f"*{TMP_MARK}*"
    removed = 0
    for path in folder.glob(pattern):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            path.unlink()
            removed += 1
    return removed
