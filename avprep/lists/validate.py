"""Check a data list (and its labels, weights, released counterpart and media) for problems.

Each kind of problem has a plain name and is reported with a count and example ids:

==========================  ================================================================
``duplicate_id``            an id already used by an earlier entry (count: the repeats)
``unsafe_id``               an id that could escape a folder as a file name (``/``, ``..``, NUL)
``malformed_id``            a safe id that is neither an AudioSet nor a VGGSound list id
``empty_labels``            an entry with an empty label string
``malformed_labels``        an empty label between commas (``a,,b``, a trailing comma)
``unknown_label``           a label not in the label CSV (the original scripts crash on it)
``duplicate_label``         the same label twice in one entry (it then weighs twice)
``weights_length``          the weight file has a different number of lines than the list
``nonfinite_weight``        a weight that is NaN or infinite
``negative_weight``         a weight below zero
``not_in_released``         an id the released list does not have
``labels_differ``           an id whose labels differ from the released entry's
``missing_wav``             the entry's wav file does not exist
``missing_frames``          one or more of the entry's frames (10, or as its folder records)
                            does not exist
``broken_wav``              the wav exists but is not complete (empty, a folder, a dangling
                            link, not 16 kHz mono, no samples, cut short)
``broken_frames``           a frame exists but is not complete (empty, not a whole JPEG)
==========================  ================================================================

Completeness is :mod:`avprep.complete`'s check, the one extract, build-list and pack use; a wav
path that does not end in ``.wav`` (a released list's ``.flac``) is only checked to be a
non-empty regular file.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avprep.complete import audio_problem, frame_count, jpeg_problem
from avprep.layout import frame_paths
from avprep.lists.coverage import class_entry_counts, unique_counts
from avprep.lists.datalist import DataList
from avprep.lists.ids import YTID, unsafe_reason
from avprep.lists.labels import LabelSet, label_codes, split_labels
from avprep.progress import progress
from avprep.safetext import shown

MAX_EXAMPLES = 10
SHORT = 60  #: characters of an example id or label the human summary shows
KINDS = ("duplicate_id", "unsafe_id", "malformed_id", "empty_labels", "malformed_labels",
         "unknown_label", "duplicate_label", "weights_length", "nonfinite_weight",
         "negative_weight", "not_in_released", "labels_differ", "missing_wav", "missing_frames",
         "broken_wav", "broken_frames")


@dataclass
class Report:
    """What :func:`validate` found: ``problems`` by kind, and a ``summary`` of the list."""

    problems: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    summary: Dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def add(self, kind: str, count: int, examples: Sequence[Any], **detail: Any) -> None:
        """Record ``count`` problems of ``kind`` (nothing when ``count`` is 0)."""
        if count <= 0:
            return
        entry: Dict[str, Any] = {"count": int(count), "examples": list(examples)[:MAX_EXAMPLES]}
        entry.update(detail)
        self.problems[kind] = entry

    def to_json(self) -> Dict[str, Any]:
        """The report as ``{"problems": {kind: {"count", "examples", ...}}, "summary": {...}}``."""
        ordered = {k: self.problems[k] for k in KINDS if k in self.problems}
        ordered.update({k: v for k, v in self.problems.items() if k not in ordered})
        return {"problems": ordered, "summary": self.summary}

    def text(self, name: str = "list") -> str:
        """A short human summary: one line for the list, one per kind of problem."""
        s = self.summary
        head = f"{name}: {s.get('entries', 0)} entries, {s.get('classes', 0)} classes"
        if "classes_present" in s:
            head += f" ({s['classes_present']} present)"
        if "released" in s:
            r = s["released"]
            head += (f"; {r['local_in_released']} of {r['entries']} released entries "
                     f"({100.0 * r['fraction']:.1f}%)")
        if "files" in s:
            head += f"; media complete for {s['files']['complete']} of {s['files']['checked']}"
        if self.ok:
            return head + ": OK"
        lines = [head + f": {sum(p['count'] for p in self.problems.values())} problems"]
        for kind, info in self.to_json()["problems"].items():
            examples = ", ".join(shown(e, SHORT) for e in info["examples"][:3])
            more = f" (e.g. {examples})" if examples else ""
            note = f" [{shown(info['detail'], 200)}]" if info.get("detail") else ""
            if info.get("labels"):
                shown_labels = ", ".join(f"'{shown(m, SHORT)}'" for m in info["labels"][:5])
                note += f" [labels: {shown_labels}]"
            lines.append(f"  {kind}: {info['count']}{more}{note}")
        return "\n".join(lines)


def _ids_at(data: DataList, mask: np.ndarray) -> List[str]:
    idx = np.flatnonzero(mask)[:MAX_EXAMPLES]
    return data.arrow_column("video_id").take(pa.array(idx, pa.int64())).to_pylist()


def check_ids(data: DataList, report: Report) -> None:
    """Duplicate, unsafe and malformed ids."""
    ids = data.arrow_column("video_id")
    n = len(data)
    if n == 0:
        return
    distinct = int(pc.count_distinct(ids).as_py())
    if distinct < n:
        codes = pc.index_in(ids, value_set=pc.unique(ids)).to_numpy(zero_copy_only=False)
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        repeat = np.zeros(n, dtype=bool)
        repeat[order[1:][sorted_codes[1:] == sorted_codes[:-1]]] = True
        report.add("duplicate_id", int(repeat.sum()), list(dict.fromkeys(_ids_at(data, repeat))))

    well_formed = pc.match_substring_regex(ids, rf"^{YTID}(_\d{{6}})?$")
    odd = np.flatnonzero(~well_formed.to_numpy(zero_copy_only=False))
    unsafe, malformed = [], []
    for i in odd.tolist():
        vid = ids[i].as_py()
        (unsafe if unsafe_reason(vid) else malformed).append((i, vid))
    report.add("unsafe_id", len(unsafe), [v for _, v in unsafe],
               detail=unsafe_reason(unsafe[0][1]) if unsafe else None)
    report.add("malformed_id", len(malformed), [v for _, v in malformed])
    report.summary["distinct_ids"] = distinct


def check_labels(data: DataList, labels: LabelSet, report: Report) -> None:
    """Empty, malformed, unknown and repeated labels."""
    n = len(data)
    if n == 0:
        return
    raw = data.arrow_column("labels")
    empty = pc.equal(raw, "").to_numpy(zero_copy_only=False)
    report.add("empty_labels", int(empty.sum()), _ids_at(data, empty))

    entry, codes, pieces = label_codes(raw, labels)
    lengths = np.bincount(entry, minlength=n)
    blank = pc.equal(pieces, "").to_numpy(zero_copy_only=False) & ~empty[entry]
    bad_rows = np.zeros(n, dtype=bool)
    bad_rows[entry[blank]] = True
    report.add("malformed_labels", int(bad_rows.sum()), _ids_at(data, bad_rows))

    unknown = (codes < 0) & ~blank & ~empty[entry]
    rows = np.zeros(n, dtype=bool)
    rows[entry[unknown]] = True
    names = Counter(pieces.take(pa.array(np.flatnonzero(unknown), pa.int64())).to_pylist())
    report.add("unknown_label", int(rows.sum()), _ids_at(data, rows),
               labels=[m for m, _ in names.most_common(MAX_EXAMPLES)])

    known = codes >= 0
    stride = max(1, len(labels))
    uniq, counts = unique_counts(entry[known] * stride + codes[known])  # (entry, class) pairs
    dup_rows = np.zeros(n, dtype=bool)
    dup_rows[uniq[counts > 1] // stride] = True
    report.add("duplicate_label", int(dup_rows.sum()), _ids_at(data, dup_rows))

    per_class = np.bincount(uniq % stride, minlength=len(labels))  # = class_entry_counts()
    report.summary["classes_present"] = int((per_class > 0).sum())
    report.summary["labels_per_entry"] = round(float(lengths[~empty].mean()), 4) \
        if (~empty).any() else 0.0


def bad_weights(weights: np.ndarray) -> Dict[str, np.ndarray]:
    """Masks of the weights that no sampler can use: ``nonfinite_weight`` (NaN, infinite) and
    ``negative_weight`` (below zero)."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    finite = np.isfinite(w)
    return {"nonfinite_weight": ~finite, "negative_weight": finite & (w < 0)}


def first_bad_weight(weights: np.ndarray) -> Optional[tuple]:
    """``(row, kind)`` of the first weight :func:`bad_weights` flags, or None."""
    masks = bad_weights(weights)
    rows = [(int(np.flatnonzero(mask)[0]), kind) for kind, mask in masks.items() if mask.any()]
    return min(rows) if rows else None


def check_weights(data: DataList, weights: np.ndarray, report: Report) -> None:
    """Length, finiteness and sign of a weight vector."""
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    n = len(data)
    if len(weights) != n:
        report.add("weights_length", abs(len(weights) - n), [],
                   detail=f"list has {n} entries, weight file has {len(weights)} lines")
    m = min(n, len(weights))
    w = weights[:m]
    masks = bad_weights(w)
    nonfinite, negative = masks["nonfinite_weight"], masks["negative_weight"]
    report.add("nonfinite_weight", int(nonfinite.sum()), _ids_at(data, nonfinite))
    report.add("negative_weight", int(negative.sum()), _ids_at(data, negative))
    finite = w[np.isfinite(w)]
    report.summary["weights"] = {
        "lines": int(len(weights)),
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "zero": int((w == 0).sum())}


def check_against(data: DataList, released: DataList, labels: Optional[LabelSet],
                  report: Report) -> None:
    """Ids missing from a released list, and ids whose labels differ from it."""
    ids = data.arrow_column("video_id")
    rel_ids = released.arrow_column("video_id")
    where = pc.index_in(ids, value_set=rel_ids)
    absent = where.is_null().to_numpy(zero_copy_only=False)
    report.add("not_in_released", int(absent.sum()), _ids_at(data, absent))

    present = np.flatnonzero(~absent)
    local_labels = data.arrow_column("labels").take(pa.array(present, pa.int64()))
    rel_labels = released.arrow_column("labels").take(where.drop_null())
    differs = np.flatnonzero(~pc.equal(local_labels, rel_labels).to_numpy(zero_copy_only=False))
    mismatch = []
    loc_list, rel_list = local_labels.take(differs).to_pylist(), rel_labels.take(differs) \
        .to_pylist()
    for k, a, b in zip(differs.tolist(), loc_list, rel_list):
        if set(split_labels(a)) != set(split_labels(b)):
            mismatch.append(int(present[k]))
    mask = np.zeros(len(data), dtype=bool)
    mask[mismatch] = True
    report.add("labels_differ", len(mismatch), _ids_at(data, mask))

    local_in_released = int(pc.count_distinct(ids.filter(pc.invert(where.is_null()))).as_py())
    n_rel = int(pc.count_distinct(rel_ids).as_py())
    report.summary["released"] = {
        "entries": len(released), "local_in_released": local_in_released,
        "missing_locally": n_rel - local_in_released,
        "fraction": (local_in_released / n_rel) if n_rel else 0.0}
    if labels is not None:
        rel_counts = class_entry_counts(released, labels)
        report.summary["released"]["classes_present"] = int((rel_counts > 0).sum())


def _listing(folder: Path, cache: Dict[Path, Optional[frozenset]]) -> Optional[frozenset]:
    if folder not in cache:
        try:
            cache[folder] = frozenset(os.listdir(folder))
        except OSError:
            cache[folder] = None
    return cache[folder]


def check_files(data: DataList, report: Report, root: Optional[Path] = None) -> None:
    """Entries whose wav or any of the frames :func:`avprep.layout.frame_paths` names is missing
    or not complete (:mod:`avprep.complete`).

    Folders are listed once each instead of one lookup per file; only files that exist are
    opened, for their first and last bytes. Relative paths are taken from ``root`` (default: the
    current folder), as the original loader takes them from its own.
    """
    base = Path(root) if root is not None else Path.cwd()
    listings: Dict[Path, Optional[frozenset]] = {}
    counts: Dict[Path, int] = {}
    missing_wav: List[int] = []
    missing_frames: List[int] = []
    broken_wav: List[int] = []
    broken_frames: List[int] = []
    frames_detail: Dict[int, int] = defaultdict(int)
    reasons: Dict[str, Counter] = {"wav": Counter(), "frames": Counter()}
    complete = 0
    n = len(data)
    entries: Iterable = progress(data, total=n, desc="checking files", unit="clip")
    for i, e in enumerate(entries):
        wav = base / e.wav
        names = _listing(wav.parent, listings)
        wav_ok = False
        if names is None or wav.name not in names:
            missing_wav.append(i)
        else:
            problem = audio_problem(wav)
            if problem is None:
                wav_ok = True
            else:
                broken_wav.append(i)
                reasons["wav"][problem] += 1
        frames_ok = True
        if unsafe_reason(e.video_id) is None:
            absent = broken = False
            folder = base / e.video_path
            if folder not in counts:  # each frame folder's recorded frame count, read once
                counts[folder] = frame_count(folder)
            for k, frame in enumerate(frame_paths(folder, e.video_id, counts[folder])):
                names = _listing(frame.parent, listings)
                if names is None or frame.name not in names:
                    absent = True
                    frames_detail[k] += 1
                    continue
                problem = jpeg_problem(frame)
                if problem is not None:
                    broken = True
                    reasons["frames"][f"frame_{k}: {problem}"] += 1
            frames_ok = not (absent or broken)
            if absent:
                missing_frames.append(i)
            if broken:
                broken_frames.append(i)
        else:
            frames_ok = False
        complete += wav_ok and frames_ok
    for kind, rows, detail in (("missing_wav", missing_wav, {}),
                               ("missing_frames", missing_frames,
                                {"frames": {f"frame_{k}": c
                                            for k, c in sorted(frames_detail.items())}}),
                               ("broken_wav", broken_wav, {"reasons": dict(reasons["wav"])}),
                               ("broken_frames", broken_frames,
                                {"reasons": dict(reasons["frames"])})):
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        if kind.startswith("broken") and rows:
            detail["detail"] = next(iter(detail["reasons"]))
        report.add(kind, len(rows), _ids_at(data, mask), **detail)
    report.summary["files"] = {"checked": n, "complete": int(complete)}


def validate(data: DataList, labels: LabelSet, weights: Optional[np.ndarray] = None,
             released: Optional[DataList] = None, files: bool = False,
             root: Optional[Path] = None) -> Report:
    """Run every check that the given inputs allow and return the :class:`Report`."""
    report = Report(summary={"entries": len(data), "classes": len(labels)})
    check_ids(data, report)
    check_labels(data, labels, report)
    if weights is not None:
        check_weights(data, weights, report)
    if released is not None:
        check_against(data, released, labels, report)
    if files:
        check_files(data, report, root)
    report.summary["problem_count"] = sum(p["count"] for p in report.problems.values())
    return report
