"""Progress bars for long work: shown on a terminal, silent in logs and tests."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Optional, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def enabled() -> bool:
    """Bars show when stderr is a terminal; ``AVPREP_PROGRESS=1`` or ``0`` forces either way."""
    forced = os.environ.get("AVPREP_PROGRESS")
    if forced is not None:
        return forced not in ("", "0", "false", "False")
    return sys.stderr.isatty()


def progress(iterable: Optional[Iterable[T]] = None, total: Optional[int] = None,
             desc: Optional[str] = None, unit: str = "it", unit_scale: bool = False,
             unit_divisor: int = 1000, show: bool = True) -> "tqdm[T]":
    """A tqdm bar on stderr that is disabled when nobody is watching (or ``show`` is False).

    ``unit_scale`` shows counts with k, M, ... prefixes of ``unit_divisor`` (1024 for bytes).
    """
    return tqdm(iterable, total=total, desc=desc, unit=unit, unit_scale=unit_scale,
                unit_divisor=unit_divisor, disable=not (show and enabled()), dynamic_ncols=True,
                smoothing=0.1, file=sys.stderr)


def byte_progress(total: Optional[int], desc: str) -> "tqdm[T]":
    """A :func:`progress` bar counting bytes (shown with KiB, MiB, ... prefixes)."""
    return progress(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024)
