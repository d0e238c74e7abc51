"""The batch runner behind ``avprep extract``: inputs -> work items -> an engine -> outputs + log.

The runner finds the videos, maps file names to ids, keeps its shard, drops duplicates, skips
clips whose outputs are complete, removes temporary files a killed run left for its clips, then
hands the rest to an execution engine (:mod:`avprep.engines`) as :class:`ClipTask` items
processed by :func:`avprep.media.clip.process_clip`. Every failure goes to the JSON-lines log.
Outputs are the only state: a re-run finds what is complete by looking at the files.
"""

from __future__ import annotations

import os
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from avprep.atomic import TMP_MARK, is_stale_temp
from avprep.complete import scan_media
from avprep.errors import InputError, WriteError
from avprep.lists.ids import to_list_id, unsafe_reason, video_id_of
from avprep.media.clip import ClipResult, ClipTask, failed_result, process_clip
from avprep.constants import DEFAULT_CLIP_TIMEOUT
from avprep.framespec import DEFAULT_SPEC, FrameSpec, claim_frame_spec
from avprep.layout import has_clip
from avprep.media.keep import ClipKeep
from avprep.media.log import FailureLog
from avprep.outputs import check_outputs

PathLike = Union[str, "os.PathLike[str]"]

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mkv", ".webm", ".avi", ".mov", ".flv", ".mpg", ".mpeg", ".ts", ".3gp",
    ".ogv", ".wmv", ".m2ts", ".mts", ".asf", ".vob",
})


def find_inputs(source: PathLike) -> List[Path]:
    """Video files under a folder (recursive, sorted), the paths listed in a text file, or one
    video file.

    Links to folders inside the tree are followed; a folder reached a second time (a link loop,
    or two links to one folder) is searched once, at its first path. Hidden folders are skipped.
    A list file (UTF-8, a byte-order mark allowed) holds one path per line; blank lines are
    ignored and relative paths are taken relative to the list file's folder. Raises
    :class:`InputError` when there is nothing to do.
    """
    source = Path(source)
    if source.is_dir():
        found = []
        seen: Set[Tuple[int, int]] = set()
        for root, dirs, files in os.walk(source, followlinks=True):
            st = os.stat(root)
            if (st.st_dev, st.st_ino) in seen:  # a loop or a second link to a searched folder
                dirs[:] = []
                continue
            seen.add((st.st_dev, st.st_ino))
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if Path(name).suffix.lower() in VIDEO_EXTENSIONS and TMP_MARK not in name:
                    found.append(Path(root) / name)
        if not found:
            raise InputError("no video files found (looked for "
                             f"{', '.join(sorted(VIDEO_EXTENSIONS))})", path=source)
        return found
    if not source.exists():
        raise InputError("no such file or folder", path=source)
    if source.suffix.lower() in VIDEO_EXTENSIONS:
        return [source]
    try:
        text = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the list of videos: {err}", path=source) from None
    paths = []
    for line in text.splitlines():
        line = line.rstrip("\r")
        if not line.strip():
            continue
        path = Path(line)
        paths.append(path if path.is_absolute() else source.parent / path)
    if not paths:
        raise InputError("the list of videos is empty", path=source)
    return paths


def parse_shard(text: Optional[str]) -> Tuple[int, int]:
    """``"i/N"`` (0 <= i < N) -> ``(i, N)``; None -> ``(0, 1)``."""
    if text is None:
        return 0, 1
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise InputError(f"--shard must be i/N with whole numbers, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise InputError(f"--shard {text}: need 0 <= i < N")
    return index, count


def default_log_path(audio_dir: Optional[PathLike], frame_dir: Optional[PathLike] = None,
                     shard: Tuple[int, int] = (0, 1)) -> Path:
    """Where the failure log goes when none is named: beside the audio folder (the frame folder
    with no audio), named after it: ``out/audio`` -> ``out/audio.extract-failures.jsonl``, or
    ``out/audio.extract-failures.shard-<i>-of-<N>.jsonl`` for shard i of N. Never inside an
    output folder, never in the current folder by accident."""
    folder = audio_dir if audio_dir is not None else frame_dir
    if folder is None:
        raise InputError("nothing to extract: give an audio folder, a frame folder, or both")
    where = Path(os.path.abspath(os.fspath(folder)))
    if not where.name:  # a file-system root has no beside
        raise InputError("no default failure log beside a file-system root; pass --log",
                         path=where)
    suffix = ".jsonl" if shard[1] == 1 else f".shard-{shard[0]}-of-{shard[1]}.jsonl"
    return where.with_name(f"{where.name}.extract-failures{suffix}")


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) of ``key``: a CRC-32 of its UTF-8 bytes, stable across runs."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % count


@dataclass
class Plan:
    """Work items for this run, plus the clips that failed before any decoding."""

    tasks: List[ClipTask] = field(default_factory=list)
    rejected: List[ClipResult] = field(default_factory=list)


def classify_inputs(paths: Iterable[PathLike], scheme: Optional[str] = None
                    ) -> Iterator[Tuple[str, str, Optional[str]]]:
    """``(path, video_id, reason)`` for each path in order: its id (the file name's stem where
    it maps to no ``scheme`` id) and why it cannot be extracted (an unmappable name, an unsafe
    id, an id already taken by an earlier path), or None.

    The first path of an id (in input order) wins; later ones are duplicates.
    """
    first: Dict[str, str] = {}
    for path in paths:
        path = os.fspath(path)
        stem = video_id_of(path)
        video_id = to_list_id(stem, scheme)
        reason = None
        if video_id is None:
            reason = f"file name {stem!r} does not map to a {scheme} id"
        elif (unsafe := unsafe_reason(video_id)) is not None:
            reason = f"unsafe video id {video_id!r}: {unsafe}"
        elif video_id in first:
            reason = f"duplicate id {video_id!r}: already taken by {first[video_id]}"
        else:
            first[video_id] = path
        yield path, video_id if video_id is not None else stem, reason


def plan_clips(paths: Sequence[PathLike], audio_dir: Optional[PathLike],
               frame_dir: Optional[PathLike], scheme: Optional[str] = None,
               shard: Tuple[int, int] = (0, 1), threads: int = 0,
               frame_spec: FrameSpec = DEFAULT_SPEC, keep: Optional[ClipKeep] = None) -> Plan:
    """Map each path to its id, keep this shard's, and reject unmappable and duplicate ids
    (:func:`classify_inputs`)."""
    index, count = shard
    plan = Plan()
    adir = os.fspath(audio_dir) if audio_dir is not None else None
    fdir = os.fspath(frame_dir) if frame_dir is not None else None
    for path, video_id, reason in classify_inputs(paths, scheme):
        if shard_of(video_id, count) != index:  # every path of an id lands in one shard
            continue
        task = ClipTask(path=path, video_id=video_id, audio_dir=adir, frame_dir=fdir,
                        threads=threads, frame_spec=frame_spec, keep=keep)
        if reason is not None:
            plan.rejected.append(failed_result(task, "id", reason))
        else:
            plan.tasks.append(task)
    return plan


def scan_outputs(audio_dir: Optional[PathLike], frame_dir: Optional[PathLike],
                 ids: Iterable[str]) -> Tuple[Set[str], Set[str], List[Path]]:
    """(ids with a complete wav, ids with ten complete frames, temporary files of these ids),
    by :func:`avprep.complete.scan_media`: one listing per folder."""
    scan = scan_media(audio_dir, frame_dir, ids, temps=True)
    return scan.audio, scan.frames, [Path(p) for p in scan.temps]


@dataclass
class Summary:
    """Counts of one run."""

    clips: int = 0
    written: int = 0
    skipped: int = 0
    failed: int = 0
    stages: Counter = field(default_factory=Counter)
    filled_frames: int = 0
    temps_removed: int = 0
    retries: int = 0
    seconds: float = 0.0
    log_path: Optional[str] = None

    @property
    def clips_per_second(self) -> float:
        """Clips handled per second of wall time (skipped ones included)."""
        return self.clips / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """The one-line summary printed at the end of a run."""
        text = (f"{self.clips} clips: {self.written} written, {self.skipped} already complete, "
                f"{self.failed} failed")
        if self.stages:
            text += " (" + ", ".join(f"{k} {v}" for k, v in sorted(self.stages.items())) + ")"
        text += f"; {self.clips_per_second:.2f} clips/s"
        if self.retries:
            text += f"; {self.retries} retried after a worker died"
        if self.temps_removed:
            text += f"; removed {self.temps_removed} stale temporary files"
        if self.failed and self.log_path:
            text += f"; failures in {self.log_path}"
        return text


def _resolved(path: PathLike, folders: Dict[str, str]) -> str:
    """``path`` with its folder resolved; ``folders`` caches one lookup per folder."""
    head, name = os.path.split(os.path.abspath(path))
    if head not in folders:
        folders[head] = os.path.realpath(head)
    return os.path.join(folders[head], name)


def check_log_outside(log_path: PathLike, *folders: Optional[PathLike]) -> None:
    """Raise :class:`InputError` when the failure log would lie inside an output folder."""
    for folder in folders:
        if _inside(Path(log_path), folder):
            raise InputError(f"the failure log must live outside the output folder {folder}",
                             path=log_path)


def _inside(path: Path, folder: Optional[PathLike]) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False


def _check_keep_dir(folder: PathLike, paths: Sequence[Path], folders: Dict[str, str]) -> None:
    """Refuse a clip folder that holds input videos (a kept clip could replace its source)."""
    real = os.path.realpath(folder)
    if any(os.path.dirname(_resolved(p, folders)) == real for p in paths):
        raise InputError("the --keep-clip folder holds input videos; choose another folder",
                         path=folder)


def _remove_stale_clip_temps(folder: PathLike) -> int:
    """Remove the temporary clips a killed run left in ``folder``; return how many."""
    removed = 0
    for tmp in Path(folder).glob(f".*{TMP_MARK}*"):
        if is_stale_temp(tmp):
            try:
                tmp.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def run_extract(source: PathLike, audio_dir: Optional[PathLike], frame_dir: Optional[PathLike],
                log_path: Optional[PathLike] = None, workers: int = 1, scheme: Optional[str] = None,
                shard: Tuple[int, int] = (0, 1), engine: str = "local",
                clip_timeout: Optional[float] = DEFAULT_CLIP_TIMEOUT,
                show_progress: bool = True, address: Optional[str] = None,
                frame_spec: FrameSpec = DEFAULT_SPEC, keep: Optional[ClipKeep] = None) -> Summary:
    """Extract every clip of ``source`` (a folder or a list file); return the run's counts.

    ``audio_dir`` or ``frame_dir`` None leaves that output out. ``frame_spec`` says which frames
    (a frame folder that records other settings is refused with :class:`InputError`); ``keep``
    also writes each clip's trimmed mp4 (:mod:`avprep.media.keep`). Failures are recorded in
    ``log_path`` (JSON lines; None: :func:`default_log_path`) and counted; :class:`InputError`
    is raised only for unusable input.
    ``address`` is passed to engines that join a cluster (``engine='ray'``).
    """
    from avprep.engines import check_engine_args, get_engine
    from avprep.progress import progress

    if audio_dir is None and frame_dir is None:
        raise InputError("nothing to extract: give an audio folder, a frame folder, or both")
    check_engine_args(engine, workers, address)
    log_path = Path(log_path) if log_path is not None else default_log_path(audio_dir, frame_dir,
                                                                            shard)
    keep_dir = keep.folder if keep is not None else None
    for folder in (audio_dir, frame_dir, keep_dir):
        if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
            raise InputError("output folder is a file", path=folder)
    check_log_outside(log_path, audio_dir, frame_dir)
    start = time.perf_counter()
    paths = find_inputs(source)
    check_outputs([("INPUT", source)], [("--log", log_path)])
    folders: Dict[str, str] = {}
    log_real = os.path.realpath(log_path)
    if any(_resolved(p, folders) == log_real for p in paths):
        raise InputError("the failure log is one of the input videos; choose another --log",
                         path=log_path)
    if keep_dir is not None:
        _check_keep_dir(keep_dir, paths, folders)
    for folder in (audio_dir, frame_dir, keep_dir):
        if folder is not None:
            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
            except OSError as err:  # e.g. under a regular file: no clip could be written
                raise WriteError(f"cannot create the output folder: {err.strerror or err}",
                                 path=folder) from None
    if frame_dir is not None:
        claim_frame_spec(frame_dir, frame_spec)
    threads = 0 if workers <= 1 else 1
    plan = plan_clips(paths, audio_dir, frame_dir, scheme, shard, threads, frame_spec, keep)
    ids = [t.video_id for t in plan.tasks]
    with_audio, with_frames, temps = scan_outputs(audio_dir, frame_dir, ids)
    summary = Summary(clips=len(plan.tasks) + len(plan.rejected), log_path=os.fspath(log_path))
    for tmp in temps:
        if not is_stale_temp(tmp):
            continue  # another run on these folders is writing it right now
        try:
            tmp.unlink()
            summary.temps_removed += 1
        except FileNotFoundError:
            pass
    if keep_dir is not None:
        summary.temps_removed += _remove_stale_clip_temps(keep_dir)
    todo = []
    for task in plan.tasks:
        audio_done = task.audio_dir is None or task.video_id in with_audio
        frames_done = task.frame_dir is None or task.video_id in with_frames
        clip_done = keep is None or has_clip(keep.folder, task.video_id)
        if audio_done and frames_done and clip_done:
            summary.skipped += 1
        else:
            todo.append(task)

    with FailureLog(log_path) as log:
        def account(result: ClipResult) -> None:
            for stage, reason in result.failures:
                log.record(result.video_id, result.path, stage, reason)
                summary.stages[stage] += 1
            if result.failures:
                summary.failed += 1
            elif result.skipped:
                summary.skipped += 1
            else:
                summary.written += 1
            summary.filled_frames += result.filled_frames

        for result in plan.rejected:
            account(result)
        if todo:
            runner = get_engine(engine, workers=workers, item_timeout=clip_timeout,
                                address=address)
            bar = progress(total=len(todo), desc="extract", unit="clip") if show_progress \
                else None
            try:
                for outcome in runner.map(process_clip, todo):
                    result = outcome.value
                    if outcome.error is not None or not isinstance(result, ClipResult):
                        result = failed_result(outcome.item, "worker",
                                               outcome.error or "no result")
                    account(result)
                    if bar is not None:
                        bar.update(1)
                        if summary.failed:
                            bar.set_postfix(failed=summary.failed, refresh=False)
            finally:
                if bar is not None:
                    bar.close()
                summary.retries = runner.retries
                runner.close()
    summary.seconds = time.perf_counter() - start
    return summary


__all__ = ["VIDEO_EXTENSIONS", "DEFAULT_CLIP_TIMEOUT", "find_inputs", "parse_shard", "shard_of",
           "Plan", "classify_inputs", "plan_clips", "check_log_outside", "scan_outputs",
           "Summary", "run_extract"]
