"""Prepare a dataset in one call: released files + downloaded videos -> media, local lists, report.

:func:`prepare_dataset` (``avprep prepare audioset|vggsound``, ``make prepare-audioset``) runs the
steps in order, taking every dataset fact (splits, label CSV, training split, its released
weights, the id scheme) from the dataset's manifest:

1. the released files: the folder given, else fetched into the cache (:func:`released_files_dir`);
2. the inputs, checked before any work: which released splits are present, the label CSV, every
   list and the training split's weights (one row per released entry);
3. the videos: with ``download`` (``--download``) the clips of the chosen splits
   (``download_splits``, default all present) are fetched into the videos folder (default
   ``OUT/videos``; :func:`avprep.download.download`, AudioSet's segment CSVs fetched into the
   cache when not given), resuming what an earlier run left; without it they must be there;
4. extraction into ``OUT/audio`` and ``OUT/frames`` (parallel; a re-run extracts only what is
   missing), its failures logged in ``OUT/report/extract_log.jsonl``;
5. one local list per split in ``OUT/lists`` (weights for the training split: recomputed, or the
   released rows with ``keep_released_weights``) with its coverage report in ``OUT/report``;
   with a download log (the run's, and any ``download_logs``) every missing released id is
   accounted for (:mod:`avprep.lists.accounting`): unavailable, pending, never attempted,
   failed extraction;
6. the run's summary, ``OUT/report/summary.json`` and ``summary.txt``.

Clips that fail are expected and reported, not an error; unusable input raises
:class:`~avprep.errors.InputError` before anything is extracted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from avprep.errors import InputError
from avprep.lists import DataList, LabelSet, read_labels, read_list, read_weights
from avprep.lists.build import (BuildResult, MediaSource, build_list, check_weights_length,
                               write_build)
from avprep.manifests import DatasetFacts, dataset_facts
from avprep.constants import DEFAULT_CLIP_TIMEOUT
from avprep.outputs import check_outputs
from avprep.prepare.report import format_build, summarize, unusable_build_notes, write_summary
from avprep.safetext import shown

if TYPE_CHECKING:
    from avprep.download.run import DownloadSummary
    from avprep.lists.accounting import MissingAccount
    from avprep.media.runner import Summary  # imported when preparing: it loads the decoders
    from avprep.store.from_videos import VideoPackResult

PathLike = Union[str, "os.PathLike[str]"]
Say = Callable[[str], None]

#: the extraction log's name in ``OUT/report``
EXTRACT_LOG = "extract_log.jsonl"
#: the ids ``download`` fetches (the chosen splits' ids, each once), in ``OUT/report``
DOWNLOAD_IDS = "download_ids.txt"
#: the fetch group of AudioSet's segment CSVs (where each clip lies in its video)
SEGMENTS_GROUP = "audioset-segments"


def released_files_dir(facts: DatasetFacts, cache: Optional[PathLike] = None) -> Path:
    """Where the released files of a dataset are fetched when no folder is given:
    ``<cache>/<dataset>-lists``, the cache being ``cache`` or the ``released/`` part of avprep's
    cache folder (:func:`avprep.cache_dir.cache_path`)."""
    if cache is None:
        from avprep.cache_dir import cache_path

        cache = cache_path("released")
    return Path(cache) / facts.fetch_group


@dataclass
class PrepareResult:
    """What :func:`prepare_dataset` did: the released folder used, the download run's summary
    (None without ``download``), the splits built (name ->
    :class:`~avprep.lists.build.BuildResult`) and why their missing ids are missing (name ->
    :class:`~avprep.lists.accounting.MissingAccount`, with a download log), extraction's
    counts, and the run's summary (the dict of ``summary.json`` and the text of
    ``summary.txt``)."""

    dataset: str
    out: Path
    released_dir: Path
    extraction: "Summary"
    builds: Dict[str, BuildResult] = field(default_factory=dict)
    summary: Dict[str, object] = field(default_factory=dict)
    text: str = ""
    download: "Optional[DownloadSummary]" = None
    accounts: "Dict[str, MissingAccount]" = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0; 1 when the download left ids that a re-run could fetch (pending, not attempted)."""
        return self.download.exit_code if self.download is not None else 0

    @property
    def lists(self) -> Dict[str, Path]:
        """split -> the local list written."""
        return {name: self.out / "lists" / f"{name}.json" for name in self.builds}


@dataclass
class _Split:
    name: str
    path: Path
    data: DataList
    weights_path: Optional[Path] = None
    weights: Optional[np.ndarray] = None
    train: bool = False


def _quiet(_text: str) -> None:
    return None


def _fetch_released(facts: DatasetFacts, dest: Path) -> None:
    from avprep.fetch import fetch
    from avprep.manifests import resolve

    failed = [r for r in fetch(resolve([facts.fetch_group]), dest) if not r.ok]
    if failed:
        raise InputError(f"could not fetch the released {facts.dataset} files: "
                         + "; ".join(str(r.error) for r in failed), dest)


def _check_inputs(facts: DatasetFacts, released: Path,
                  keep_released_weights: bool) -> Tuple[Path, LabelSet, List[_Split]]:
    """The label set and every present split, read and checked before any work."""
    names = [s for s in facts.splits if (released / f"{s}.json").is_file()]
    if not names:
        expected = " ".join(f"{s}.json" for s in facts.splits)
        raise InputError(f"no released {facts.dataset} list in {released} "
                         f"(expected one of: {expected})")
    label_path = released / facts.label_csv
    if not label_path.is_file():
        raise InputError("label CSV not found", label_path)
    labels = read_labels(label_path)
    splits: List[_Split] = []
    for name in names:
        split = _Split(name, released / f"{name}.json", read_list(released / f"{name}.json"),
                       train=name == facts.train_split)
        if split.train and facts.train_weights is not None:
            path = released / facts.train_weights
            if path.is_file():
                split.weights_path, split.weights = path, read_weights(path)
                check_weights_length(split.weights, len(split.data), path)
        if split.train and keep_released_weights and split.weights is None:
            raise InputError("keeping the released weights needs the released weight file "
                             f"{facts.train_weights or name + '_weight.csv'}", released)
        splits.append(split)
    return label_path, labels, splits


def _build(split: _Split, labels: LabelSet, label_path: Path, out: Path,
           keep_released_weights: bool, accounting: Optional[Tuple[Any, ...]] = None,
           media: Optional[MediaSource] = None
           ) -> Tuple[BuildResult, "Optional[MissingAccount]"]:
    report = out / "report"
    audio, frames = (out / "audio", out / "frames") if media is None else (None, None)
    result = build_list(split.data, audio, frames, labels=labels, weights=split.train,
                        released_weights=split.weights,
                        keep_released_weights=split.train and keep_released_weights,
                        released_weights_path=split.weights_path, source=split.path,
                        media=media)
    sources = {"released": str(split.path.resolve()), "labels": str(label_path.resolve())}
    if split.weights_path is not None:
        sources["released_weights"] = str(split.weights_path.resolve())
    weights_out = out / "lists" / f"{split.name}_weight.csv" if split.train else None
    account = None
    if accounting is not None:
        from avprep.lists.accounting import account_missing
        account = account_missing(result.missing_ids, *accounting)
    write_build(result, out / "lists" / f"{split.name}.json", weights_out=weights_out,
                report_dir=report, released=split.data, labels=labels, sources=sources,
                account=account)
    return result, account


def _fetch_segments(cache: Optional[PathLike]) -> List[Path]:
    """AudioSet's segment CSVs, fetched (once) into ``<cache>/audioset-segments``."""
    from avprep.fetch import fetch
    from avprep.manifests import resolve

    if cache is None:
        from avprep.cache_dir import cache_path

        cache = cache_path("released")
    dest = Path(cache) / SEGMENTS_GROUP
    wanted = resolve([SEGMENTS_GROUP])
    failed = [r for r in fetch(wanted, dest) if not r.ok]
    if failed:
        raise InputError("could not fetch AudioSet's segment CSVs: "
                         + "; ".join(str(r.error) for r in failed), dest)
    return [dest / r.file for r in wanted]


def _download_ids(splits: List[_Split], chosen: Optional[Sequence[str]],
                  facts: DatasetFacts) -> Tuple[List[str], List[str]]:
    """The names of the splits to download for (all present by default; a name may end in
    ``.json``) and their ids, each once, in split order; :class:`InputError` for a name that is
    no split present."""
    present = [s.name for s in splits]
    names = (list(dict.fromkeys(n[:-len(".json")] if n.endswith(".json") else n for n in chosen))
             if chosen else present)
    for name in names:
        if name not in present:
            known = "a split of the manifest whose released list is missing" \
                if name in facts.splits else "no split of " + facts.dataset
            raise InputError(f"cannot download for split '{shown(name)}': {known} (present: "
                             f"{', '.join(present)})")
    ids: Dict[str, None] = {}
    for split in splits:
        if split.name in names:
            ids.update(dict.fromkeys(split.data.video_id))
    return names, list(ids)


def _run_download(facts: DatasetFacts, splits: List[_Split], chosen: Optional[Sequence[str]],
                  videos: Path, report: Path, segments: Sequence[PathLike],
                  cache: Optional[PathLike], options: Dict[str, Any], say: Say, note: Say
                  ) -> Tuple["DownloadSummary", List[str]]:
    from avprep import atomic
    from avprep.download import download
    from avprep.download.log import default_log_path

    names, ids = _download_ids(splits, chosen, facts)
    segments = list(segments)
    if facts.dataset == "audioset" and not segments:
        say("== fetching AudioSet's segment CSVs (avprep fetch audioset-segments) into the cache")
        segments = _fetch_segments(cache)
    report.mkdir(parents=True, exist_ok=True)
    id_file = report / DOWNLOAD_IDS
    atomic.write_text(id_file, "".join(f"{vid}\n" for vid in ids))
    options = dict(options)
    options.setdefault("log", default_log_path(videos))
    say(f"== downloading the {len(ids)} clips of {', '.join(names)} into {videos}")
    summary = download(id_file, videos, segments=segments, **options)
    for line in summary.notes() + [summary.line()]:
        note(f"avprep download: {line}")
    if summary.exit_code:
        note("avprep download: some clips are still to fetch: run the same command again "
             "later; preparing what is there")
    return summary, names


def _has_files(folder: Path) -> bool:
    return any(p.is_file() for p in folder.rglob("*"))


def prepare_dataset(dataset: str, videos: Optional[PathLike], out: PathLike,
                    lists: Optional[PathLike] = None, workers: int = 1,
                    keep_released_weights: bool = False, cache: Optional[PathLike] = None,
                    engine: str = "local", address: Optional[str] = None,
                    clip_timeout: Optional[float] = DEFAULT_CLIP_TIMEOUT,
                    say: Optional[Say] = None, note: Optional[Say] = None,
                    download: bool = False, download_splits: Optional[Sequence[str]] = None,
                    segments: Sequence[PathLike] = (),
                    download_options: Optional[Dict[str, Any]] = None,
                    download_logs: Sequence[PathLike] = (), pack: bool = False,
                    fbank: Optional[str] = None) -> PrepareResult:
    """Prepare ``dataset`` (``audioset`` or ``vggsound``) from the downloads in ``videos`` into
    ``out`` (``audio/``, ``frames/``, ``lists/``, ``report/``); see the module docstring.

    With ``pack`` the clips go into a pack, ``out/pack`` (:func:`avprep.store.from_videos.
    pack_videos`, ``fbank`` None, ``'float32'`` or ``'float16'`` also storing each clip's
    fbank), in place of ``audio/`` and ``frames/``, and the lists point into it; a pack is made
    from one set of videos, so adding videos later needs a new ``out``.

    With ``download`` the clips of ``download_splits`` (split names such as
    ``audioset_eval_cleaned``; None: every split present) are downloaded first into ``videos``
    (None: ``out/videos``), their log beside it (``<videos>.download-log.jsonl``);
    ``segments`` are AudioSet's segment CSVs (fetched into the cache when not given) and
    ``download_options`` go to :func:`avprep.download.download` (``workers``, ``url_template``,
    ``max_per_hour``, ``sleep``, ``cookies``, ``proxy``, ``limit``, ...). The download log and
    ``download_logs`` (earlier or other runs' logs, globs allowed) account for every missing
    released id in the report. Pending downloads do not stop the run: it prepares what is
    there and ``result.exit_code`` is 1.

    ``lists`` is the folder of released files (None: fetch them into
    :func:`released_files_dir` of ``cache``). ``workers``, ``engine``, ``address`` and
    ``clip_timeout`` go to extraction. ``say`` receives the progress lines (the step headers,
    one line per list, the summary) and ``note`` what the extract and build-list commands print
    on stderr (extraction's counts; ids that cannot name a file, a list with no local media);
    both default to silence. Raises :class:`InputError` for unusable input.

    >>> result = prepare_dataset("audioset", "downloads/", "prepared/",
    ...                          lists="released/", workers=8)          # doctest: +SKIP
    >>> result.lists["audioset_2m_cleaned"]                              # doctest: +SKIP
    PosixPath('prepared/lists/audioset_2m_cleaned.json')
    """
    from avprep.media.runner import run_extract  # loads the decoders: only when preparing

    say, note = say or _quiet, note or _quiet
    facts = dataset_facts(dataset)
    if videos is None:
        if not download:
            raise InputError("no videos folder given (without download the videos must be "
                             "there)")
        videos = Path(out) / "videos"
    for what, value in (("videos", videos), ("output", out)):
        if not os.fspath(value):
            raise InputError(f"the {what} folder is an empty path")
    if not download and not Path(videos).exists():
        raise InputError("videos folder not found", videos)
    if download and Path(videos).exists() and not Path(videos).is_dir():
        raise InputError("the videos folder to download into is a file", videos)
    if download_splits and not download:
        raise InputError("download_splits needs download")
    from avprep.lists.accounting import expand_log_paths
    extra_logs = expand_log_paths(download_logs)  # unusable logs stop the run before any work
    out = Path(out)
    check_outputs([("--lists", lists), ("--videos", videos),
                   *(("--download-log", path) for path in extra_logs),
                   *(("--segments", path) for path in segments)], [],
                  owned=[("--out", out / "lists"), ("--out", out / "report")])
    if lists is None:
        released = released_files_dir(facts, cache)
        say(f"== fetching the released {dataset} files into {released}")
        _fetch_released(facts, released)
    else:
        released = Path(lists)
    label_path, labels, splits = _check_inputs(facts, released, keep_released_weights)

    audio, frames, report = out / "audio", out / "frames", out / "report"
    pack_dir = out / "pack" if pack else None
    if fbank is not None and not pack:
        raise InputError("fbank needs pack (a pack stores fbanks, loose files do not)")
    videos = Path(videos)
    fetched: "Optional[DownloadSummary]" = None
    names: List[str] = []
    logs = list(extra_logs)
    if download:
        videos.mkdir(parents=True, exist_ok=True)
        fetched, names = _run_download(facts, splits, download_splits, videos, report,
                                       segments, cache, download_options or {}, say, note)
        if fetched.log not in logs:
            logs.append(fetched.log)

    (out / "lists").mkdir(parents=True, exist_ok=True)
    report.mkdir(parents=True, exist_ok=True)
    say(f"== extracting {videos} into " + (f"the pack {pack_dir}" if pack_dir is not None
                                           else f"{audio} and {frames}"))
    media: Optional[MediaSource] = None
    if download and not _has_files(videos):  # nothing downloaded (yet): nothing to extract
        from avprep import atomic
        from avprep.media.runner import Summary

        atomic.write_text(report / EXTRACT_LOG, "")
        extraction: "Union[Summary, VideoPackResult]" = Summary(
            log_path=str(report / EXTRACT_LOG))
        pack_dir = None
    elif pack_dir is not None:
        from avprep.store.from_videos import pack_videos
        from avprep.store.index import PackIndex

        extraction = pack_videos(videos, pack_dir, scheme=facts.id_scheme, fbank=fbank,
                                 workers=workers, engine=engine, address=address,
                                 log_path=report / EXTRACT_LOG)
        media = PackIndex(pack_dir)
    else:
        extraction = run_extract(videos, audio, frames, log_path=report / EXTRACT_LOG,
                                 workers=workers, scheme=facts.id_scheme, engine=engine,
                                 clip_timeout=clip_timeout, address=address)
    note(f"avprep extract: {extraction.line()}")

    accounting = None
    if logs:
        from avprep.lists.accounting import failures_by_id
        from avprep.media.log import read_failures
        from avprep.prepare.logs import read_download_logs

        accounting = (read_download_logs(logs), failures_by_id(read_failures(
            report / EXTRACT_LOG, latest=True)), logs, report / EXTRACT_LOG)
    result = PrepareResult(dataset, out, released, extraction, download=fetched)
    for split in splits:
        built, account = _build(split, labels, label_path, out, keep_released_weights,
                                accounting, media)
        result.builds[split.name] = built
        say(format_build(f"{split.name}.json", built))
        if account is not None:
            from avprep.lists.accounting import account_summary, format_account
            result.accounts[split.name] = account
            for line in format_account(account_summary(account, split.data, labels), "  "):
                say(line)
        if built.download_named is not None:
            note(f"avprep prepare: {split.name}: {built.download_named.note(audio)}")
        for text in unusable_build_notes(built, audio, frames, pack=pack_dir):
            note(f"avprep prepare: {split.name}: {text}")

    result.summary = summarize(report, log=report / EXTRACT_LOG, lists_dir=out / "lists",
                               audio_dir=audio if not pack else None,
                               frame_dir=frames if not pack else None,
                               pack_dir=pack_dir)
    if fetched is not None:
        result.summary["download"] = {
            "splits": names, "videos": os.path.abspath(videos),
            "log": os.path.abspath(fetched.log), "ids": fetched.total,
            "downloaded": fetched.downloaded, "unavailable": fetched.unavailable,
            "pending": fetched.pending, "not_attempted": fetched.not_attempted,
            "already_there": fetched.present,
            "skipped_unavailable": fetched.skipped_unavailable,
            "stopped": fetched.stopped, "exit_code": fetched.exit_code}
    result.text = write_summary(report, result.summary, title=f"prepare-{dataset}: done")
    say(result.text.rstrip("\n"))
    return result
