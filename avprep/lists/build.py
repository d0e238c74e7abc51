"""Cut a released list down to the clips that exist locally, with local paths and matching weights.

A user's copy of AudioSet or VGGSound always lacks some clips (videos taken down, failed downloads,
failed extractions). :func:`build_list` keeps exactly the released entries whose wav and ten frames
are complete (:mod:`avprep.complete`), in the released order, points ``wav`` and ``video_path``
at the local media (absolute paths), and gives weights for the kept list: recomputed on it with the released formula (the default; weights
made for the authors' copy unbalance a copy that lacks 10-15% of the clips), or the released rows of
the kept entries. :func:`download_named` notices media extracted under download names
(``Y<ytid>_<start>_<end>.wav``) that only match the list once mapped to list ids.
:func:`write_build` writes the list, the weights and a coverage report;
:func:`summarize` and :func:`write_summary` gather the reports of a whole preparation run (every
list built plus the extraction failures) into one summary.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import (TYPE_CHECKING, Collection, Dict, Iterable, List, Optional, Protocol,
                    Sequence, Set, Tuple, Union)

import numpy as np

from avprep import atomic
from avprep.atomic import TMP_MARK
from avprep.errors import InputError
from avprep.complete import WAV_SUFFIX, scan_media
from avprep.lists import DataList, LabelSet, compute_weights, write_list, write_weights
from avprep.lists.ids import SCHEMES, to_list_id, unsafe_reason
from avprep.progress import progress
from avprep.safetext import lines_text, shown

if TYPE_CHECKING:
    from avprep.lists.accounting import MissingAccount

PathLike = Union[str, "os.PathLike[str]"]

WEIGHT_MODES = ("recomputed", "released")  # BuildResult.weight_mode values


class MediaIndex:
    """Which ids have a complete wav and ten complete frames (:func:`avprep.complete.scan_media`).

    The same answer as :func:`avprep.layout.has_media` for every safe id, from one directory
    listing per folder and header checks only for the ids whose eleven files all exist, instead
    of eleven lookups per entry (a 2M-entry list on a network file system). ``ids`` limits the
    scan to those ids.
    """

    def __init__(self, audio_dir: PathLike, frame_dir: PathLike,
                 ids: Optional[Iterable[str]] = None):
        self.audio_dir = Path(audio_dir)
        self.frame_dir = Path(frame_dir)
        scan = scan_media(audio_dir, frame_dir, ids, both=True)
        self._complete = scan.complete()
        self.broken = scan.broken  #: path -> why that output is not complete

    def has_media(self, video_id: str) -> bool:
        """Whether the wav and all ten frames of ``video_id`` are complete (``video_id`` safe)."""
        return video_id in self._complete

    def ids(self) -> Set[str]:
        """Every id that has complete media."""
        return set(self._complete)

    def media_paths(self, ids: Sequence[str]) -> Tuple[List[str], List[str]]:
        """The ``wav`` and ``video_path`` of list entries with these ids (absolute paths)."""
        audio_abs = os.path.abspath(os.fspath(self.audio_dir))
        frames_abs = os.path.abspath(os.fspath(self.frame_dir))
        return [os.path.join(audio_abs, f"{vid}.wav") for vid in ids], [frames_abs] * len(ids)


class MediaSource(Protocol):
    """What :func:`build_list` asks of where the clips are (:class:`MediaIndex`, or a pack's
    :class:`avprep.store.index.PackIndex`)."""

    def has_media(self, video_id: str) -> bool:
        """Whether ``video_id``'s wav and every frame are there."""

    def media_paths(self, ids: Sequence[str]) -> Tuple[List[str], List[str]]:
        """The ``wav`` and ``video_path`` of list entries with these ids."""


@dataclass
class DownloadNamed:
    """Wavs named like downloads whose list ids the released list holds: clips extracted
    without ``--ids``. ``scheme`` is the ``--ids`` value that maps most of them; ``examples``
    holds the first few as (file name, list id)."""

    files: int
    scheme: str
    examples: List[Tuple[str, str]] = field(default_factory=list)

    def summary(self) -> Dict[str, object]:
        """The report's ``download_named``: the count, the ``--ids`` option, examples."""
        return {"files": self.files, "ids_option": f"--ids {self.scheme}",
                "examples": [{"file": name, "video_id": vid} for name, vid in self.examples]}

    def note(self, audio_dir: PathLike) -> str:
        """The one warning line: how many, the first example, and the option that fixes it."""
        name, vid = self.examples[0]
        return (f"warning: {self.files} wav file(s) in {shown(os.fspath(audio_dir))} are named "
                f"like downloads and hold released ids that are missing (first: {shown(name)} "
                f"is {shown(vid)}); extract with --ids {self.scheme} to name clips by list id")


def _plain_list_id(stem: str) -> bool:
    """Whether ``stem`` already has a list id's shape (an 11-character YouTube id, or that plus
    ``_`` and 6 digits), checked without a regular expression: another split's clip."""
    return len(stem) == 11 or (len(stem) == 18 and stem[11] == "_" and stem[12:].isdigit())


def download_named(audio_dir: PathLike, missing_ids: Collection[str],
                   examples: int = 3) -> Optional[DownloadNamed]:
    """Wavs in ``audio_dir`` whose names map to one of ``missing_ids`` (released ids without
    local media) under an id scheme of :func:`avprep.lists.ids.to_list_id`
    (``Y<ytid>_<start>_<end>.wav`` -> ``<ytid>``, ``<ytid>_30.wav`` -> ``<ytid>_000030``), or
    None when there are none.

    One listing of the folder; names already shaped like list ids are not parsed.
    """
    wanted = missing_ids if isinstance(missing_ids, (set, frozenset)) else set(missing_ids)
    if not wanted:
        return None
    counts = dict.fromkeys(SCHEMES, 0)
    found: Dict[str, List[Tuple[str, str]]] = {scheme: [] for scheme in SCHEMES}
    try:
        entries = os.scandir(os.fspath(audio_dir))
    except (FileNotFoundError, NotADirectoryError):
        return None
    cut = len(WAV_SUFFIX)
    with entries:
        names = [entry.name for entry in entries
                 if entry.name.endswith(WAV_SUFFIX) and TMP_MARK not in entry.name
                 and not _plain_list_id(entry.name[:-cut])]
    for name in sorted(names):
        stem = name[:-cut]
        for scheme in SCHEMES:
            vid = to_list_id(stem, scheme)
            if vid is not None and vid != stem and vid in wanted:
                counts[scheme] += 1
                if len(found[scheme]) < examples:
                    found[scheme].append((name, vid))
    scheme = max(SCHEMES, key=lambda s: counts[s])
    if counts[scheme] == 0:
        return None
    return DownloadNamed(counts[scheme], scheme, found[scheme])


@dataclass
class BuildResult:
    """What :func:`build_list` found and made.

    ``kept`` are the indices (into the released list) of the entries kept; ``missing`` the released
    entries without complete local media, as (index, id); ``unsafe`` the released entries whose id
    cannot name a file, as (index, id, reason): they are never kept. ``download_named`` says
    when missing entries have media under download names (:func:`download_named`).
    """

    data: DataList
    kept: np.ndarray
    released_count: int
    missing: List[tuple] = field(default_factory=list)
    unsafe: List[tuple] = field(default_factory=list)
    weights: Optional[np.ndarray] = None
    weight_mode: Optional[str] = None
    download_named: Optional[DownloadNamed] = None

    @property
    def missing_ids(self) -> List[str]:
        """Ids of the released entries that are not kept (missing media or unsafe id), in order."""
        if not self.unsafe:
            return [vid for _i, vid in self.missing]
        skipped = sorted(self.missing + [(i, vid) for i, vid, _reason in self.unsafe])
        return [vid for _i, vid in skipped]

    def summary(self) -> Dict[str, object]:
        """Counts for reports: released, kept, missing, unsafe, the kept fraction, the weight mode."""
        return {
            "released": self.released_count,
            "kept": int(len(self.kept)),
            "missing": len(self.missing),
            "unsafe_ids": len(self.unsafe),
            "kept_fraction": (len(self.kept) / self.released_count) if self.released_count else 0.0,
            "weights": self.weight_mode,
            "unsafe_examples": [{"index": i, "video_id": vid, "reason": reason}
                                for i, vid, reason in self.unsafe[:10]],
            "download_named": (self.download_named.summary()
                               if self.download_named is not None else None),
        }


def check_weights_length(weights: np.ndarray, n_entries: int, path: Optional[PathLike]) -> None:
    """Raise :class:`InputError` when a weight file does not have one row per released entry."""
    if len(weights) != n_entries:
        raise InputError(f"weight file has {len(weights)} rows but the released list has "
                         f"{n_entries} entries; a weight file must match its list row for row",
                         path)


def check_released_weights(weights: np.ndarray, released: DataList,
                           path: Optional[PathLike]) -> None:
    """Raise :class:`InputError` naming the file and line of the first weight that ``validate``
    flags (NaN, infinite, negative): kept as they are, they would break a balanced sampler."""
    from avprep.lists.validate import first_bad_weight

    bad = first_bad_weight(weights)
    if bad is None:
        return
    row, kind = bad
    what = "not a finite number" if kind == "nonfinite_weight" else "negative"
    raise InputError(f"line {row + 1}: weight {float(weights[row])} of entry {row} "
                     f"({shown(released[row].video_id)}) is {what} ({kind}); the released "
                     "weights cannot be kept (recompute them: leave out --keep-released-weights)",
                     path)


def build_list(released: DataList, audio_dir: Optional[PathLike] = None,
               frame_dir: Optional[PathLike] = None,
               labels: Optional[LabelSet] = None, weights: bool = False,
               released_weights: Optional[np.ndarray] = None,
               keep_released_weights: bool = False,
               released_weights_path: Optional[PathLike] = None,
               source: Optional[PathLike] = None,
               media: "Optional[MediaSource]" = None) -> BuildResult:
    """Keep the released entries whose wav and ten frames exist under ``audio_dir``/``frame_dir``
    or, in place of the two folders, that ``media`` has (such as
    :class:`avprep.store.index.PackIndex`: the clips of a pack).

    The kept entries stay in the released order, with ``wav`` and ``video_path`` rewritten to the
    local media (into a pack: :data:`avprep.layout.PACK_SCHEME`, which the Dataset reads).
    With ``weights=True`` the result carries weights for the kept list: recomputed on
    it with the released formula (needs ``labels``), or, with ``keep_released_weights``, the rows of
    ``released_weights`` that belong to the kept entries. ``released_weights``, when given, must have
    exactly one row per released entry (else :class:`InputError`, naming
    ``released_weights_path``). ``source`` names the released list in errors (an unknown label
    in a kept entry is an :class:`InputError` naming its released entry index).
    """
    if released_weights is not None:
        check_weights_length(released_weights, len(released), released_weights_path)
    if weights and keep_released_weights and released_weights is not None:
        check_released_weights(released_weights, released, released_weights_path)
    if weights and keep_released_weights and released_weights is None:
        raise InputError("keeping the released weights needs the released weight file")
    if weights and not keep_released_weights and labels is None:
        raise InputError("recomputing weights needs the label CSV")

    if (media is None) == (audio_dir is None or frame_dir is None):
        raise InputError("give the audio and frame folders, or a pack folder")
    index = media if media is not None else MediaIndex(audio_dir, frame_dir,
                                                       ids=released.video_id)
    kept: List[int] = []
    missing: List[tuple] = []
    unsafe: List[tuple] = []
    for i, video_id in enumerate(progress(released.video_id, total=len(released),
                                          desc="build-list", unit="entry")):
        reason = unsafe_reason(video_id)
        if reason is not None:
            unsafe.append((i, video_id, reason))
        elif index.has_media(video_id):
            kept.append(i)
        else:
            missing.append((i, video_id))

    kept_idx = np.asarray(kept, dtype=np.int64)
    selected = released.select(kept_idx)
    wavs, video_paths = index.media_paths(selected.video_id)
    data = selected.replace(wav=wavs, video_path=video_paths)
    result = BuildResult(data=data, kept=kept_idx, released_count=len(released),
                         missing=missing, unsafe=unsafe)
    if missing and audio_dir is not None:
        result.download_named = download_named(audio_dir, {vid for _i, vid in missing})
    if weights:
        if keep_released_weights:
            result.weights = np.asarray(released_weights, dtype=np.float64)[kept_idx]
            result.weight_mode = "released"
        else:
            try:
                result.weights = np.asarray(compute_weights(data, labels), dtype=np.float64)
            except InputError as err:
                entry = int(kept_idx[err.entry]) if isinstance(err.entry, int) else err.entry
                raise InputError(err.message, source, entry) from None
            result.weight_mode = "recomputed"
    return result


def report_paths(report_dir: PathLike, name: str) -> Dict[str, Path]:
    """Where the report of the list named ``name`` goes: coverage CSV and PNG, missing ids, summary."""
    report_dir = Path(report_dir)
    return {
        "coverage_csv": report_dir / f"{name}_coverage.csv",
        "coverage_png": report_dir / f"{name}_coverage.png",
        "missing_ids": report_dir / f"{name}_missing_ids.txt",
        "missing_causes": report_dir / f"{name}_missing.csv",
        "summary": report_dir / f"{name}_build.json",
    }


def write_build(result: BuildResult, out: PathLike, weights_out: Optional[PathLike] = None,
                report_dir: Optional[PathLike] = None, released: Optional[DataList] = None,
                labels: Optional[LabelSet] = None,
                sources: Optional[Dict[str, str]] = None,
                account: "Optional[MissingAccount]" = None) -> Dict[str, Path]:
    """Write the kept list to ``out``, its weights to ``weights_out``, and a report to ``report_dir``.

    Each file is written atomically, and everything that can fail on the input (the coverage
    table) is computed before the first file is written. The report (named after ``out``'s stem)
    holds the per-class coverage of the kept list against ``released`` as CSV and PNG (needs
    ``released`` and ``labels``), the missing ids one per line, and a JSON summary. With
    ``account`` (:func:`avprep.lists.accounting.account_missing` of the missing ids), why each
    is missing: a column per cause in the coverage CSV, ``<name>_missing.csv`` (id, cause,
    reason) and ``accounting`` in the summary. Returns the paths written.
    """
    if weights_out is not None and result.weights is None:
        raise InputError("no weights were made for this list (build it with weights=True)")
    table = None
    if report_dir is not None and released is not None and labels is not None:
        from avprep.lists.coverage import coverage
        table = coverage(result.data, released, labels)
        if account is not None:
            from avprep.lists.accounting import add_cause_columns
            table = add_cause_columns(table, released, labels, account)
    accounting = None
    if account is not None:
        from avprep.lists.accounting import account_summary
        accounting = account_summary(account, released, labels)

    atomic.remove_stale_temps_of(out, *([weights_out] if weights_out is not None else []),
                                 *(report_paths(report_dir, Path(out).stem).values()
                                   if report_dir is not None else ()))
    written: Dict[str, Path] = {}
    write_list(out, result.data)
    written["list"] = Path(out)
    if weights_out is not None:
        write_weights(weights_out, result.weights)
        written["weights"] = Path(weights_out)
    if report_dir is not None:
        name = Path(out).stem
        paths = report_paths(report_dir, name)
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        if table is not None:
            from avprep.lists.coverage import write_coverage
            write_coverage(table, paths["coverage_csv"], paths["coverage_png"], title=name)
            written["coverage_csv"] = paths["coverage_csv"]
            written["coverage_png"] = paths["coverage_png"]
        atomic.write_text(paths["missing_ids"], lines_text(result.missing_ids))
        written["missing_ids"] = paths["missing_ids"]
        if account is not None:
            atomic.write_text(paths["missing_causes"], account.csv_text())
            written["missing_causes"] = paths["missing_causes"]
        elif paths["missing_causes"].exists():  # an earlier run's causes would not match
            paths["missing_causes"].unlink()
        summary = {"list": name, **result.summary(),
                   "outputs": {key: os.path.abspath(p) for key, p in written.items()},
                   "sources": dict(sources or {})}
        if table is not None:
            from avprep.lists.coverage import class_summary
            summary["classes"] = class_summary(table)
        if accounting is not None:
            summary["accounting"] = accounting
        atomic.write_text(paths["summary"], json.dumps(summary, indent=1) + "\n")
        written["summary"] = paths["summary"]
    return written
