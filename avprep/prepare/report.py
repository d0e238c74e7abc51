"""The summary of a preparation run: what extraction failed, what each list kept, where it all is.

:func:`summarize` reads what the steps left in a report folder (the ``<name>_build.json`` file that
:func:`avprep.lists.build.write_build` writes for each list) and the extraction log
(:func:`avprep.media.log.read_failures`); :func:`format_summary` turns it into a few lines for
people and :func:`write_summary` writes ``summary.json`` and ``summary.txt``. ``avprep
prepare-report`` and :func:`avprep.prepare.prepare_dataset` end with these.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from avprep import atomic
from avprep.errors import InputError
from avprep.layout import N_FRAMES
from avprep.lists.build import BuildResult, MediaIndex
from avprep.media.log import read_failures
from avprep.safetext import shown

PathLike = Union[str, "os.PathLike[str]"]

SUMMARY_JSON = "summary.json"
SUMMARY_TXT = "summary.txt"


def summarize(report_dir: PathLike, log: Optional[PathLike] = None,
              lists_dir: Optional[PathLike] = None, audio_dir: Optional[PathLike] = None,
              frame_dir: Optional[PathLike] = None,
              download_logs: Sequence[PathLike] = (),
              pack_dir: Optional[PathLike] = None) -> Dict[str, object]:
    """Gather what a preparation run left: each list's build summary, the failures, the media
    (under ``audio_dir`` and ``frame_dir``, or in the pack ``pack_dir``).

    ``report_dir`` holds the ``<name>_build.json`` files that :func:`write_build` writes; ``log``
    is the extraction log. With ``download_logs`` (paths or globs of ``avprep download`` logs)
    each list's missing ids (its ``<name>_missing_ids.txt``) are accounted for
    (:func:`account_list`) in its ``accounting`` entry; without them a list keeps the
    ``accounting`` that build-list wrote, if any. Returns a JSON-ready dict.
    """
    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise InputError("report folder not found", report_dir)
    lists = []
    for path in sorted(report_dir.glob("*_build.json")):
        try:
            lists.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as err:  # ValueError: not JSON, or not UTF-8
            raise InputError(f"unreadable build summary: {err}", path) from None
    if download_logs:
        from avprep.lists.accounting import expand_log_paths
        from avprep.prepare.logs import read_download_logs

        paths = expand_log_paths(download_logs)
        state = read_download_logs(paths)
        failures = read_failures(log, latest=True) if log is not None else []
        for item in lists:
            item["accounting"] = account_list(report_dir, item, state, failures, paths, log)
    summary: Dict[str, object] = {"lists": lists}
    if log is not None:
        failures = read_failures(log, latest=True)
        by_stage: Dict[str, int] = {}
        for record in failures:
            stage = str(record.get("stage", "unknown"))
            by_stage[stage] = by_stage.get(stage, 0) + 1
        summary["extraction"] = {"log": os.path.abspath(log), "failed": len(failures),
                                 "failed_by_stage": by_stage,
                                 "failures": [{k: record.get(k) for k in
                                               ("id", "path", "stage", "reason")}
                                              for record in failures]}
    if audio_dir is not None and frame_dir is not None:
        summary["media"] = {"audio_dir": os.path.abspath(audio_dir),
                            "frame_dir": os.path.abspath(frame_dir),
                            "complete_clips": len(MediaIndex(audio_dir, frame_dir).ids())}
    if pack_dir is not None:
        from avprep.store.index import PackIndex

        summary["media"] = {"pack": os.path.abspath(pack_dir),
                            "complete_clips": len(PackIndex(pack_dir).ids())}
    if lists_dir is not None:
        summary["lists_dir"] = os.path.abspath(lists_dir)
    summary["report_dir"] = os.path.abspath(report_dir)
    return summary


def account_list(report_dir: Path, item: Dict[str, object],
                 state: Dict[str, Dict[str, str]], failures: List[Dict[str, object]],
                 download_logs: Sequence[PathLike] = (),
                 extract_log: Optional[PathLike] = None) -> Dict[str, object]:
    """The :func:`~avprep.lists.accounting.account_summary` of one list's build summary
    ``item``: its missing ids from ``<name>_missing_ids.txt``, per class with the released list
    and label CSV its ``sources`` name (when both are readable)."""
    from avprep.lists import read_labels, read_list
    from avprep.lists.accounting import account_missing, account_summary, failures_by_id
    from avprep.safetext import unescape_line

    name = str(item.get("list"))
    path = Path(item.get("outputs", {}).get("missing_ids") or report_dir
                / f"{name}_missing_ids.txt")
    try:
        missing = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the missing ids of list {shown(name)}: {err}",
                         path) from None
    missing = [unescape_line(m) for m in missing if m]
    account = account_missing(missing, state, failures_by_id(failures), download_logs,
                              extract_log)
    sources = item.get("sources", {})
    released = labels = None
    if sources.get("released") and sources.get("labels"):
        released, labels = read_list(sources["released"]), read_labels(sources["labels"])
    return account_summary(account, released, labels)


def format_summary(summary: Dict[str, object], title: str = "avprep preparation") -> str:
    """The summary as a few lines of text for people."""
    lines = [title]
    fetched = summary.get("download")
    if fetched:
        text = (f"  download ({', '.join(fetched['splits'])}): {fetched['downloaded']} downloaded "
                f"now, {fetched['already_there']} there before, {fetched['unavailable']} "
                f"unavailable, {fetched['pending']} pending")
        if fetched.get("not_attempted"):
            text += f", {fetched['not_attempted']} not attempted"
        if fetched.get("skipped_unavailable"):
            text += f", {fetched['skipped_unavailable']} unavailable before (not retried)"
        lines.append(text + f" of {fetched['ids']} ids; log: {fetched['log']}")
        if fetched.get("exit_code"):
            lines.append("    some clips are still to fetch: run the same command again later")
    media = summary.get("media")
    if media:
        where = (f"the pack {media['pack']}" if "pack" in media
                 else f"{media['audio_dir']} and {media['frame_dir']}")
        lines.append(f"  media: {media['complete_clips']} clips with a wav and "
                     f"{N_FRAMES} frames in {where}")
    extraction = summary.get("extraction")
    if extraction:
        stages = ", ".join(f"{k} {v}" for k, v in sorted(extraction["failed_by_stage"].items()))
        lines.append(f"  extraction failures: {extraction['failed']}"
                     + (f" ({stages})" if stages else "") + f"; log: {extraction['log']}")
        for record in extraction["failures"][:5]:
            lines.append(f"    {shown(record.get('id'))}: {shown(record.get('stage'))}: "
                         f"{shown(record.get('reason'), 300)}")
    for item in summary.get("lists", []):
        text = (f"  {item['list']}: {item['kept']} of {item['released']} released entries "
                f"({100 * item['kept_fraction']:.1f}%), {item['missing']} missing")
        if item.get("weights"):
            text += f", weights {item['weights']}"
        lines.append(text)
        if item.get("accounting"):
            from avprep.lists.accounting import format_account
            lines.extend(format_account(item["accounting"]))
        if item.get("classes"):
            from avprep.lists.coverage import format_classes
            lines.append(f"    {format_classes(item['classes'])}")
        for key in ("list", "weights", "missing_causes"):
            path = item.get("outputs", {}).get(key)
            if path:
                lines.append(f"    {key}: {path}")
    if not summary.get("lists"):
        lines.append("  no list was built (no released split found?)")
    lines.append(f"  report: {summary['report_dir']}")
    return "\n".join(lines) + "\n"


def write_summary(report_dir: PathLike, summary: Dict[str, object],
                  title: str = "avprep preparation") -> str:
    """Write ``summary.json`` and ``summary.txt`` into ``report_dir`` atomically; return the text."""
    text = format_summary(summary, title)
    atomic.remove_stale_temps_of(Path(report_dir) / SUMMARY_JSON, Path(report_dir) / SUMMARY_TXT)
    atomic.write_text(Path(report_dir) / SUMMARY_JSON, json.dumps(summary, indent=1) + "\n")
    atomic.write_text(Path(report_dir) / SUMMARY_TXT, text)
    return text


def format_build(name: str, result: BuildResult) -> str:
    """The line ``build-list`` prints for the list ``name``: kept of released, missing, weights."""
    s = result.summary()
    line = (f"{name}: kept {s['kept']} of {s['released']} released entries "
            f"({100 * s['kept_fraction']:.1f}%), {s['missing']} missing")
    if result.weight_mode:
        line += f", weights {result.weight_mode}"
    return line


def unusable_build_notes(result: BuildResult, audio_dir: Optional[PathLike],
                         frame_dir: Optional[PathLike],
                         pack: Optional[PathLike] = None) -> List[str]:
    """What is wrong with a written list (empty when nothing): released ids that cannot name a
    file (left out), or no released entry with local media under ``audio_dir``/``frame_dir``
    (in ``pack``)."""
    notes = []
    if result.unsafe:
        first = result.unsafe[0]
        notes.append(f"{len(result.unsafe)} released entries have ids that cannot name a file "
                     f"and were left out (first: entry {first[0]} '{shown(first[1])}': {first[2]})")
    if len(result.kept) == 0 and result.released_count > 0:
        where = (f"in the pack {pack}" if pack is not None
                 else f"under {audio_dir} and {frame_dir}")
        notes.append(f"none of the {result.released_count} released entries has local media "
                     f"{where}")
    return notes
