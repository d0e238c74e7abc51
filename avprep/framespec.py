"""How a frame folder's frames were made: how many per clip, their size, whether centre-cropped.

The original pipeline writes ten frames per clip, shorter side 224, centre crop 224x224: the
default :class:`FrameSpec`. A folder extracted with other settings records them in
``<frame_dir>/frames.json`` (:data:`SPEC_NAME`); a folder without one holds default frames. The
record tells completeness checks how many frames a clip needs and the Dataset how many it can draw
from; :func:`claim_frame_spec` refuses to add frames made one way to a folder of frames made
another. A pack folder records its frames the same way. A light module: the standard library only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Union

from avprep.atomic import TMP_MARK, write_text
from avprep.constants import IMAGE_RES, N_FRAMES
from avprep.errors import FormatError, InputError

PathLike = Union[str, "os.PathLike[str]"]

SPEC_NAME = "frames.json"
FORMAT = "avprep-frames"
VERSION = 1
#: the largest frame count and side accepted (far above any use; a typo guard)
MAX_COUNT = 10_000
MAX_SIZE = 8192


@dataclass(frozen=True)
class FrameSpec:
    """Frames per clip (``count``, taken at ``max(int(i * total / count) - 1, 0)`` of the first
    10 s), the shorter side in pixels (``size``), and whether the centre ``size`` x ``size`` square
    is cut (``crop``; without it the whole frame is kept at that scale)."""

    count: int = N_FRAMES
    size: int = IMAGE_RES
    crop: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) \
                or not 1 <= self.count <= MAX_COUNT:
            raise InputError(f"the frame count must be a whole number in 1..{MAX_COUNT}, "
                             f"got {self.count!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) \
                or not 1 <= self.size <= MAX_SIZE:
            raise InputError(f"the frame size must be a whole number of pixels in 1..{MAX_SIZE}, "
                             f"got {self.size!r}")
        if not isinstance(self.crop, bool):
            raise InputError(f"crop must be true or false, got {self.crop!r}")

    @property
    def is_default(self) -> bool:
        """Whether these are the original pipeline's frames (ten, 224, centre crop)."""
        return self == DEFAULT_SPEC

    def describe(self) -> str:
        """The settings in words, for messages: ``16 frames, shorter side 224, centre crop``."""
        shape = f"centre crop {self.size}x{self.size}" if self.crop else "not cropped"
        return f"{self.count} frames, shorter side {self.size}, {shape}"

    def to_json(self) -> Dict[str, Any]:
        """The record written to :data:`SPEC_NAME`."""
        return {"format": FORMAT, "version": VERSION, "count": self.count, "size": self.size,
                "crop": self.crop}

    @classmethod
    def from_json(cls, obj: Any, path: PathLike = SPEC_NAME) -> "FrameSpec":
        """Inverse of :meth:`to_json`; :class:`FormatError` naming ``path`` when it is not one."""
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise FormatError(f"not an avprep frame record (format "
                              f"{obj.get('format') if isinstance(obj, dict) else None!r})", path)
        if obj.get("version") != VERSION:
            raise FormatError(f"frame record version {obj.get('version')!r} is not supported "
                              f"(this avprep reads version {VERSION})", path)
        try:
            return cls(count=obj["count"], size=obj["size"], crop=obj["crop"])
        except KeyError as err:
            raise FormatError(f"frame record without {err.args[0]!r}", path) from None
        except InputError as err:
            raise FormatError(err.message, path) from None


DEFAULT_SPEC = FrameSpec()


def spec_path(folder: PathLike) -> Path:
    """``<folder>/frames.json``."""
    return Path(folder) / SPEC_NAME


def frame_spec_of(folder: PathLike) -> FrameSpec:
    """The frames ``folder`` (a frame folder or a pack folder) holds: its recorded spec, or the
    default when it records none. :class:`FormatError` for a damaged record."""
    path = spec_path(folder)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return DEFAULT_SPEC
    except (OSError, UnicodeDecodeError) as err:
        raise FormatError(f"cannot read the frame record: {getattr(err, 'strerror', None) or err}",
                          path) from None
    try:
        obj = json.loads(text)
    except ValueError as err:
        raise FormatError(f"damaged frame record: {err}", path) from None
    return FrameSpec.from_json(obj, path)


def common_frame_spec(folders: Iterable[PathLike], where: Optional[PathLike] = None) -> FrameSpec:
    """The spec the frame folders record (the first one's; the default for none), when they
    all record one frame count; :class:`InputError` naming two that differ (and ``where``, the
    list they come from)."""
    spec, first = None, None
    for folder in folders:
        found = frame_spec_of(folder)
        if spec is None:
            spec, first = found, folder
        elif found.count != spec.count:
            raise InputError(f"the frame folders hold different frame counts: {os.fspath(first)} "
                             f"has {spec.count}, {os.fspath(folder)} has {found.count}", where)
    return spec if spec is not None else DEFAULT_SPEC


def write_frame_spec(folder: PathLike, spec: FrameSpec) -> Path:
    """Record ``spec`` as ``<folder>/frames.json``, atomically; return its path."""
    path = spec_path(folder)
    write_text(path, json.dumps(spec.to_json(), indent=1) + "\n")
    return path


def _holds_frames(folder: Path) -> bool:
    """Whether any ``frame_<i>`` folder of ``folder`` holds a file other than a temporary one."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return False
    for entry in entries:
        if not (entry.name.startswith("frame_") and entry.is_dir()):
            continue
        with os.scandir(entry.path) as names:
            if any(TMP_MARK not in n.name for n in names):
                return True
    return False


def claim_frame_spec(folder: PathLike, spec: FrameSpec) -> None:
    """Make sure frames made as ``spec`` may go into ``folder``, recording ``spec`` there when it
    is not the default.

    :class:`InputError` (one line) when the folder records other settings, or records none but
    already holds frames and ``spec`` is not the default: one folder never mixes frames made two
    ways.
    """
    folder = Path(folder)
    if spec_path(folder).exists():
        recorded = frame_spec_of(folder)
    elif spec.is_default:
        return  # no record: the folder holds default frames, or none
    elif _holds_frames(folder):
        recorded = DEFAULT_SPEC
    else:
        write_frame_spec(folder, spec)
        return
    if recorded != spec:
        raise InputError(f"the folder holds frames made as {recorded.describe()}; this run makes "
                         f"{spec.describe()}: use another frame folder or the same settings",
                         folder)


__all__ = ["FrameSpec", "DEFAULT_SPEC", "SPEC_NAME", "spec_path", "frame_spec_of",
           "common_frame_spec", "write_frame_spec", "claim_frame_spec"]
