"""An output never overwrites an input: the check every command makes before it writes anything.

A command names its inputs and outputs as ``(option, path)`` pairs; :func:`check_outputs` raises
:class:`avprep.errors.InputError` (exit 2, one line naming both) when an output is one of the
inputs (the same file by device and inode, so also through a link, else the same resolved path),
when two outputs are the same file, or when an input lies inside a folder the command owns as a
whole (a pack folder, an experiment folder).
"""

from __future__ import annotations

import os
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from avprep.errors import InputError
from avprep.safetext import shown

PathLike = Union[str, "os.PathLike[str]"]
Named = Tuple[str, Optional[PathLike]]  # (option, path); a path of None is left out


def _identity(path: PathLike) -> tuple:
    """What makes two paths the same file: (device, inode) when it exists, else the resolved
    path."""
    try:
        st = os.stat(path)
        return ("file", st.st_dev, st.st_ino)
    except (OSError, ValueError):
        return ("path", os.path.realpath(path))


def _present(pairs: Iterable[Named]) -> List[Tuple[str, str]]:
    return [(option, os.fspath(path)) for option, path in pairs if path is not None]


def _inside(path: str, folder: str) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real != root and real.startswith(root.rstrip(os.sep) + os.sep)


def check_outputs(inputs: Sequence[Named], outputs: Sequence[Named],
                  owned: Sequence[Named] = ()) -> None:
    """Raise :class:`InputError` when writing ``outputs`` could overwrite one of ``inputs``.

    ``inputs`` and ``outputs`` are ``(option, path)`` pairs (a None path is skipped); ``owned``
    are output folders the command writes and cleans as a whole: no input may lie inside one.
    Call it before reading the inputs' contents and before the first write.
    """
    ins, outs = _present(inputs), _present(outputs)
    seen = {}
    for option, path in ins:
        seen.setdefault(_identity(path), (option, path))
    taken = {}
    for option, path in outs:
        key = _identity(path)
        if key in seen:
            in_option, in_path = seen[key]
            raise InputError(f"the output {shown(path)} ({option}) is the input "
                             f"{shown(in_path)} ({in_option}): writing it would overwrite the "
                             "input; choose another output")
        if key in taken:
            other_option, other = taken[key]
            raise InputError(f"the outputs {shown(other)} ({other_option}) and {shown(path)} "
                             f"({option}) are the same file; choose different outputs")
        taken[key] = (option, path)
    for option, folder in _present(owned):
        for in_option, in_path in ins:
            if _inside(in_path, folder) or _identity(in_path) == _identity(folder):
                raise InputError(f"the input {shown(in_path)} ({in_option}) lies inside the "
                                 f"output folder {shown(folder)} ({option}), which the command "
                                 "writes; move the input or choose another folder")


def folder_files(option: str, path: Optional[PathLike]) -> List[Named]:
    """``[(option, path)]`` for a file, or one pair per file directly in ``path`` when it is a
    folder (a pack folder read as an input)."""
    if path is None:
        return []
    if not os.path.isdir(path):
        return [(option, path)]
    try:
        with os.scandir(path) as entries:
            return [(option, entry.path) for entry in entries if entry.is_file()]
    except OSError:
        return [(option, path)]


__all__ = ["check_outputs", "folder_files"]
