"""One download into a partial file, taken only when the server proves it complete.

The body goes to ``<file>.avprep-part``; the validators of the response that started it (ETag,
Last-Modified, length) go beside it to ``<file>.avprep-part.json``. A transfer counts only when
its length is known and met, or the server closed cleanly after a body without a length (the
caller then checks the content). More bytes than the announced length, or more than the size cap,
are refused and not kept. A dropped connection is continued with ``Range`` and ``If-Range`` only
when the first response had a validator: a 206 answer must carry the same validators, offset and
total, else the file starts again from byte 0, as it does for a server that cannot prove the
bytes unchanged. ``Accept-Encoding: identity`` is asked for; a gzip or deflate body sent anyway
is decoded while it arrives (and cannot be resumed), any other encoding is refused.

``timeout`` bounds each read of at most :data:`READ_CHUNK` bytes (and connecting); ``deadline``
bounds the whole download, every try together. A transfer stopped by either keeps its bytes, so
the next run continues from them.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Dict, Optional

from avprep import __version__
from avprep.atomic import write_text
from avprep.errors import AvprepError
from avprep.progress import byte_progress

__all__ = ["download", "discard", "DownloadError", "PART_SUFFIX", "META_SUFFIX", "READ_CHUNK",
           "DEFAULT_DEADLINE"]

log = logging.getLogger(__name__)

PART_SUFFIX = ".avprep-part"
META_SUFFIX = PART_SUFFIX + ".json"
READ_CHUNK = 64 << 10
DEFAULT_DEADLINE = 3600.0
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")
_DECODED = ("gzip", "x-gzip", "deflate")
_CAP = "bytes a file of this kind may have (its manifest entry's max_bytes raises the cap)"


class DownloadError(AvprepError):
    """A download that did not complete, or whose bytes were refused (exit 1)."""


class _Restart(Exception):
    """The partial file cannot be continued: start again from byte 0."""


class _Refused(Exception):
    """The server's answer is unusable whatever the tries: stop, keep nothing."""


class _Deadline(Exception):
    """The whole download ran past its deadline: stop, keep the bytes for the next run."""


def _final(part: Path) -> Path:
    return part.with_name(part.name.removesuffix(PART_SUFFIX))


def _meta_path(part: Path) -> Path:
    return part.with_name(_final(part).name + META_SUFFIX)


def discard(part: Path) -> None:
    """Remove a partial file and its recorded validators."""
    part.unlink(missing_ok=True)
    _meta_path(part).unlink(missing_ok=True)


def _read_meta(part: Path) -> Dict[str, object]:
    try:
        meta = json.loads(_meta_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _if_range(meta: Dict[str, object]) -> Optional[str]:
    """What proves the server still has the partial file's bytes: a strong ETag, else the
    Last-Modified date (None when the first response had neither)."""
    etag = meta.get("etag")
    if isinstance(etag, str) and etag and not etag.startswith("W/"):
        return etag
    modified = meta.get("last_modified")
    return modified if isinstance(modified, str) and modified else None


class _Decoder:
    """Streaming gzip/deflate decoding, several gzip members included."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, detected

    def decode(self, block: bytes) -> bytes:
        out = []
        while block:
            try:
                out.append(self._z.decompress(block))
            except zlib.error as err:
                raise _Refused(f"Content-Encoding body does not decode ({err})") from None
            block = self._z.unused_data if self._z.eof else b""
            if block:
                self._z = zlib.decompressobj(32 + zlib.MAX_WBITS)
        return b"".join(out)

    @property
    def done(self) -> bool:
        return self._z.eof


def _body_reader(response):
    """What the body is read from: past ``http.client``'s length bookkeeping for a plain body,
    so that bytes beyond the announced length are seen; the response itself when chunked."""
    if isinstance(response, http.client.HTTPResponse) and not response.chunked and response.fp:
        return response.fp
    return response


def _continuation(response, have: int, meta: Dict[str, object], encoding: str) -> int:
    """The bytes still to come when a 206 answer continues the partial file with the same
    bytes; raise :class:`_Restart` when it does not (another offset, total or validator)."""
    hdr = response.headers
    match = _CONTENT_RANGE.match(hdr.get("Content-Range", ""))
    total = None if not match or match.group(3) == "*" else int(match.group(3))
    same = (match is not None and int(match.group(1)) == have and encoding == "identity"
            and total is not None and meta.get("length") in (None, total)
            and all(hdr.get(h) in (None, meta.get(k))
                    for h, k in (("ETag", "etag"), ("Last-Modified", "last_modified"))))
    if not same:
        raise _Restart()
    meta["length"] = total
    return total - have


def _copy(reader, fh, bar, expected: Optional[int], have: int, decoder: Optional[_Decoder],
          until: Optional[float], max_bytes: Optional[int], closes: bool) -> None:
    """Copy the body from ``reader`` to ``fh``: small reads, each bounded by the socket's
    timeout, the whole bounded by ``until``; never more than ``expected`` body bytes or
    ``max_bytes`` file bytes. When the server ``closes`` the connection after the body, bytes
    past ``expected`` are looked for; on a connection kept open they would be the next
    message's."""
    received, written = 0, have
    while True:
        if until is not None and time.monotonic() > until:
            raise _Deadline()
        if expected is not None and received == expected and not closes:
            break
        try:
            block = reader.read1(READ_CHUNK)
        except (socket.timeout, TimeoutError):
            if expected is not None and received == expected:
                break  # complete; the server just did not close the connection
            raise
        if not block:
            break
        received += len(block)
        if expected is not None and received > expected:
            raise _Refused(f"the server sent more bytes than the {expected} its Content-Length "
                           "announced")
        data = decoder.decode(block) if decoder else block
        written += len(data)
        if max_bytes is not None and written > max_bytes:
            raise _Refused(f"the body is larger than the {max_bytes} {_CAP}")
        fh.write(data)
        bar.update(len(data))
    if expected is not None and received < expected:
        raise ConnectionError(f"the connection closed after {have + received} of "
                              f"{have + expected} bytes")
    if decoder is not None and not decoder.done:
        raise ConnectionError("the connection closed before the end of the compressed body")


def _transfer(url: str, part: Path, timeout: float, until: Optional[float],
              max_bytes: Optional[int], desc: str) -> None:
    """Fetch ``url`` into ``part``, continuing after the bytes already there where allowed."""
    meta = _read_meta(part)
    have = part.stat().st_size if part.exists() else 0
    validator = _if_range(meta) if have else None
    if have and (validator is None or meta.get("encoding", "identity") != "identity"):
        discard(part)  # nothing proves the server still has the same bytes
        have, meta = 0, {}
    headers = {"User-Agent": f"avprep/{__version__}", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        headers["If-Range"] = validator
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            match = _UNSATISFIED_RANGE.match(err.headers.get("Content-Range", ""))
            err.close()
            if match and int(match.group(1)) == have == meta.get("length"):
                return  # the partial file already holds everything
            raise _Restart() from None
        raise
    with response:
        status = getattr(response, "status", None) or 200  # a file: URL has none
        hdr = response.headers
        encoding = (hdr.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("identity",) + _DECODED:
            raise _Refused(f"the server sent Content-Encoding {encoding!r}, which avprep does "
                           "not decode")
        length = (hdr.get("Content-Length") or "").strip()
        expected = int(length) if length.isdigit() else None
        if getattr(response, "chunked", False):
            expected = None  # http.client checks the chunks; a Content-Length means nothing
        if have and status == 206:
            expected, mode = _continuation(response, have, meta, encoding), "ab"
        elif status == 206:
            raise _Refused("the server answered a request without Range with a partial body")
        else:
            have, mode = 0, "wb"
            if max_bytes is not None and expected is not None and encoding == "identity" \
                    and expected > max_bytes:
                raise _Refused(f"the server announces {expected} bytes, more than the "
                               f"{max_bytes} {_CAP}")
            meta = {"url": url, "etag": hdr.get("ETag"), "last_modified": hdr.get("Last-Modified"),
                    "length": expected if encoding == "identity" else None, "encoding": encoding}
            write_text(_meta_path(part), json.dumps(meta) + "\n")
        decoder = _Decoder() if encoding != "identity" else None
        try:
            with open(part, mode) as fh, byte_progress(meta.get("length"), desc) as bar:
                bar.update(have)
                _copy(_body_reader(response), fh, bar, expected, have, decoder, until,
                      max_bytes, closes=getattr(response, "will_close", True))
        except BaseException:
            if decoder is not None:
                discard(part)  # decoded bytes cannot be continued with a Range request
            raise


_RETRYABLE = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout,
              TimeoutError)


def _kept(part: Path) -> str:
    size = part.stat().st_size if part.exists() else 0
    if not size:
        return "rerun to try again"
    return f"the {size} bytes received are kept in {part.name}: rerun to continue"


def download(url: str, part: Path, retries: int = 3, timeout: float = 60.0,
             backoff: float = 1.0, desc: str = "", deadline: Optional[float] = DEFAULT_DEADLINE,
             max_bytes: Optional[int] = None) -> None:
    """Download ``url`` into ``part`` (see the module docstring); up to ``retries`` more tries
    after a dropped connection or a server error, within ``deadline`` seconds in all (None or 0:
    no limit). Raises :class:`DownloadError`, naming the file ``part`` becomes and what to do,
    when it cannot complete."""
    final = _final(part)
    until = time.monotonic() + deadline if deadline else None
    tries = 0
    while True:
        try:
            _transfer(url, part, timeout, until, max_bytes, desc or final.name)
            return
        except _Restart:
            discard(part)
            err_text = "the server could not continue the partial file with the same bytes"
        except _Refused as err:
            discard(part)
            raise DownloadError(f"{err}; nothing kept. Try again later, or fetch from a mirror "
                                "with --base-url", final) from None
        except _Deadline:
            raise DownloadError(f"not complete within the deadline of {deadline:g} s; "
                                f"{_kept(part)} (or raise --deadline)", final) from None
        except urllib.error.HTTPError as err:
            if err.code < 500 and err.code not in (408, 429):
                raise DownloadError(f"HTTP {err.code} {err.reason} from {url}", final) from None
            err_text = f"HTTP {err.code} {err.reason}"
        except _RETRYABLE as err:
            err_text = f"{type(err).__name__}: {err}"
        tries += 1
        if tries > retries:
            raise DownloadError(f"download failed after {tries} tries: {err_text}; "
                                f"{_kept(part)}", final)
        pause = backoff * min(2 ** (tries - 1), 30)
        if until is not None and time.monotonic() + pause > until:
            raise DownloadError(f"not complete within the deadline of {deadline:g} s "
                                f"({err_text}); {_kept(part)} (or raise --deadline)", final)
        log.warning("%s: %s; retrying (%d of %d)", final.name, err_text, tries, retries)
        time.sleep(pause)
