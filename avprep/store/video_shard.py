"""One shard of a pack made straight from videos: decode its clips in memory, write the shard.

The work item an engine runs for ``avprep extract --pack``. Each clip is decoded once by
:func:`avprep.media.clip.decode_media` (the bytes the loose layout's files would hold) and its
row built by :func:`avprep.store.writer.clip_columns` and written by
:func:`avprep.store.writer.write_rows`, as ``avprep pack`` builds and writes rows read from those
files; so the two packs are equal column for column. The decoders and torch are imported up
front: an engine's workers pay those imports once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

from avprep.errors import AvprepError
from avprep.features.kaldi import torch_threads  # noqa: F401  (loads torch and the wav reader)
from avprep.framespec import DEFAULT_SPEC, FrameSpec
from avprep.layout import SAMPLE_RATE
from avprep.media.clip import ClipMedia, decode_media
from avprep.media.decode import reason_of
from avprep.store.manifest import ShardInfo
from avprep.store.schema import FRAME_COLUMNS
from avprep.store.task import shard_outcome
from avprep.store.writer import ShardRow, clip_columns, write_rows

#: ``(entry, path, video_id, reason)``: a video of the input and why it is left out (or None)
VideoItem = Tuple[int, str, str, Optional[str]]
#: the key of a shard record that holds its failure-log lines
LOG_KEY = "log"


@dataclass
class VideoShardJob:
    """Everything a worker needs to write one shard from videos."""

    number: int
    folder: str
    first_entry: int
    items: List[VideoItem]
    fbank: Optional[str] = None
    threads: int = 0
    frame_spec: FrameSpec = DEFAULT_SPEC


def decode_whole(path: str, threads: int = 0, spec: FrameSpec = DEFAULT_SPEC
                 ) -> Tuple[Optional[ClipMedia], List[Tuple[str, str]]]:
    """``(media, [])`` for a video whose wav and every frame were decoded, else
    ``(None, failures)`` with each failure's (stage, reason); never raises."""
    try:
        media = decode_media(path, frames=range(len(FRAME_COLUMNS)), threads=threads, spec=spec)
    except Exception as err:  # anything unforeseen is still this clip's failure, not the shard's
        return None, [("internal", reason_of(err))]
    return (media, []) if not media.failures else (None, media.failures)


def write_video_shard(job: VideoShardJob,
                      on_entry: Optional[Callable[[], None]] = None) -> ShardInfo:
    """Decode the clips of ``job`` and write its shard and record (the record also holds the
    failure-log lines of the shard's clips: ``id``, ``path``, ``stage``, ``reason``)."""
    log: List[Dict[str, str]] = []

    def rows() -> Iterator[ShardRow]:
        for entry, path, video_id, reason in job.items:
            failures = [("id", reason)] if reason is not None else []
            media = None
            if not failures:
                media, failures = decode_whole(path, job.threads, job.frame_spec)
            if failures:
                log.extend({"id": video_id, "path": path, "stage": stage, "reason": why}
                           for stage, why in failures)
                yield entry, video_id, "; ".join(f"{stage}: {why}" for stage, why in failures)
                continue
            frames = [media.jpegs[i] for i in range(len(FRAME_COLUMNS))]
            yield entry, video_id, clip_columns(video_id, entry, "", None,
                                                media.samples[None, :], SAMPLE_RATE, frames,
                                                job.fbank)

    # ``log`` is complete once every row is written, which is when write_rows reads ``extra``
    return write_rows(Path(job.folder), job.number, job.first_entry, len(job.items), rows(),
                      on_entry, extra={LOG_KEY: log})


def pack_video_shard(job: VideoShardJob) -> Union[ShardInfo, AvprepError]:
    """:func:`write_video_shard` in a worker (:func:`avprep.store.task.shard_outcome`)."""
    return shard_outcome(write_video_shard, job)
