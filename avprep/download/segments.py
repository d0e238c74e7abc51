"""Where each clip lies in its YouTube video: AudioSet's segment CSVs, VGGSound's ids and csv.

A :class:`Segment` names the output (``video_id``, the list's id), the YouTube id it comes from
and the seconds ``[start, end]`` to cut. A VGGSound id carries its start (``<ytid>_<6 digits>``,
10 s from there); an AudioSet id is the bare YouTube id, whose start and end come from Google's
segment CSVs (``eval_segments.csv``, ``balanced_train_segments.csv``,
``unbalanced_train_segments.csv``: ``#`` header lines, then ``YTID, start_seconds, end_seconds,
"labels"``; copies with the spaces or header lines stripped read the same).

The ids to download (the LIST of ``avprep download``) come from a JSON data list, a text file of
ids (one a line) or a segments CSV (AudioSet's or VGGSound's ``vggsound.csv``).
"""

from __future__ import annotations

import csv
import gc
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from avprep.errors import FormatError, InputError
from avprep.lists.ids import YTID, check_safe_id, is_audioset_id
from avprep.lists.textfile import read_text

PathLike = Union[str, "os.PathLike[str]"]

#: length of a VGGSound clip, from the start second its id carries
VGGSOUND_SECONDS = 10.0

_VGGSOUND_ID = re.compile(rf"^(?P<ytid>{YTID})_(?P<start>\d{{6}})$")


@dataclass(frozen=True)
class Segment:
    """One clip to download: the output's ``video_id``, its YouTube ``ytid`` and the seconds
    ``[start, end]`` of the video it covers."""

    video_id: str
    ytid: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        """Seconds the clip covers."""
        return self.end - self.start


def vggsound_clip_id(ytid: str, start: float) -> str:
    """The VGGSound list id of the clip of ``ytid`` starting at ``start`` seconds."""
    return f"{ytid}_{int(start):06d}"


def vggsound_segment(video_id: str) -> Optional[Segment]:
    """The segment a VGGSound id (``<ytid>_<6-digit start>``) names, or None for another form."""
    match = _VGGSOUND_ID.match(video_id)
    if not match:
        return None
    start = float(int(match.group("start")))
    return Segment(video_id, match.group("ytid"), start, start + VGGSOUND_SECONDS)


def _csv_rows(path: PathLike) -> Iterable[Tuple[int, List[str]]]:
    """(line number, fields) of each row that is not blank and not a ``#`` comment."""
    text = read_text(path, "segments CSV", newline="")
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    for row in reader:
        if not row or all(not f.strip() for f in row) or row[0].lstrip().startswith("#"):
            continue
        yield reader.line_num, [f.strip() for f in row]


def _seconds(text: str, path: PathLike, line: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FormatError(f"{what} {text!r} is not a number", path, f"line {line}") from None
    if not value >= 0 or value == float("inf"):
        raise FormatError(f"{what} {text!r} is not a time in seconds", path, f"line {line}")
    return value


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _head(path: PathLike, size: int = 1 << 16) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(size)
    except FileNotFoundError:
        raise InputError("segments CSV not found", path) from None
    except IsADirectoryError:
        raise InputError("expected a segments CSV file, found a folder", path) from None
    text = data.decode("utf-8", "replace")
    return text if len(data) < size else text[:text.rfind("\n") + 1]


def csv_kind(path: PathLike) -> Optional[str]:
    """``"audioset"`` for an AudioSet segments CSV, ``"vggsound"`` for ``vggsound.csv``, None
    for neither (judged by the first data row: ``ytid, start, end, labels`` or
    ``ytid, start, label, split``)."""
    for row in csv.reader(io.StringIO(_head(path)), skipinitialspace=True):
        if not row or all(not f.strip() for f in row) or row[0].lstrip().startswith("#"):
            continue
        row = [f.strip() for f in row]
        if len(row) >= 3 and _number(row[1]):
            return "audioset" if _number(row[2]) else "vggsound"
        return None
    return None


def _read_audioset_fast(path: PathLike) -> Optional[Dict[str, Tuple[float, float]]]:
    """The table read by Arrow (seconds for the 2 million rows of the unbalanced CSV), or None
    when the file is anything but clean (the line-by-line reader then names the problem)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    start = 0
    while data.startswith(b"#", start) or data.startswith(b"\n", start):
        end = data.find(b"\n", start)
        if end < 0:
            return None
        start = end + 1
    body = data[start:].replace(b", ", b",")  # the released files put a space after each comma
    if b"\r" in body or b"#" in body:
        return None
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(body),
            read_options=pa_csv.ReadOptions(column_names=["ytid", "start", "end", "labels"]),
            convert_options=pa_csv.ConvertOptions(column_types={
                "ytid": pa.string(), "start": pa.float64(), "end": pa.float64(),
                "labels": pa.string()}))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    ytid, begin, finish = table["ytid"], table["start"], table["end"]
    ok = pc.and_(pc.and_(pc.match_substring_regex(ytid, f"^{YTID}$"), pc.is_finite(finish)),
                 pc.and_(pc.greater_equal(begin, 0.0), pc.greater(finish, begin)))
    if table.num_rows == 0 or not pc.all(pc.fill_null(ok, False)).as_py():
        return None
    collecting = gc.isenabled()
    gc.disable()  # 2 million tuples: the collector would walk them again and again (3x slower)
    try:
        ids = ytid.to_pylist()
        out = dict(zip(ids, zip(begin.to_pylist(), finish.to_pylist())))
    finally:
        if collecting:
            gc.enable()
    if len(out) != len(ids):
        return None  # duplicates: the first must win, which the line reader keeps
    return out


def read_audioset_segments(path: PathLike) -> Dict[str, Tuple[float, float]]:
    """``ytid -> (start, end)`` from an AudioSet segments CSV.

    Raises :class:`FormatError` naming the line for a row without a YouTube id and two times, or
    with an end before its start.
    """
    fast = _read_audioset_fast(path)
    if fast is not None:
        return fast
    out: Dict[str, Tuple[float, float]] = {}
    for line, row in _csv_rows(path):
        if len(row) < 3:
            raise FormatError("expected 'YTID, start_seconds, end_seconds, \"labels\"'",
                              path, f"line {line}")
        ytid = row[0]
        if not is_audioset_id(ytid):
            raise FormatError(f"{ytid!r} is not a YouTube id", path, f"line {line}")
        start = _seconds(row[1], path, line, "start")
        end = _seconds(row[2], path, line, "end")
        if end <= start:
            raise FormatError(f"end {row[2]} is not after start {row[1]}", path, f"line {line}")
        out.setdefault(ytid, (start, end))
    return out


def read_vggsound_csv(path: PathLike) -> List[Segment]:
    """The clips of VGGSound's ``vggsound.csv`` (``ytid,start_seconds,label,split``), as
    segments named by their VGGSound ids, in file order."""
    out = []
    for line, row in _csv_rows(path):
        if len(row) < 2 or not is_audioset_id(row[0]):
            raise FormatError("expected 'ytid,start_seconds,label,split'", path, f"line {line}")
        start = float(int(_seconds(row[1], path, line, "start")))
        out.append(Segment(vggsound_clip_id(row[0], start), row[0], start,
                           start + VGGSOUND_SECONDS))
    return out


def read_segment_tables(paths: Sequence[PathLike]) -> Dict[str, Tuple[float, float]]:
    """``ytid -> (start, end)`` from AudioSet segment CSVs (the first file naming an id wins)."""
    tables = []
    for path in paths:
        if csv_kind(path) == "vggsound":
            raise InputError("--segments takes AudioSet segment CSVs; give vggsound.csv as the "
                             "LIST (VGGSound ids carry their start)", path)
        tables.append(read_audioset_segments(path))
    if len(tables) == 1:
        return tables[0]
    merged: Dict[str, Tuple[float, float]] = {}
    for table in reversed(tables):  # earlier files overwrite later ones: the first one wins
        merged.update(table)
    return merged


@dataclass
class IdSource:
    """What a LIST file holds: the ids in order, plus segments that the file itself gave."""

    ids: List[str]
    segments: Dict[str, Segment]


def _read_id_file(path: Path) -> List[str]:
    ids = []
    for number, line in enumerate(read_text(path, "list of ids").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        check_safe_id(text, path, f"line {number}")
        ids.append(text)
    return ids


def read_ids(path: PathLike) -> IdSource:
    """The ids a LIST names: a JSON data list (``.json``), a segments CSV (AudioSet's or
    VGGSound's, by content) or a text file of ids, one a line (``#`` lines ignored).

    Duplicates keep their first place. Raises :class:`InputError` naming the file for an empty or
    unreadable LIST.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "expected a file", path)
    segments: Dict[str, Segment] = {}
    if path.suffix.lower() == ".json":
        from avprep.lists import read_list

        ids = [check_safe_id(v, path, i) for i, v in enumerate(read_list(path, cache=False)
                                                                .video_id)]
    elif _looks_csv(path):
        kind = csv_kind(path)
        if kind == "audioset":
            table = read_audioset_segments(path)
            segments = {y: Segment(y, y, s, e) for y, (s, e) in table.items()}
            ids = list(table)
        elif kind == "vggsound":
            clips = read_vggsound_csv(path)
            segments = {c.video_id: c for c in clips}
            ids = [c.video_id for c in clips]
        else:
            raise FormatError("a CSV that is neither an AudioSet segments CSV (YTID, start, end, "
                              "labels) nor vggsound.csv (ytid, start, label, split)", path)
    else:
        ids = _read_id_file(path)
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise InputError("the list names no ids", path)
    return IdSource(ids, segments)


def _looks_csv(path: Path) -> bool:
    """Whether the first data line of a text file has commas (a CSV, not a list of ids)."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.strip() and not line.lstrip().startswith("#"):
                    return "," in line
    except OSError:
        return False
    return False


def resolve(ids: Sequence[str], known: Mapping[str, Segment],
            audioset: Mapping[str, Tuple[float, float]],
            source: Optional[PathLike] = None) -> List[Segment]:
    """The segment of every id, in order: from ``known`` (what the LIST gave), from the id itself
    (VGGSound form) or from the AudioSet ``audioset`` table.

    Raises :class:`InputError` naming the first id whose start is not known (with how many more
    there are), never guessing one.
    """
    out: List[Segment] = []
    unknown: List[str] = []
    for video_id in ids:
        seg = known.get(video_id) or vggsound_segment(video_id)
        if seg is None and video_id in audioset:
            start, end = audioset[video_id]
            seg = Segment(video_id, video_id, start, end)
        if seg is None:
            unknown.append(video_id)
        else:
            out.append(seg)
    if unknown:
        more = f" (and {len(unknown) - 1} more ids)" if len(unknown) > 1 else ""
        hint = ("give AudioSet's segment CSVs with --segments ('avprep fetch audioset-segments')"
                if is_audioset_id(unknown[0]) else
                "expected an AudioSet id listed in --segments or a VGGSound id <ytid>_<6 digits>")
        raise InputError(f"no known start for id {unknown[0]!r}{more}: {hint}", source)
    return out
