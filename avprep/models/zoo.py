"""The CAV-MAE model zoo: released checkpoint names -> download URLs, read from the manifests.

Entries come from a manifest file given explicitly, else from the project's models manifest
(:func:`avprep.manifests.load_manifest`). A manifest is a list of objects, or an object holding
that list under ``models`` or ``entries``; each object has at least ``name`` and ``url``. A
checkpoint is named by its manifest name or by its file name with or without the extension
(``as-full-51.2``), in any letter case.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union
from urllib.parse import urlparse

from ..cache_dir import cache_path
from ..errors import AvprepError, FormatError, InputError, IntegrityError
from ..manifests import Resource, load_manifest

PathLike = Union[str, "os.PathLike[str]"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ZooEntry:
    """One released checkpoint: its manifest name, URL, and the manifest's other fields."""

    name: str
    url: str
    info: Dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def filename(self) -> str:
        """The checkpoint's file name, from the URL path (``as-full-51.2.pth``)."""
        return Path(urlparse(self.url).path).name

    def aliases(self) -> List[str]:
        """Lower-case names this entry answers to: its name, file name, file stem and the
        manifest's ``aliases``."""
        extra = [str(a).lower() for a in self.info.get("aliases", [])]
        return sorted({self.name.lower(), self.filename.lower(), Path(self.filename).stem.lower(),
                       *extra})


def _as_entries(raw: Any, source: str) -> List[ZooEntry]:
    if isinstance(raw, dict):
        for key in ("models", "entries"):
            if isinstance(raw.get(key), list):
                raw = raw[key]
                break
    if not isinstance(raw, (list, tuple)):
        raise FormatError("model manifest is not a list of entries", source)
    entries = []
    for i, item in enumerate(raw):
        fields = dict(item) if isinstance(item, dict) else dict(getattr(item, "__dict__", {}))
        name, url = fields.get("name"), fields.get("url")
        if not isinstance(name, str) or not isinstance(url, str) or not url:
            raise FormatError("model entry needs a string name and url", source, i)
        entries.append(ZooEntry(name, url, {k: v for k, v in fields.items()
                                            if k not in ("name", "url")}))
    return entries


def _read_manifest(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise InputError("model manifest not found", path) from err
    except (OSError, UnicodeDecodeError) as err:
        raise FormatError(f"model manifest is not readable ({err})", path) from err
    try:
        if path.suffix == ".toml":
            import tomllib
            return tomllib.loads(text)
        return json.loads(text)
    except ValueError as err:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise FormatError(f"model manifest does not parse ({err})", path) from err


def zoo_entries(manifest: Optional[PathLike] = None) -> List[ZooEntry]:
    """Every checkpoint in the model zoo, from ``manifest`` (a JSON or TOML file) or else the
    project's models manifest. Raises :class:`InputError` when neither can be read."""
    if manifest is not None:
        return _as_entries(_read_manifest(Path(manifest)), os.fspath(manifest))
    return _as_entries(load_manifest("models"), "models manifest")


def find(name: str, entries: Iterable[ZooEntry]) -> ZooEntry:
    """The entry called ``name`` (manifest name, file name or file stem, any case).

    Several entries sharing one URL (the zoo lists some checkpoints under several tables) count
    as one. Raises :class:`InputError` for an unknown or ambiguous name.
    """
    wanted = name.strip().lower()
    entries = list(entries)
    hits = {e.url: e for e in entries if wanted in e.aliases()}
    if len(hits) == 1:
        return next(iter(hits.values()))
    if not hits:
        known = sorted({Path(e.filename).stem for e in entries})
        raise InputError(f"unknown model-zoo name {name!r}; known file names: "
                         f"{', '.join(known[:30])}")
    raise InputError(f"model-zoo name {name!r} is ambiguous: "
                     f"{', '.join(sorted(e.filename for e in hits.values()))}")


def default_cache_dir() -> Path:
    """Where downloaded checkpoints are kept: the ``models`` part of avprep's cache folder
    (:mod:`avprep.cache_dir`)."""
    return cache_path("models")


def cached_path(entry: ZooEntry, cache_dir: Optional[PathLike] = None,
                download: bool = True) -> Path:
    """The local file of ``entry`` in ``cache_dir``, checked by :mod:`avprep.fetch` against the
    folder's ``fetch-lock.json`` and for what it is (a state dict that loads with
    ``weights_only=True``); a missing file is downloaded when ``download`` is true, and a cached
    file that fails its check is downloaded again, once, with a warning. Raises
    :class:`InputError` naming the checkpoint when it is neither cached nor obtainable."""
    from ..fetch import fetch_one

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / entry.filename
    fetch_cmd = f"avprep fetch {shlex.quote(entry.name)} --dest {shlex.quote(str(folder))}"
    resource = Resource(entry.name, entry.url, entry.filename, "checkpoint", "models",
                        dict(entry.info))
    cached = path.exists()
    if not download and not cached:
        raise InputError(f"model {entry.name!r} ({entry.filename}) is not cached at {path}; "
                         f"download it with `{fetch_cmd}` (from {entry.url})")
    if cached and not os.access(folder, os.W_OK):  # a shared read-only cache: nothing recorded
        from ..filecheck import check
        try:
            check(resource, path)
        except IntegrityError as err:
            raise InputError(f"model {entry.name!r}: the cached file fails its check ({err}) "
                             "and its folder is read-only; fetch it elsewhere with "
                             f"`avprep fetch {shlex.quote(entry.name)} --dest DIR`") from err
        return path
    try:
        fetch_one(resource, folder)  # a cached file is only checked: no download
        return path
    except IntegrityError as err:
        if not cached:
            raise InputError(f"model {entry.name!r} ({entry.filename}): download failed: {err} "
                             f"(`{fetch_cmd} --force`)") from err
        if not download:
            raise InputError(f"model {entry.name!r}: the cached file fails its check ({err}); "
                             f"download it again with `{fetch_cmd} --force`") from err
        log.warning("model %r: the cached file fails its check (%s); downloading it again",
                    entry.name, err)
    except InputError:
        raise
    except AvprepError as err:
        raise InputError(f"model {entry.name!r} ({entry.filename}) is not cached at {path} and "
                         f"the download failed: {err} (download it with `{fetch_cmd}`)") from err
    try:
        fetch_one(resource, folder, force=True)
    except AvprepError as err:
        raise InputError(f"model {entry.name!r}: downloading it again failed: {err} "
                         f"(try `{fetch_cmd} --force`)") from err
    return path
