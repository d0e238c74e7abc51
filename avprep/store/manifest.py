"""The manifest of a pack folder: what each shard holds, its size and sha256, and what was left out.

A pack folder holds ``shard-NNNNN.arrow`` files, ``index.arrow`` and ``manifest.json``. The
manifest is written last, so a folder with a manifest is a finished pack; its sha256 figures are
what ``avprep pack --verify`` checks the files against.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from avprep.atomic import write_text
from avprep.errors import FormatError, InputError
from avprep.safetext import shown

PathLike = Union[str, "os.PathLike[str]"]

FORMAT = "avprep-pack"
VERSION = 1
MANIFEST_NAME = "manifest.json"
INDEX_NAME = "index.arrow"
PARTS_DIR = ".parts"


def shard_name(number: int) -> str:
    """File name of shard ``number``."""
    return f"shard-{number:05d}.arrow"


@dataclass
class Failure:
    """A list entry that was not packed, and why."""

    entry: int
    video_id: str
    reason: str

    def __str__(self) -> str:
        return f"entry {self.entry} ({shown(self.video_id)}): {shown(self.reason, 300)}"


@dataclass
class ShardInfo:
    """One shard: list entries ``[first_entry, first_entry + entries)``, ``rows`` of them packed."""

    name: str
    first_entry: int
    entries: int
    rows: int
    bytes: int
    sha256: str
    failures: List[Failure] = field(default_factory=list)
    incomplete: List[Dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        """The shard as a JSON object."""
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Dict[str, Any]) -> "ShardInfo":
        """Inverse of :meth:`to_json` (other keys, such as a shard record's, are ignored)."""
        obj = {k: v for k, v in obj.items() if k in cls.__dataclass_fields__}
        obj["failures"] = [Failure(**f) for f in obj.get("failures", [])]
        obj.setdefault("incomplete", [])
        return cls(**obj)


@dataclass
class Manifest:
    """Everything recorded about a pack."""

    entries: int
    rows: int
    shard_size: int
    fbank: Optional[str]
    source: str
    source_sha256: str
    labels_csv: Optional[Dict[str, Any]]
    shards: List[ShardInfo]
    index: Dict[str, Any]
    format: str = FORMAT
    version: int = VERSION

    @property
    def failures(self) -> List[Failure]:
        """Every entry left out, in list order."""
        return [f for s in self.shards for f in s.failures]

    @property
    def incomplete(self) -> List[Dict[str, Any]]:
        """Packed entries with some (not all) frames missing: ``{entry, video_id, missing}``."""
        return [i for s in self.shards for i in s.incomplete]

    def to_json(self) -> Dict[str, Any]:
        """The manifest as a JSON object."""
        out = asdict(self)
        out["shards"] = [s.to_json() for s in self.shards]
        return out

    def write(self, folder: PathLike) -> Path:
        """Write ``manifest.json`` into ``folder`` atomically."""
        path = Path(folder) / MANIFEST_NAME
        write_text(path, json.dumps(self.to_json(), indent=1) + "\n")
        return path


def read_manifest(folder: PathLike) -> Manifest:
    """Read ``folder/manifest.json``; :class:`InputError` when the folder is not a finished pack."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise InputError("pack folder not found", folder)
    if not path.is_file():
        raise InputError("not a finished pack: manifest.json is missing (run avprep pack to "
                         "finish it)", folder)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        if obj.get("format") != FORMAT:
            raise FormatError(f"not an avprep pack manifest (format {obj.get('format')!r})", path)
        if obj.get("version") != VERSION:
            raise FormatError(f"pack version {obj.get('version')} is not supported "
                              f"(this avprep reads version {VERSION})", path)
        obj["shards"] = [ShardInfo.from_json(s) for s in obj["shards"]]
        return Manifest(**obj)
    except (ValueError, KeyError, TypeError) as err:
        raise FormatError(f"damaged manifest: {err}", path) from None
