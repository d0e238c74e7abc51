"""The failure log of an extraction run: one JSON object per line, ``id``, ``path``, ``stage``,
``reason``. Each run rewrites it from the start, so it lists what is still missing after that run;
lines are flushed as they are written, so a killed run leaves what it had found so far."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, List, Optional, Union

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


def read_failures(path: PathLike) -> List[dict]:
    """The records of a failure log, in order."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
