"""What the hardening tests share: snapshots of output folders, leftover temporaries, tiny clips,
byte damage, the packaged ffmpeg."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

from avprep.atomic import TMP_MARK
from avprep.synth import ffmpeg_exe, make_clip

#: marks of temporary names: atomic writes, and partial downloads
TEMP_MARKS = (TMP_MARK, ".avprep-part")


def snapshot(*folders: Path) -> Dict[str, bytes]:
    """``<folder name>/<relative path>`` -> bytes, for every file under ``folders``."""
    out = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.exists():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                out[str(path.relative_to(folder.parent))] = path.read_bytes()
    return out


def temporaries(*folders: Path) -> List[Path]:
    """Every file or folder under ``folders`` whose name marks it as temporary."""
    found = []
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if any(mark in path.name for mark in TEMP_MARKS):
                found.append(path)
    return found


def ffmpeg(*args: str) -> None:
    """Run the packaged ffmpeg quietly; raise on failure."""
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True, stdin=subprocess.DEVNULL)


def tiny_clips(folder: Path, count: int, prefix: str = "clip", duration: float = 2.0,
               names: Optional[List[str]] = None) -> List[Path]:
    """``count`` small, distinct mp4 clips (160x120, 10 fps, stereo aac)."""
    names = names or [f"{prefix}{k}" for k in range(count)]
    return [make_clip(Path(folder) / f"{name}.mp4", duration=duration, width=160, height=120,
                      fps=10, tone=300 + 60 * k) for k, name in enumerate(names[:count])]


def overwrite(path: Path, at: float, length: int, seed: int) -> None:
    """Overwrite ``length`` bytes at fraction ``at`` of ``path`` with seeded random bytes."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * at)
    data[start:start + length] = random.Random(seed).randbytes(length)[:len(data) - start]
    path.write_bytes(bytes(data))
