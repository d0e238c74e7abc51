"""The download log: one JSON object per line, one line per settled outcome of a clip.

``{"id": ..., "status": "downloaded" | "unavailable" | "pending", "reason": ..., "time": ...}``
(``time`` in ISO 8601, UTC). The log is only appended to, across runs; the last record of an id
is its state (:func:`read_download_log`). Each line is written with one ``write`` and flushed, so
a run killed at any moment leaves whole lines, except perhaps a torn last one, which the reader
ignores (the id's earlier state, or none, stands; a re-run settles it again).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Dict, Union

from avprep.errors import FormatError, InputError

PathLike = Union[str, "os.PathLike[str]"]

DOWNLOADED = "downloaded"
UNAVAILABLE = "unavailable"
PENDING = "pending"
STATUSES = (DOWNLOADED, UNAVAILABLE, PENDING)

_log = logging.getLogger(__name__)


def default_log_path(dest: PathLike, shard: tuple = (0, 1)) -> Path:
    """Where the log goes without ``--log``: beside ``dest`` (never inside it), named after it:
    ``<dest>.download-log.jsonl``, with ``.shard-<i>-of-<N>`` before ``.jsonl`` for a shard."""
    dest = Path(os.path.abspath(dest))
    suffix = f".shard-{shard[0]}-of-{shard[1]}" if shard[1] > 1 else ""
    return dest.parent / f"{dest.name}.download-log{suffix}.jsonl"


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_download_log(path: PathLike) -> Dict[str, Dict[str, str]]:
    """``id -> record`` of a download log: the last record of each id (its state).

    A missing file is an empty log. A torn last line (a killed writer's; no newline after it) is
    ignored; any other line that is not a record raises :class:`FormatError` naming the line.
    """
    path = Path(path)
    state: Dict[str, Dict[str, str]] = {}
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return state
    except IsADirectoryError:
        raise InputError("expected a download log file, found a folder", path) from None
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        last = number == len(lines)  # not ended by a newline: the writer may have been killed
        try:
            record = json.loads(raw.decode("utf-8"))
            ok = (isinstance(record, dict) and isinstance(record.get("id"), str)
                  and record.get("status") in STATUSES)
        except (UnicodeDecodeError, json.JSONDecodeError):
            ok = False
        if not ok:
            if last:
                _log.warning("%s: line %d: torn last record ignored", path, number)
                continue
            raise FormatError("not a download record ({\"id\", \"status\", \"reason\", "
                              "\"time\"})", path, f"line {number}")
        state[record["id"]] = record
    return state


class DownloadLog:
    """Appends records to a download log, one flushed line each; safe to share among threads."""

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_torn_end()
        self._fh = open(self.path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def _repair_torn_end(self) -> None:
        """Cut a torn last line (a killed writer's) off, so that appended records start a line."""
        try:
            with open(self.path, "rb+") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size == 0:
                    return
                tail = min(size, 1 << 16)
                fh.seek(size - tail)
                chunk = fh.read(tail)
                if chunk.endswith(b"\n"):
                    return
                cut = chunk.rfind(b"\n")
                keep = size - tail + cut + 1 if cut >= 0 else (0 if tail == size else size)
                _log.warning("%s: torn last record removed", self.path)
                fh.truncate(keep)
        except FileNotFoundError:
            pass

    def record(self, video_id: str, status: str, reason: str = "") -> Dict[str, str]:
        """Append the state of ``video_id`` and return the record."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        entry = {"id": video_id, "status": status, "reason": reason, "time": utc_now()}
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()
        return entry

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._fh.close()

    def __enter__(self) -> "DownloadLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
