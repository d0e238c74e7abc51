"""``avprep extract INPUT --pack DIR``: videos straight into a pack, no loose file written.

The entries of the pack are the input's videos in :func:`avprep.media.runner.find_inputs` order
(ids as ``avprep extract`` gives them, duplicates and unusable names rejected as there); shard
``k`` holds entries ``[k * shard_size, (k + 1) * shard_size)``, so which clips a shard holds
depends on the input alone. A re-run with the same input and options keeps every finished shard
and writes the others again (a shard is written under a temporary name and renamed, then its
record goes into ``.parts/``); a plan check refuses another input or other options.

``shard=(i, N)`` writes the shards ``k`` with ``k % N == i``, so N copies run with no
coordination (a SLURM array) on one shared folder; each removes only its own shards' leftovers.
Whichever run finds every shard finished writes ``index.arrow`` and ``manifest.json``: the same
bytes whichever run it is. Each run's failures go to a JSON-lines log as ``avprep extract``'s do
(``id``, ``path``, ``stage``, ``reason``; rewritten each run, for the run's shards), and into the
manifest as ``avprep pack``'s do.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Tuple, Union

from avprep.atomic import TMP_MARK, is_stale_temp
from avprep.errors import InputError
from avprep.framespec import DEFAULT_SPEC, FrameSpec, write_frame_spec
from avprep.media.log import FailureLog
from avprep.outputs import check_outputs
from avprep.progress import progress
from avprep.store.manifest import INDEX_NAME, MANIFEST_NAME, PARTS_DIR, Manifest, ShardInfo, \
    shard_name
from avprep.store.schema import FBANK_DTYPES, FRAME_COLUMNS
from avprep.store.pack import DEFAULT_SHARD_SIZE, check_plan, run_on_engine, write_index
from avprep.store.writer import finished_shards, read_record

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class VideoPackResult:
    """What one run of :func:`pack_videos` did, for its shards; ``manifest`` is the finished
    pack's, or None while shards of other runs (``shard=(i, N)``) are still to be written."""

    folder: Path
    shards: int  #: shards of the whole pack
    finished: int  #: shards of the whole pack finished now
    written: int  #: shards this run wrote
    reused: int  #: shards of this run found finished
    clips: int  #: videos in this run's shards
    packed: int  #: of them, packed
    failed: int  #: of them, left out (each with its reasons in the log)
    log_path: str
    manifest: Optional[Manifest] = None
    stages: Counter = field(default_factory=Counter)
    retries: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """The one-line summary printed at the end of a run."""
        text = f"{self.clips} clips: {self.packed} packed, {self.failed} failed"
        if self.stages:
            text += " (" + ", ".join(f"{k} {v}" for k, v in sorted(self.stages.items())) + ")"
        rate = self.clips / self.seconds if self.seconds > 0 else 0.0
        text += (f"; {rate:.2f} clips/s; {self.written} shards written, {self.reused} already "
                 "done")
        if self.retries:
            text += f", {self.retries} retried after a worker died"
        if self.manifest is not None:
            text += (f"; pack finished: {self.manifest.rows} rows in {self.shards} shards in "
                     f"{self.folder}")
        else:
            text += (f"; {self.finished} of {self.shards} shards done in {self.folder} (the "
                     "run that finds them all done writes the index)")
        if self.failed:
            text += f"; failures in {self.log_path}"
        return text


def default_log_path(folder: PathLike, shard: Tuple[int, int] = (0, 1)) -> Path:
    """The failure log beside the pack folder: ``DIR.extract-failures.jsonl`` (with ``shard``
    i of N: ``DIR.extract-failures.shard-<i>-of-<N>.jsonl``), as ``avprep extract`` names it."""
    from avprep.media.runner import default_log_path as beside

    return beside(folder, None, shard)


def input_fingerprint(entries: List[Tuple[str, str, Optional[str]]]) -> str:
    """sha256 over the absolute path and id of every input video, in order."""
    digest = hashlib.sha256()
    for path, video_id, _reason in entries:
        digest.update(f"{os.path.abspath(path)}\0{video_id}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def pack_videos(source: PathLike, out_dir: PathLike, scheme: Optional[str] = None,
                shard: Tuple[int, int] = (0, 1), shard_size: int = DEFAULT_SHARD_SIZE,
                fbank: Optional[str] = None, workers: int = 1, engine: str = "local",
                address: Optional[str] = None, log_path: Optional[PathLike] = None,
                on_shard: Optional[Callable[[ShardInfo], None]] = None,
                frame_spec: FrameSpec = DEFAULT_SPEC) -> VideoPackResult:
    """Decode every video of ``source`` (a folder, a list file or one video) into a pack in
    ``out_dir``; see the module docstring.

    ``scheme`` maps file names to AudioSet or VGGSound ids (``avprep extract --ids``);
    ``fbank`` (None, ``'float32'``, ``'float16'``) also stores each clip's fbank as
    ``avprep pack --fbank`` does. ``workers`` shards are written at once on ``engine``
    (``'local'``: in this process for 0 or 1, else worker processes; ``'ray'``: Ray tasks, with
    ``address`` on an existing cluster whose nodes share ``out_dir``), as :func:`avprep.store.pack`
    writes them. ``log_path`` None: :func:`default_log_path`. ``on_shard`` is called in this
    process after each shard of this run is finished. ``frame_spec`` makes the frames as
    ``avprep extract --frame-size/--no-crop`` do (recorded in the pack's ``frames.json`` when not
    the default); a pack holds :data:`~avprep.constants.N_FRAMES` frames per clip. Raises
    :class:`InputError` for unusable input, a folder holding another pack, an unknown engine.
    """
    from avprep.media.runner import check_log_outside, classify_inputs, find_inputs
    from avprep.engines import check_engine_args
    from avprep.store.video_shard import LOG_KEY, VideoShardJob, pack_video_shard, \
        write_video_shard

    start = time.perf_counter()
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise InputError(f"--shard {index}/{count}: need 0 <= i < N")
    if shard_size < 1:
        raise InputError(f"--shard-size must be at least 1, got {shard_size}")
    if fbank is not None and fbank not in FBANK_DTYPES:
        raise InputError(f"--fbank must be one of {', '.join(FBANK_DTYPES)}, got {fbank!r}")
    if workers < 0:
        raise InputError("--workers must be 0 or more")
    check_engine_args(engine, workers, address)
    if frame_spec.count != len(FRAME_COLUMNS):
        raise InputError(f"a pack holds {len(FRAME_COLUMNS)} frames per clip, not "
                         f"{frame_spec.count} ({frame_spec.describe()})")
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError("output exists and is not a folder", folder)
    log_path = Path(log_path) if log_path is not None else default_log_path(folder, shard)
    check_log_outside(log_path, folder)
    check_outputs([("INPUT", source)], [("--log", log_path)], owned=[("--pack", folder)])
    entries = list(classify_inputs(find_inputs(source), scheme))
    fingerprint = input_fingerprint(entries)
    plan = {"from": "videos", "entries": len(entries), "shard_size": shard_size,
            "fbank": fbank, "ids": scheme, "source_sha256": fingerprint,
            "frames": None if frame_spec.is_default else frame_spec.to_json()}
    check_plan(folder / PARTS_DIR / "plan.json", plan, folder)

    numbers = range((len(entries) + shard_size - 1) // shard_size)
    mine = [k for k in numbers if k % count == index]
    _remove_temps(folder, mine, everything=count == 1)
    done = finished_shards(folder, mine)
    todo = [k for k in mine if k not in done]
    threads = 0 if workers <= 1 else 1

    def job(k: int) -> VideoShardJob:
        first = k * shard_size
        items = [(i, path, video_id, reason) for i, (path, video_id, reason)
                 in enumerate(entries[first:first + shard_size], start=first)]
        return VideoShardJob(k, os.fspath(folder), first, items, fbank, threads, frame_spec)

    result = VideoPackResult(folder, shards=len(numbers), finished=0, written=0, reused=len(done),
                             clips=0, packed=0, failed=0, log_path=os.fspath(log_path))
    inline = engine == "local" and (workers <= 1 or len(todo) <= 1)
    with FailureLog(log_path) as log:
        def account(info: ShardInfo, written: bool) -> None:
            for line in read_record(folder, shard_number(info))[LOG_KEY]:
                log.record(line["id"], line["path"], line["stage"], line["reason"])
                result.stages[line["stage"]] += 1
            result.clips += info.entries
            result.packed += info.rows
            result.failed += len(info.failures)
            if written:
                result.written += 1
                if on_shard:
                    on_shard(info)

        for k in sorted(done):
            account(done[k], written=False)
        total = sum(min(shard_size, len(entries) - k * shard_size) for k in todo)
        bar = progress(total=total, desc="pack", unit="clip")
        try:
            if inline:
                from avprep.features.kaldi import torch_threads

                with torch_threads(1):
                    for k in todo:
                        done[k] = write_video_shard(job(k), on_entry=lambda: bar.update(1))
                        account(done[k], written=True)
            elif todo:
                result.retries = run_on_engine(
                    engine, workers, address, (job(k) for k in todo), done, bar,
                    lambda info: account(info, written=True), fn=pack_video_shard)
        finally:
            bar.close()
            if not inline:
                _remove_temps(folder, mine, everything=count == 1)

    finished = finished_shards(folder, numbers)
    result.finished = len(finished)
    if result.finished == len(numbers):
        shards = [finished[k] for k in numbers]
        index_info = write_index(folder, [video_id for _path, video_id, _ in entries], shards)
        result.manifest = Manifest(entries=len(entries), rows=sum(s.rows for s in shards),
                                   shard_size=shard_size, fbank=fbank, source=os.fspath(source),
                                   source_sha256=fingerprint, labels_csv=None, shards=shards,
                                   index=index_info)
        if not frame_spec.is_default:
            write_frame_spec(folder, frame_spec)
        result.manifest.write(folder)
    result.seconds = time.perf_counter() - start
    return result


def shard_number(info: ShardInfo) -> int:
    """The number of the shard ``info`` describes (from its file name)."""
    return int(Path(info.name).stem.rpartition("-")[2])


def _remove_temps(folder: Path, numbers: List[int], everything: bool) -> None:
    """Remove what killed writers of shards ``numbers`` left (their shard and record
    temporaries), and stale temporaries of the index and manifest; with ``everything``, every
    temporary in the folder (no other run writes there)."""
    from avprep.atomic import remove_stale_temps

    if everything:
        remove_stale_temps(folder)
        return
    ours = {Path(shard_name(k)).stem for k in numbers}
    shared = {Path(INDEX_NAME).stem, Path(MANIFEST_NAME).stem}
    for where in (folder, folder / PARTS_DIR):
        if not where.is_dir():
            continue
        for path in where.glob(f".*{TMP_MARK}*"):
            stem = path.name[1:path.name.index(TMP_MARK)]
            if stem in ours or (stem in shared and is_stale_temp(path)):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass


__all__ = ["VideoPackResult", "pack_videos", "default_log_path", "input_fingerprint",
           "shard_number"]
