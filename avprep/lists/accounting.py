"""Why each released id is missing locally: download log + extraction failure log, per class.

Every released id without local media gets one cause (:data:`CAUSES`), decided in this order:

- ``unsafe_id``: the id cannot name a file, so it is never kept;
- ``failed_extraction``: the extraction failure log has a record for it (a clip was there and
  could not be decoded or written);
- ``unavailable``: the download log's last record of it says ``unavailable`` (private, removed,
  404 ...: permanent);
- ``pending``: the last record says ``pending`` (rate limits, timeouts, 5xx: a re-run may fetch
  it);
- ``not_extracted``: the last record says ``downloaded`` but it has no media and no extraction
  failure (extraction has not run on it yet, or no extraction log was given);
- ``never_attempted``: the download log has no record of it (a split not downloaded, ``--limit``,
  a shard whose log was not given).

:func:`account_missing` does it for a list of missing ids; :func:`account_summary` gives the
counts per cause, the reasons of the unavailable ones and the counts per class (JSON-ready);
:func:`add_cause_columns` adds a column per cause to a per-class coverage table.
``build-list``, ``coverage``, ``prepare-report`` and ``prepare`` use them with
``--download-log`` (:func:`avprep.prepare.logs.read_download_logs`, shard logs merged) and the extraction log.
"""

from __future__ import annotations

import csv
import glob
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avprep import atomic
from avprep.errors import InputError
from avprep.lists.datalist import DataList
from avprep.lists.ids import unsafe_reason
from avprep.lists.labels import LabelSet
from avprep.safetext import shown

PathLike = Union[str, "os.PathLike[str]"]

UNSAFE_ID = "unsafe_id"
FAILED_EXTRACTION = "failed_extraction"
UNAVAILABLE = "unavailable"
PENDING = "pending"
NOT_EXTRACTED = "not_extracted"
NEVER_ATTEMPTED = "never_attempted"
#: the causes, in the order they are decided and reported
CAUSES = (UNAVAILABLE, PENDING, NEVER_ATTEMPTED, FAILED_EXTRACTION, NOT_EXTRACTED, UNSAFE_ID)

#: reasons kept per cause in a summary (a reason may quote its video: one per id); the rest
#: are counted under OTHER_REASONS
MAX_REASONS = 20
OTHER_REASONS = "(other reasons)"

#: how the summary text names each cause
CAUSE_WORDS = {UNAVAILABLE: "unavailable", PENDING: "pending", NEVER_ATTEMPTED: "never attempted",
               FAILED_EXTRACTION: "failed extraction",
               NOT_EXTRACTED: "downloaded, not extracted", UNSAFE_ID: "id cannot name a file"}


def expand_log_paths(patterns: Iterable[PathLike]) -> List[Path]:
    """The download logs that ``patterns`` name: paths, or globs (``videos.download-log*.jsonl``
    for shard logs), each file once in the order given. A path that does not exist or a glob
    that matches nothing is an :class:`InputError` (a mistyped log would make every id look
    never attempted)."""
    out: List[Path] = []
    for pattern in patterns:
        text = os.fspath(pattern)
        if glob.has_magic(text) and not Path(text).exists():
            found = sorted(glob.glob(text))
            if not found:
                raise InputError("no download log matches this pattern", text)
            paths = [Path(p) for p in found]
        else:
            paths = [Path(text)]
        for path in paths:
            if not path.is_file():
                raise InputError("download log not found", path)
            if path not in out:
                out.append(path)
    return out


def failures_by_id(failures: Iterable[Mapping[str, object]]) -> Dict[str, Mapping[str, object]]:
    """``id -> record`` of extraction failure records (:func:`avprep.media.log.read_failures`),
    the last one of an id winning; records without an id are left out."""
    out: Dict[str, Mapping[str, object]] = {}
    for record in failures:
        video_id = record.get("id")
        if isinstance(video_id, str) and video_id:
            out[video_id] = record
    return out


@dataclass
class MissingAccount:
    """The cause of every missing id: ``ids[i]`` is missing because of ``causes[i]`` (one of
    :data:`CAUSES`), ``reasons[i]`` saying more (the download log's or extraction's reason);
    ``download_logs`` and ``extract_log`` the logs it was decided from."""

    ids: List[str] = field(default_factory=list)
    causes: List[str] = field(default_factory=list)
    reasons: List[str] = field(default_factory=list)
    download_logs: List[str] = field(default_factory=list)
    extract_log: Optional[str] = None

    def counts(self) -> Dict[str, int]:
        """cause -> how many ids, every cause present (0 when none)."""
        out = {cause: 0 for cause in CAUSES}
        for cause in self.causes:
            out[cause] += 1
        return out

    def reasons_of(self, cause: str, top: int = MAX_REASONS) -> Dict[str, int]:
        """reason -> how many ids of ``cause`` have it, most frequent first; past the ``top``
        commonest, the rest are counted under :data:`OTHER_REASONS`."""
        tally: Dict[str, int] = {}
        for c, reason in zip(self.causes, self.reasons):
            if c == cause:
                tally[reason] = tally.get(reason, 0) + 1
        ranked = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
        out = dict(ranked[:top])
        if len(ranked) > top:
            out[OTHER_REASONS] = sum(n for _r, n in ranked[top:])
        return out

    def csv_text(self) -> str:
        """``video_id,cause,reason`` rows, one per missing id, in order."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("video_id", "cause", "reason"))
        writer.writerows(zip(self.ids, self.causes, self.reasons))
        return buf.getvalue()


def account_missing(missing: Sequence[str], download_state: Mapping[str, Mapping[str, str]],
                    failures: Optional[Mapping[str, Mapping[str, object]]] = None,
                    download_logs: Sequence[PathLike] = (),
                    extract_log: Optional[PathLike] = None) -> MissingAccount:
    """The cause of each id of ``missing`` (released ids without local media), from the download
    state (:func:`avprep.prepare.logs.read_download_logs` of ``download_logs``) and the extraction failures by id
    (:func:`failures_by_id` of ``extract_log``); see the module docstring for the order."""
    failures = failures or {}
    account = MissingAccount(download_logs=[os.path.abspath(p) for p in download_logs],
                             extract_log=(os.path.abspath(extract_log)
                                          if extract_log is not None else None))
    for video_id in missing:
        unsafe = unsafe_reason(video_id)
        record = download_state.get(video_id)
        status = record.get("status") if record else None
        if unsafe is not None:
            cause, reason = UNSAFE_ID, unsafe
        elif video_id in failures:
            failure = failures[video_id]
            cause = FAILED_EXTRACTION
            detail = failure.get("reason") or failure.get("error")
            reason = f"{failure.get('stage', 'unknown')}: {detail}"
        elif status == UNAVAILABLE:
            cause, reason = UNAVAILABLE, str(record.get("reason", ""))
        elif status == PENDING:
            cause, reason = PENDING, str(record.get("reason", ""))
        elif status is not None:
            cause, reason = NOT_EXTRACTED, "downloaded; no media and no extraction failure"
        else:
            cause, reason = NEVER_ATTEMPTED, "no download record"
        account.ids.append(video_id)
        account.causes.append(cause)
        account.reasons.append(reason)
    return account


def _class_counts(released: DataList, labels: LabelSet, account: MissingAccount
                  ) -> Dict[str, np.ndarray]:
    """cause -> per-class count of the missing released entries with that cause."""
    from avprep.lists.coverage import class_entry_counts

    at = pc.index_in(released.arrow_column("video_id"), value_set=pa.array(account.ids,
                                                                             pa.string()))
    at = at.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    code = np.array([CAUSES.index(c) for c in account.causes] + [-1], dtype=np.int64)
    entry_cause = code[at]  # at == -1 (not missing) picks the trailing -1
    rows = {cause: np.flatnonzero(entry_cause == k) for k, cause in enumerate(CAUSES)}
    return {cause: class_entry_counts(released.select(idx), labels)
            for cause, idx in rows.items()}


def add_cause_columns(table, released: DataList, labels: LabelSet, account: MissingAccount):
    """The per-class coverage table (:func:`avprep.lists.coverage.coverage`) with one column per
    cause, each counting the missing released entries of the class."""
    counts = _class_counts(released, labels, account)
    table = table.copy()
    for cause in CAUSES:
        table[cause] = counts[cause]
    return table


def account_summary(account: MissingAccount, released: Optional[DataList] = None,
                    labels: Optional[LabelSet] = None) -> Dict[str, object]:
    """JSON-ready: ``missing`` (cause -> count), ``unavailable_reasons`` and ``pending_reasons``
    (reason -> count), the logs read, and with ``released`` and ``labels`` ``by_class``: one
    ``{index, mid, display_name, released, missing, <cause>: n}`` per class with a missing
    entry, most missing first."""
    out: Dict[str, object] = {
        "missing": account.counts(),
        "unavailable_reasons": account.reasons_of(UNAVAILABLE),
        "pending_reasons": account.reasons_of(PENDING),
        "download_logs": list(account.download_logs),
        "extract_log": account.extract_log,
    }
    if released is not None and labels is not None:
        from avprep.lists.coverage import class_entry_counts

        counts = _class_counts(released, labels, account)
        total = sum(counts.values())
        rel = class_entry_counts(released, labels)
        order = sorted(np.flatnonzero(total), key=lambda k: (-int(total[k]), int(k)))
        out["by_class"] = [
            {"index": int(k), "mid": labels.mids[k], "display_name": labels.names[k],
             "released": int(rel[k]), "missing": int(total[k]),
             **{cause: int(counts[cause][k]) for cause in CAUSES}}
            for k in order]
    return out


def format_account(info: Mapping[str, object], indent: str = "    ",
                   classes: int = 3) -> List[str]:
    """Lines of text for an :func:`account_summary`: the counts per cause, the commonest
    unavailable and pending reasons, and the ``classes`` classes most missing."""
    counts = info.get("missing", {})
    parts = [f"{counts.get(c, 0)} {CAUSE_WORDS[c]}" for c in CAUSES
             if counts.get(c, 0) or c in (UNAVAILABLE, PENDING, NEVER_ATTEMPTED,
                                          FAILED_EXTRACTION)]
    lines = [f"{indent}missing: " + ", ".join(parts)]
    for key, word in (("unavailable_reasons", "unavailable"), ("pending_reasons", "pending")):
        reasons = list(info.get(key, {}).items())[:3]
        if reasons:
            lines.append(f"{indent}  {word}: " + "; ".join(f"{n} {shown(r, 200)}"
                                                          for r, n in reasons))
    by_class = list(info.get("by_class", []))[:classes]
    if by_class:
        texts = []
        for item in by_class:
            causes = ", ".join(f"{item[c]} {CAUSE_WORDS[c]}" for c in CAUSES if item.get(c))
            texts.append(f"{shown(item['display_name'])} {item['missing']} of {item['released']} "
                         f"({causes})")
        lines.append(f"{indent}  classes most missing: " + "; ".join(texts))
    return lines


def write_missing_csv(path: PathLike, account: MissingAccount) -> Path:
    """Write ``video_id,cause,reason`` for every missing id to ``path`` atomically."""
    atomic.write_text(path, account.csv_text())
    return Path(path)
