"""Read and write JSON data lists: ``{"data": [{"video_id", "wav", "video_path", "labels"}, ...]}``.

Reading parses the file with Arrow's JSON reader (faster than ``json.load`` and without a Python
object per field); a file it does not take as a plain released-format list is read again with the
standard library, which names the line or the entry that is wrong. A parsed list is kept in an
Arrow cache (:mod:`avprep.lists.cache`) and memory-mapped on the next read.

Writing produces exactly what ``json.dump(obj, fh, indent=1)`` writes, the released files' layout,
so the original CAV-MAE scripts load written lists unchanged.
"""

from __future__ import annotations

import json
import mmap
import os
import re
from concurrent.futures import ThreadPoolExecutor
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Iterable, List, Mapping, Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from avprep.atomic import atomic_path
from avprep.errors import FormatError, InputError
from avprep.lists import cache as list_cache
from avprep.lists.datalist import FIELDS, DataList, Entry

PathLike = Union[str, "os.PathLike[str]"]

CACHE_MIN_BYTES = 1 << 20
_ARROW_MAX_BYTES = (1 << 31) - 1024
_WRITE_BATCH = 65536
_CHUNK_BYTES = 8 << 20
_HEAD = re.compile(rb'\A[ \t\r\n]*\{[ \t\r\n]*"data"[ \t\r\n]*:[ \t\r\n]*\[')
_TAIL = re.compile(rb'\][ \t\r\n]*\}[ \t\r\n]*\Z')
# Arrow's JSON reader is only given documents that start with an object: a top-level ``null``
# crashes it (a segmentation fault in pyarrow 26), and a list file is an object anyway.
_OBJECT_START = re.compile(rb'\A(?:\xef\xbb\xbf)?[ \t\r\n]*\{')
# JSON may escape half of a UTF-16 pair ("\\ud800"); no UTF-8 string can hold it
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SEPARATOR = re.compile(rb'\}[ \t\r]*,[ \t\r]*\n')
# characters json.dumps (ensure_ascii) writes as escapes: quote, backslash, all but printable ASCII
_NEEDS_ESCAPE = r'[^ -~]|["\\]'
_ARROW_SCHEMA = pa.schema([("data", pa.list_(pa.struct([(n, pa.string()) for n in FIELDS])))])


def read_list(path: PathLike, cache: Union[bool, PathLike] = True) -> DataList:
    """Read a JSON data list.

    ``cache`` True keeps a memory-mapped copy in the default cache folder for lists of at least
    ``CACHE_MIN_BYTES``; a folder path keeps it there; False neither reads nor writes a cache.
    Raises :class:`InputError` for a missing file and :class:`FormatError` (naming the line or
    entry) for one that is not a data list. Ids and labels are not judged here (see validate).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError("list file not found", path) from None
    except OSError as err:
        raise InputError(f"cannot read list file: {err.strerror or err}", path) from None
    if path.is_dir():
        raise InputError("expected a JSON list file, found a folder", path)

    cache_dir = None if isinstance(cache, bool) else Path(cache)
    use_cache = cache is not False and (cache_dir is not None or size >= CACHE_MIN_BYTES)
    key = None
    if use_cache:
        try:
            key = list_cache.fingerprint(path)
        except OSError as err:
            raise InputError(f"cannot read list file: {err.strerror or err}", path) from None
        table = list_cache.load(path, key, cache_dir)
        if table is not None:
            return DataList.from_arrow(table)

    data = _read_arrow(path, size)
    if data is None:
        data = _read_stdlib(path)
    if use_cache and key is not None:
        list_cache.store(path, key, data.to_arrow(), cache_dir)
    return data


def _parse_chunk(buffer) -> Optional[pa.StructArray]:
    """One ``{"data": [...]}`` document parsed by Arrow, or None when Arrow does not take it."""
    try:
        table = pa_json.read_json(
            pa.BufferReader(buffer),
            read_options=pa_json.ReadOptions(block_size=len(buffer) + 1, use_threads=False),
            parse_options=pa_json.ParseOptions(newlines_in_values=True,
                                               explicit_schema=_ARROW_SCHEMA,
                                               unexpected_field_behavior="ignore"))
    except (pa.ArrowException, OSError):
        return None
    if table.num_rows != 1 or table.column("data").null_count:
        return None
    column = table.column("data")
    lists = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return lists.flatten()


def _chunk_spans(text: bytes) -> Optional[List[tuple]]:
    """Byte spans of runs of whole entries of a ``{"data": [...]}`` file, about
    ``_CHUNK_BYTES`` each, or None when the file is not laid out that way.

    A cut is made after ``}`` followed by a comma and a line break: JSON strings cannot hold a
    raw line break, so that ``}`` ends an object. Each span is parsed as a document of its own;
    when every span parses, so does the whole file.
    """
    head = _HEAD.match(text)
    tail = _TAIL.search(text, max(0, len(text) - 4096))
    if head is None or tail is None or tail.start() < head.end():
        return None
    start, end = head.end(), tail.start()
    spans = []
    while end - start > _CHUNK_BYTES:
        match = _SEPARATOR.search(text, start + _CHUNK_BYTES, end)
        if match is None:
            break
        spans.append((start, match.start() + 1))
        start = match.end()
    spans.append((start, end))
    return spans


def _read_arrow(path: Path, size: int) -> Optional[DataList]:
    """The list parsed by Arrow, or None when the file is not a plain released-format list."""
    if size == 0 or size > _ARROW_MAX_BYTES:
        return None
    try:
        with open(path, "rb") as fh:
            text = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    try:
        if _OBJECT_START.match(text) is None:
            return None
        view = memoryview(text)
        try:
            spans = _chunk_spans(text)
            if spans is None:
                parts = [_parse_chunk(view)]
            else:
                def parse_span(span):
                    """One span wrapped as its own document, parsed."""
                    return _parse_chunk(b"".join((b'{"data":[', view[span[0]:span[1]], b"]}")))

                workers = max(1, min(len(spans), os.cpu_count() or 1))
                if workers == 1:
                    parts = [parse_span(span) for span in spans]
                else:
                    with ThreadPoolExecutor(workers) as pool:
                        parts = list(pool.map(parse_span, spans))
        finally:
            view.release()
    finally:
        text.close()
    if any(part is None or part.null_count for part in parts):
        return None
    columns = []
    for i in range(len(FIELDS)):
        pieces = [part.field(i) for part in parts]
        if any(piece.null_count for piece in pieces):
            return None  # a missing field: the stdlib reader names the entry
        column = pa.chunked_array(pieces, type=pa.string())
        try:
            column.validate(full=True)  # Arrow's JSON reader does not check UTF-8
        except pa.ArrowInvalid:
            return None
        columns.append(column)
    return DataList(*columns).compact()


def _read_stdlib(path: Path) -> DataList:
    """Parse with ``json`` and check every entry; errors name the line or the entry."""
    try:
        with open(path, "r", encoding="utf-8-sig") as fh:
            obj = json.load(fh)
    except json.JSONDecodeError as err:
        raise FormatError(f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
                          path) from None
    except UnicodeDecodeError as err:
        raise FormatError(f"not UTF-8 text: byte {err.start}: {err.reason}", path) from None
    except RecursionError:
        raise FormatError("not a data list: JSON nested too deeply", path) from None
    except ValueError as err:  # e.g. an integer with more digits than Python converts
        raise FormatError(f"not a data list: {err}", path) from None
    except OSError as err:
        raise InputError(f"cannot read list file: {err.strerror or err}", path) from None
    if not isinstance(obj, dict) or "data" not in obj:
        raise FormatError('expected a JSON object with a "data" list of entries', path)
    entries = obj["data"]
    if not isinstance(entries, list):
        raise FormatError(f'"data" is a {type(entries).__name__}, not a list of entries', path)
    cols = {name: [] for name in FIELDS}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise FormatError(f"entry is a {type(entry).__name__}, not an object", path, i)
        for name in FIELDS:
            if name not in entry:
                raise FormatError(f'missing field "{name}"', path, i)
            value = entry[name]
            if not isinstance(value, str):
                raise FormatError(f'field "{name}" is a {type(value).__name__}, not a string',
                                  path, i)
            cols[name].append(value)
    try:
        return DataList(**cols)
    except UnicodeEncodeError:
        for name in FIELDS:
            for i, value in enumerate(cols[name]):
                if _LONE_SURROGATE.search(value):
                    raise FormatError(f'field "{name}" holds a lone UTF-16 surrogate escape '
                                      "(not a character)", path, i) from None
        raise


def _entry_text(video_id: str, wav: str, video_path: str, labels: str) -> str:
    enc = encode_basestring_ascii
    return (f'  {{\n   "video_id": {enc(video_id)},\n   "wav": {enc(wav)},\n'
            f'   "video_path": {enc(video_path)},\n   "labels": {enc(labels)}\n  }}')


def _batch_text_python(columns: List[pa.Array]) -> bytes:
    cols = [c.to_pylist() for c in columns]
    return ",\n".join(_entry_text(*values) for values in zip(*cols)).encode("ascii")


def _batch_text_arrow(columns: List[pa.Array]) -> Optional[bytes]:
    """The batch's text joined by Arrow, when no string needs a JSON escape (else None)."""
    plain = []
    for column in columns:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if pc.any(pc.match_substring_regex(column, _NEEDS_ESCAPE)).as_py():
            return None
        plain.append(column)
    joined = pc.binary_join_element_wise(
        '  {\n   "video_id": "', plain[0], '",\n   "wav": "', plain[1],
        '",\n   "video_path": "', plain[2], '",\n   "labels": "', plain[3], '"\n  },\n', "")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=len(joined) + 1,
                            offset=4 * joined.offset)
    first, last = int(offsets[0]), int(offsets[-1])
    body = joined.buffers()[2]
    return memoryview(body)[first:last - 2].tobytes()  # without the last ",\n"


def write_list(path: PathLike, data: Union[DataList, Iterable[Union[Entry, Mapping[str, str]]]]
               ) -> None:
    """Write ``data`` as a JSON list, byte for byte what ``json.dump(..., indent=1)`` gives.

    The file appears under ``path`` only when complete (temporary name, then rename).
    """
    if not isinstance(data, DataList):
        data = DataList.from_entries(data)
    n = len(data)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            if n == 0:
                fh.write(b'{\n "data": []\n}')
            else:
                fh.write(b'{\n "data": [\n')
                for start in range(0, n, _WRITE_BATCH):
                    stop = min(n, start + _WRITE_BATCH)
                    columns = [data.arrow_column(name)[start:stop] for name in FIELDS]
                    text = _batch_text_arrow(columns)
                    if text is None:
                        text = _batch_text_python(columns)
                    if start:
                        fh.write(b",\n")
                    fh.write(text)
                fh.write(b"\n ]\n}")
