"""The SHA-256 of a file's bytes: what pack manifests and the fetch lock file record."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional, Union

from avprep.progress import byte_progress

__all__ = ["sha256_of", "CHUNK"]

PathLike = Union[str, "os.PathLike[str]"]

#: bytes read at a time
CHUNK = 1 << 22


def sha256_of(path: PathLike, desc: Optional[str] = None) -> str:
    """Hex SHA-256 of the file at ``path``; with ``desc``, a progress bar so labelled counts the
    bytes read (for files large enough to keep someone waiting)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        if desc is None:
            for block in iter(lambda: fh.read(CHUNK), b""):
                digest.update(block)
        else:
            with byte_progress(os.fstat(fh.fileno()).st_size, desc) as bar:
                for block in iter(lambda: fh.read(CHUNK), b""):
                    digest.update(block)
                    bar.update(len(block))
    return digest.hexdigest()
