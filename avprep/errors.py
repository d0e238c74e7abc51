"""Errors a user can act on: each prints as one line naming the file and the entry."""

from __future__ import annotations

import os
from typing import Optional, Union

from avprep.safetext import shown

PathLike = Union[str, "os.PathLike[str]"]

#: longest message shown: a longer one (quoting a huge id, say) keeps its start and its end
MAX_MESSAGE = 900
#: longest path shown in a message
MAX_PATH = 300


class AvprepError(Exception):
    """Base of every error avprep raises on purpose.

    ``str(err)`` is one line: ``<path>: <entry>: <message>`` with the parts that are known, made
    safe to print by :func:`avprep.safetext.shown` (no control character or escape sequence, a
    huge field cut with its start and end kept).
    """

    exit_code = 1

    def __init__(self, message: str, path: Optional[PathLike] = None, entry: object = None):
        self.message = message
        self.path = None if path is None else os.fspath(path)
        self.entry = entry
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(shown(self.path, MAX_PATH))
        if self.entry is not None:
            parts.append(f"entry {shown(self.entry)}")
        parts.append(shown(" ".join(str(self.message).split()), MAX_MESSAGE))
        return ": ".join(parts)


class InputError(AvprepError):
    """Unusable input: a missing file, a file that does not parse, wrong arguments (exit 2)."""

    exit_code = 2


class FormatError(InputError):
    """A file that exists but is not in the format it should be (bad JSON, wrong CSV columns)."""


class UnsafeIdError(InputError):
    """A video id that would escape its folder if used as a file name (``/``, ``..``, NUL)."""


class WriteError(AvprepError):
    """An output could not be written: a full disk, a file-size limit, a read-only or missing
    folder (exit 2). Nothing is left under the output's name."""

    exit_code = 2


class MediaError(AvprepError):
    """One clip could not be decoded or written; batch runs record it and go on."""

    def __init__(self, message: str, path: Optional[PathLike] = None, entry: object = None,
                 stage: str = "decode"):
        self.stage = stage
        super().__init__(message, path, entry)


class IntegrityError(AvprepError):
    """Stored data does not match what was recorded (a checksum, a size, an index)."""
