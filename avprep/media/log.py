"""The failure log of an extraction run: one JSON object per line, ``id``, ``path``, ``stage``,
``reason``. Each run rewrites it from the start, so it lists what is still missing after that run;
lines are flushed as they are written, so a killed run leaves what it had found so far."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import IO, Dict, List, Optional, Union

from avprep.errors import InputError

PathLike = Union[str, "os.PathLike[str]"]


class FailureLog:
    """Append failure records to a JSON-lines file (truncated when opened)."""

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: Optional[IO[str]] = open(self.path, "w", encoding="utf-8")
        self.count = 0

    def record(self, video_id: str, path: str, stage: str, reason: str) -> None:
        """Write one failure and flush it."""
        if self._fh is None:
            raise ValueError("failure log is closed")
        line = json.dumps({"id": video_id, "path": path, "stage": stage, "reason": reason},
                          ensure_ascii=False)
        self._fh.write(line + "\n")
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "FailureLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_failures(path: PathLike, latest: bool = False) -> List[Dict[str, object]]:
    """The failure records of an extraction log (``id``, ``path``, ``stage``, ``reason``), in
    the order written; with ``latest``, one record per clip (keyed by its path, else its id): its
    last one, in the place of its first, and none for a clip whose last record says it succeeded
    (``"ok": true`` or ``"status": "ok"``).

    Lines that are not failure records (a summary line, an object without ``reason`` or
    ``error``, a success record) are skipped. A missing log, bytes that are not UTF-8 or a line
    that is not JSON is an :class:`InputError` naming the file (and the line).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("extraction log not found", path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise InputError(f"not UTF-8 text: {err.reason}", path, f"line {line}") from None
    records: List[Dict[str, object]] = []
    by_clip: Dict[str, Dict[str, object]] = {}
    for number, line in enumerate(io.StringIO(text, newline=None), 1):  # as open() splits
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"not a JSON line: {err.msg}", path, f"line {number}") from None
        if not isinstance(record, dict) or "reason" not in record and "error" not in record:
            continue
        succeeded = record.get("ok") is True or record.get("status") == "ok"
        if not latest:
            if not succeeded:
                records.append(record)
            continue
        key = str(record.get("path") or record.get("id"))
        if succeeded:
            by_clip.pop(key, None)
        else:
            by_clip[key] = record
    return list(by_clip.values()) if latest else records
