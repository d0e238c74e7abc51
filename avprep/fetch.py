"""Download released resources: resumable (HTTP Range), with progress and recorded checksums.

A file is downloaded to ``<file>.avprep-part`` and renamed to its final name only once complete
and verified, so a final name never holds a partial file. A dropped connection is retried,
continuing from the bytes already there. The first complete download of a file records its size
and SHA-256 in ``fetch-lock.json`` in the destination folder; every later fetch of that file (a
re-download or a file already present) must match the record, or it fails with
:class:`IntegrityError` and the mismatching bytes are not kept under the final name.

Set ``base_url`` (or ``$AVPREP_FETCH_BASE_URL``) to fetch from a mirror: the URL becomes
``<base_url>/<remote file name>``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

from avprep import __version__
from avprep.atomic import write_text
from avprep.errors import AvprepError, InputError, IntegrityError
from avprep.manifests import Resource
from avprep.progress import progress

__all__ = ["fetch", "fetch_one", "download", "source_url", "read_lock", "sha256_of",
           "FetchResult", "DownloadError", "LOCK_NAME", "PART_SUFFIX", "BASE_URL_ENV"]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

LOCK_NAME = "fetch-lock.json"
PART_SUFFIX = ".avprep-part"
BASE_URL_ENV = "AVPREP_FETCH_BASE_URL"
CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


class DownloadError(AvprepError):
    """A download that did not complete after all retries (exit 1)."""


class _Restart(Exception):
    """The server cannot continue the partial file: start it again from byte 0."""


@dataclass
class FetchResult:
    """What happened to one resource: ``status`` is ``downloaded``, ``verified`` (already
    there and matching the lock file), ``recorded`` (already there, now recorded) or
    ``failed`` (then ``error`` says why)."""

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
        raise InputError(f"lock file is not valid JSON: {err}", path) from None
    files = obj.get("files") if isinstance(obj, dict) else None
    if not isinstance(files, dict):
        raise InputError('lock file lacks its "files" table', path)
    return files


def _record(dest: Path, res: Resource, url: str, size: int, sha256: str) -> None:
    files = read_lock(dest)  # re-read: another fetch may have recorded files meanwhile
    files[res.file] = {"name": res.name, "url": url, "size": size, "sha256": sha256,
                       "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    text = json.dumps({"files": dict(sorted(files.items()))}, indent=1) + "\n"
    write_text(dest / LOCK_NAME, text)


# transfer ----------------------------------------------------------------------------------

def source_url(res: Resource, base_url: Optional[str] = None) -> str:
    """Where to download ``res`` from: its manifest URL, or ``<base_url>/<remote name>``."""
    base = base_url if base_url is not None else os.environ.get(BASE_URL_ENV)
    if not base:
        return res.url
    remote = Path(urllib.parse.urlsplit(res.url).path).name or res.file
    return base.rstrip("/") + "/" + urllib.parse.quote(remote)


def sha256_of(path: PathLike, desc: Optional[str] = None) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = Path(path).stat().st_size
    with open(path, "rb") as fh, _bar(size, desc or f"hashing {Path(path).name}") as bar:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def _bar(total: Optional[int], desc: str):
    """A progress bar counting bytes."""
    return progress(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024)


def _transfer(url: str, part: Path, timeout: float, desc: str) -> None:
    """Fetch ``url`` into ``part``, continuing after the bytes already there."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"avprep/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            match = _UNSATISFIED_RANGE.match(err.headers.get("Content-Range", ""))
            err.close()
            if match and int(match.group(1)) == have:
                return  # the partial file already holds everything
            raise _Restart() from None
        raise
    with response:
        total: Optional[int]
        if have and response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                raise _Restart()
            total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        else:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            have, mode = 0, "wb"
        with open(part, mode) as fh, _bar(total, desc) as bar:
            bar.update(have)
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                fh.write(block)
                bar.update(len(block))
    size = part.stat().st_size
    if total is not None and size != total:
        raise http.client.IncompleteRead(b"", total - size)


_RETRYABLE = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout,
              TimeoutError)


def download(url: str, part: Path, retries: int = 3, timeout: float = 60.0,
             backoff: float = 1.0, desc: str = "") -> None:
    """Download ``url`` into ``part``; resume after a dropped connection, up to ``retries``
    more tries. Raises :class:`DownloadError`, naming the file ``part`` becomes, when it cannot
    complete."""
    final = part.with_name(part.name.removesuffix(PART_SUFFIX))
    tries = 0
    while True:
        try:
            _transfer(url, part, timeout, desc or part.name)
            return
        except _Restart:
            part.unlink(missing_ok=True)
            err_text = "server could not continue the partial file"
        except urllib.error.HTTPError as err:
            if err.code < 500 and err.code not in (408, 429):
                raise DownloadError(f"HTTP {err.code} {err.reason} from {url}", final) from None
            err_text = f"HTTP {err.code} {err.reason}"
        except _RETRYABLE as err:
            err_text = f"{type(err).__name__}: {err}"
        tries += 1
        if tries > retries:
            raise DownloadError(f"download failed after {tries} tries: {err_text}", final)
        log.warning("%s: %s; retrying (%d of %d)", part.name, err_text, tries, retries)
        time.sleep(backoff * min(2 ** (tries - 1), 30))


# fetch -------------------------------------------------------------------------------------

def fetch_one(res: Resource, dest: PathLike, base_url: Optional[str] = None, retries: int = 3,
              timeout: float = 60.0, force: bool = False, backoff: float = 1.0) -> FetchResult:
    """Fetch one resource into ``dest`` (see the module docstring); raise on failure."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / res.file
    part = dest / (res.file + PART_SUFFIX)
    record = read_lock(dest).get(res.file)
    url = source_url(res, base_url)

    if final.exists() and not force:
        size = final.stat().st_size
        if record is None:
            digest = sha256_of(final)
            _record(dest, res, url, size, digest)
            return FetchResult(res.name, final, "recorded", size, digest)
        digest = sha256_of(final) if size == record["size"] else None
        if size != record["size"] or digest != record["sha256"]:
            raise IntegrityError(
                f"does not match {LOCK_NAME} (size {size} vs {record['size']}"
                + (f", sha256 {digest} vs {record['sha256']}" if digest else "")
                + "); fetch again with --force to replace it", final)
        return FetchResult(res.name, final, "verified", size, digest)

    download(url, part, retries=retries, timeout=timeout, backoff=backoff, desc=res.file)
    size = part.stat().st_size
    digest = sha256_of(part, f"hashing {res.file}")
    if record is not None and (size != record["size"] or digest != record["sha256"]):
        part.unlink(missing_ok=True)
        raise IntegrityError(
            f"downloaded copy does not match {LOCK_NAME} (size {size} vs {record['size']}, "
            f"sha256 {digest} vs {record['sha256']}); not kept", final)
    os.replace(part, final)
    if record is None:
        _record(dest, res, url, size, digest)
    return FetchResult(res.name, final, "downloaded", size, digest)


def fetch(resources: Iterable[Resource], dest: PathLike, base_url: Optional[str] = None,
          retries: int = 3, timeout: float = 60.0, force: bool = False,
          backoff: float = 1.0) -> List[FetchResult]:
    """Fetch each resource into ``dest``; a failure is recorded in its result and the rest go
    on."""
    results = []
    for res in resources:
        try:
            results.append(fetch_one(res, dest, base_url, retries, timeout, force, backoff))
        except AvprepError as err:
            if isinstance(err, InputError):
                raise
            results.append(FetchResult(res.name, Path(dest) / res.file, "failed",
                                       error=str(err)))
        except OSError as err:
            results.append(FetchResult(res.name, Path(dest) / res.file, "failed",
                                       error=f"{Path(dest) / res.file}: {err}"))
    return results
