"""Reading a small input file (a label or weight CSV) as text, with errors that name it."""

from __future__ import annotations

import os
from typing import Optional, Union

from avprep.errors import FormatError, InputError

PathLike = Union[str, "os.PathLike[str]"]


def read_text(path: PathLike, what: str, encoding: str = "utf-8",
              newline: Optional[str] = None) -> str:
    """The whole text of ``path``, a ``what`` (``"label CSV"``, say), opened as :func:`open`
    opens it with ``encoding`` and ``newline``.

    Raises :class:`InputError` for a missing file, a folder or a failed read and
    :class:`FormatError` for bytes that do not decode, each naming ``path``.
    """
    try:
        with open(path, "r", encoding=encoding, newline=newline) as fh:
            return fh.read()
    except FileNotFoundError:
        raise InputError(f"{what} not found", path) from None
    except IsADirectoryError:
        raise InputError(f"expected a {what} file, found a folder", path) from None
    except UnicodeDecodeError as err:
        raise FormatError(f"not UTF-8 text: byte {err.start}: {err.reason}", path) from None
    except OSError as err:
        raise InputError(f"cannot read {what}: {err.strerror or err}", path) from None
