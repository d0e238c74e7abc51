"""Prepare a dataset in one call: released files + downloaded videos -> media, local lists, report.

:func:`prepare_dataset` (``avprep prepare audioset|vggsound``, ``make prepare-audioset``) runs the
steps in order, taking every dataset fact (splits, label CSV, training split, its released
weights, the id scheme) from the dataset's manifest:

1. the released files: the folder given, else fetched into the cache (:func:`released_files_dir`);
2. the inputs, checked before any work: which released splits are present, the label CSV, every
   list and the training split's weights (one row per released entry);
3. the videos, which must be there (the acquisition step, ``--download``, will fill the videos
   folder here, once the released files are known);
4. extraction into ``OUT/audio`` and ``OUT/frames`` (parallel; a re-run extracts only what is
   missing), its failures logged in ``OUT/report/extract_log.jsonl``;
5. one local list per split in ``OUT/lists`` (weights for the training split: recomputed, or the
   released rows with ``keep_released_weights``) with its coverage report in ``OUT/report``;
6. the run's summary, ``OUT/report/summary.json`` and ``summary.txt``.

Clips that fail are expected and reported, not an error; unusable input raises
:class:`~avprep.errors.InputError` before anything is extracted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from avprep.errors import InputError
from avprep.lists import DataList, LabelSet, read_labels, read_list, read_weights
from avprep.lists.build import BuildResult, build_list, check_weights_length, write_build
from avprep.manifests import DatasetFacts, dataset_facts
from avprep.media.engines import DEFAULT_CLIP_TIMEOUT
from avprep.outputs import check_outputs
from avprep.prepare.report import format_build, summarize, unusable_build_notes, write_summary

if TYPE_CHECKING:
    from avprep.media.runner import Summary  # imported when preparing: it loads the decoders

PathLike = Union[str, "os.PathLike[str]"]
Say = Callable[[str], None]

#: the extraction log's name in ``OUT/report``
EXTRACT_LOG = "extract_log.jsonl"


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
    """What :func:`prepare_dataset` did: the released folder used, the splits built (name ->
    :class:`~avprep.lists.build.BuildResult`), extraction's counts, and the run's summary (the
    dict of ``summary.json`` and the text of ``summary.txt``)."""

    dataset: str
    out: Path
    released_dir: Path
    extraction: "Summary"
    builds: Dict[str, BuildResult] = field(default_factory=dict)
    summary: Dict[str, object] = field(default_factory=dict)
    text: str = ""

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
           keep_released_weights: bool) -> BuildResult:
    audio, frames, report = out / "audio", out / "frames", out / "report"
    result = build_list(split.data, audio, frames, labels=labels, weights=split.train,
                        released_weights=split.weights,
                        keep_released_weights=split.train and keep_released_weights,
                        released_weights_path=split.weights_path, source=split.path)
    sources = {"released": str(split.path.resolve()), "labels": str(label_path.resolve())}
    if split.weights_path is not None:
        sources["released_weights"] = str(split.weights_path.resolve())
    weights_out = out / "lists" / f"{split.name}_weight.csv" if split.train else None
    write_build(result, out / "lists" / f"{split.name}.json", weights_out=weights_out,
                report_dir=report, released=split.data, labels=labels, sources=sources)
    return result


def prepare_dataset(dataset: str, videos: PathLike, out: PathLike,
                    lists: Optional[PathLike] = None, workers: int = 1,
                    keep_released_weights: bool = False, cache: Optional[PathLike] = None,
                    engine: str = "local", address: Optional[str] = None,
                    clip_timeout: Optional[float] = DEFAULT_CLIP_TIMEOUT,
                    say: Optional[Say] = None, note: Optional[Say] = None) -> PrepareResult:
    """Prepare ``dataset`` (``audioset`` or ``vggsound``) from the downloads in ``videos`` into
    ``out`` (``audio/``, ``frames/``, ``lists/``, ``report/``); see the module docstring.

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
    for what, value in (("videos", videos), ("output", out)):
        if not os.fspath(value):
            raise InputError(f"the {what} folder is an empty path")
    if not Path(videos).exists():  # with --download, a folder it will fill
        raise InputError("videos folder not found", videos)
    out = Path(out)
    check_outputs([("--lists", lists), ("--videos", videos)], [],
                  owned=[("--out", out / "lists"), ("--out", out / "report")])
    if lists is None:
        released = released_files_dir(facts, cache)
        say(f"== fetching the released {dataset} files into {released}")
        _fetch_released(facts, released)
    else:
        released = Path(lists)
    label_path, labels, splits = _check_inputs(facts, released, keep_released_weights)

    # The acquisition step (--download) goes here: it fills `videos` with the clips the splits
    # name, before extraction; without it the videos must already be there.

    audio, frames, report = out / "audio", out / "frames", out / "report"
    (out / "lists").mkdir(parents=True, exist_ok=True)
    report.mkdir(parents=True, exist_ok=True)
    say(f"== extracting {videos} into {audio} and {frames}")
    extraction = run_extract(videos, audio, frames, log_path=report / EXTRACT_LOG,
                             workers=workers, scheme=facts.id_scheme, engine=engine,
                             clip_timeout=clip_timeout, address=address)
    note(f"avprep extract: {extraction.line()}")

    result = PrepareResult(dataset, out, released, extraction)
    for split in splits:
        built = _build(split, labels, label_path, out, keep_released_weights)
        result.builds[split.name] = built
        say(format_build(f"{split.name}.json", built))
        for text in unusable_build_notes(built, audio, frames):
            note(f"avprep prepare: {split.name}: {text}")

    result.summary = summarize(report, log=report / EXTRACT_LOG, lists_dir=out / "lists",
                               audio_dir=audio, frame_dir=frames)
    result.text = write_summary(report, result.summary, title=f"prepare-{dataset}: done")
    say(result.text.rstrip("\n"))
    return result
