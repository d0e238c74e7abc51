"""Fetch released resources: resumable downloads, checked for what they claim to be, recorded.

A file is downloaded to ``<file>.avprep-part`` (:mod:`avprep.transfer`: complete only when its
length is known and met, bounded in size and time, resumed only where the server proves the
bytes unchanged) and renamed to its final name only once complete and checked for what its
manifest entry says it is (:mod:`avprep.filecheck`), so a final name never holds a partial or a
wrong file. The first good copy of a file records its size and SHA-256 in ``fetch-lock.json`` in
the destination folder; every later fetch of that file (a re-download or a file already present)
must match the record, or it fails with :class:`IntegrityError` and the mismatching bytes are
not kept under the final name. A file already present without a record is checked the same way
before it is recorded. ``force`` downloads again and replaces the file and its record.

Set ``base_url`` (or ``$AVPREP_FETCH_BASE_URL``) to fetch from a mirror: the URL becomes
``<base_url>/<remote file name>``.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

from avprep import filecheck
from avprep.atomic import write_text
from avprep.digest import sha256_of
from avprep.errors import AvprepError, InputError, IntegrityError
from avprep.filecheck import ContentError
from avprep.manifests import Resource
from avprep.transfer import (DEFAULT_DEADLINE, META_SUFFIX, PART_SUFFIX, DownloadError, discard,
                             download)

__all__ = ["fetch", "fetch_one", "download", "source_url", "read_lock", "sha256_of",
           "FetchResult", "DownloadError", "LOCK_NAME", "PART_SUFFIX", "META_SUFFIX",
           "BASE_URL_ENV", "DEFAULT_DEADLINE"]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

LOCK_NAME = "fetch-lock.json"
BASE_URL_ENV = "AVPREP_FETCH_BASE_URL"
_NEW_LOCK = "remove it to check and record the folder's files again"


@dataclass
class FetchResult:
    """What happened to one resource: ``status`` is ``downloaded``, ``replaced`` (downloaded
    again with ``force``, record replaced), ``verified`` (already there and matching the lock
    file), ``recorded`` (already there, checked, now recorded) or ``failed`` (then ``error``
    says why)."""

    name: str
    path: Path
    status: str
    size: Optional[int] = None
    sha256: Optional[str] = None
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        """Whether the file is in place and verified."""
        return self.status != "failed"


# lock file ---------------------------------------------------------------------------------

def read_lock(dest: PathLike) -> Dict[str, Dict[str, object]]:
    """The records of ``dest``'s lock file by file name (empty when there is none)."""
    path = Path(dest) / LOCK_NAME
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"lock file is not valid JSON: {err}; {_NEW_LOCK}", path) from None
    files = obj.get("files") if isinstance(obj, dict) else None
    if not isinstance(files, dict):
        raise InputError(f'lock file lacks its "files" table; {_NEW_LOCK}', path)
    return files


def _record(dest: Path, res: Resource, url: str, size: int, sha256: str, checked: str) -> None:
    files = read_lock(dest)  # re-read: another fetch may have recorded files meanwhile
    files[res.file] = {"name": res.name, "url": url, "size": size, "sha256": sha256,
                       "kind": res.kind, "checked": checked,
                       "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    text = json.dumps({"files": dict(sorted(files.items()))}, indent=1) + "\n"
    write_text(dest / LOCK_NAME, text)


# sources ---------------------------------------------------------------------------------

def source_url(res: Resource, base_url: Optional[str] = None) -> str:
    """Where to download ``res`` from: its manifest URL, or ``<base_url>/<remote name>``."""
    base = base_url if base_url is not None else os.environ.get(BASE_URL_ENV)
    if not base:
        return res.url
    remote = Path(urllib.parse.urlsplit(res.url).path).name or res.file
    return base.rstrip("/") + "/" + urllib.parse.quote(remote)


# fetch -------------------------------------------------------------------------------------

def _verify(res: Resource, dest: Path, final: Path, record: Optional[Dict[str, object]],
            url: str) -> FetchResult:
    """Check a file already in ``dest`` against its record, or record it once checked."""
    if record is None:
        try:
            checked = filecheck.check(res, final)
        except ContentError as err:
            raise IntegrityError(f"is already in {dest} but is {err.message}; nothing recorded. "
                                 "Remove it, or rerun with --force to download it again",
                                 final) from None
        size, digest = final.stat().st_size, sha256_of(final, f"hashing {res.file}")
        _record(dest, res, url, size, digest, checked)
        return FetchResult(res.name, final, "recorded", size, digest)
    size = final.stat().st_size
    digest = sha256_of(final, f"hashing {res.file}") if size == record["size"] else None
    if size != record["size"] or digest != record["sha256"]:
        raise IntegrityError(
            f"does not match {LOCK_NAME} (size {size} vs {record['size']}"
            + (f", sha256 {digest} vs {record['sha256']}" if digest else "")
            + "); rerun with --force to download it again and replace its record", final)
    if not record.get("checked"):  # recorded before avprep checked what files are
        try:
            checked = filecheck.check(res, final)
        except ContentError as err:
            raise IntegrityError(f"matches {LOCK_NAME} but is {err.message}; rerun with --force "
                                 "to download it again and replace its record", final) from None
        _record(dest, res, url, size, digest, checked)
    return FetchResult(res.name, final, "verified", size, digest)


def fetch_one(res: Resource, dest: PathLike, base_url: Optional[str] = None, retries: int = 3,
              timeout: float = 60.0, force: bool = False, backoff: float = 1.0,
              deadline: Optional[float] = DEFAULT_DEADLINE) -> FetchResult:
    """Fetch one resource into ``dest`` (see the module docstring); raise on failure.

    ``timeout`` bounds each read from the server, ``deadline`` the whole download (every try
    together; None or 0: no limit); a download stopped by either keeps its bytes for the next
    call."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / res.file
    part = dest / (res.file + PART_SUFFIX)
    record = read_lock(dest).get(res.file)
    url = source_url(res, base_url)

    if final.exists() and not force:
        return _verify(res, dest, final, record, url)

    download(url, part, retries=retries, timeout=timeout, backoff=backoff, desc=res.file,
             deadline=deadline, max_bytes=filecheck.max_bytes(res))
    try:
        checked = filecheck.check(res, part)
    except ContentError as err:
        discard(part)
        raise DownloadError(f"the downloaded file is {err.message}; not kept. Try again later, "
                            "or fetch from a mirror with --base-url", final) from None
    size = part.stat().st_size
    digest = sha256_of(part, f"hashing {res.file}")
    same = record is not None and size == record["size"] and digest == record["sha256"]
    if record is not None and not same and not force:
        discard(part)
        raise IntegrityError(
            f"the downloaded copy does not match {LOCK_NAME} (size {size} vs {record['size']}, "
            f"sha256 {digest} vs {record['sha256']}); not kept. If the file changed at its "
            "source, rerun with --force to take the new copy and replace its record", final)
    os.replace(part, final)
    discard(part)  # its recorded validators
    if not same:
        _record(dest, res, url, size, digest, checked)
    status = "replaced" if record is not None and not same else "downloaded"
    return FetchResult(res.name, final, status, size, digest)


def fetch(resources: Iterable[Resource], dest: PathLike, base_url: Optional[str] = None,
          retries: int = 3, timeout: float = 60.0, force: bool = False,
          backoff: float = 1.0, deadline: Optional[float] = DEFAULT_DEADLINE
          ) -> List[FetchResult]:
    """Fetch each resource into ``dest`` (see :func:`fetch_one`); a failure is recorded in its
    result and the rest go on."""
    results = []
    for res in resources:
        try:
            results.append(fetch_one(res, dest, base_url, retries, timeout, force, backoff,
                                     deadline))
        except AvprepError as err:
            if isinstance(err, InputError):
                raise
            results.append(FetchResult(res.name, Path(dest) / res.file, "failed",
                                       error=str(err)))
        except OSError as err:
            results.append(FetchResult(res.name, Path(dest) / res.file, "failed",
                                       error=f"{Path(dest) / res.file}: {err}"))
    return results
