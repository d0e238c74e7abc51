"""One clip: decode it once, in process, into the original pipeline's wav and ten frames (or the
frames a :class:`~avprep.framespec.FrameSpec` asks for), and, when asked, keep its first
10 s as an mp4 (:mod:`avprep.media.keep`).

:func:`process_clip` is the unit of work of a batch run: a top-level function of a picklable
:class:`ClipTask` that returns a picklable :class:`ClipResult` and never raises for a bad clip, so
any execution engine can run it. :func:`extract_clip` does the same for one clip from Python and
raises :class:`~avprep.errors.MediaError` when a stage fails.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, Union

from avprep.errors import MediaError
from avprep.complete import wav_problem
from avprep.framespec import DEFAULT_SPEC, FrameSpec
from avprep.layout import clip_path, has_clip, missing_frames, wav_path
from avprep.lists.ids import video_id_of
from avprep.safeid import unsafe_reason
from avprep.media import audio as audio_mod
from avprep.media import decode as decode_mod
from avprep.media import frames as frames_mod
from avprep.media import probe
from avprep.media.keep import ClipKeep, keep_clip

if TYPE_CHECKING:
    import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

WRITTEN, SKIPPED, FAILED, OFF = "written", "skipped", "failed", "off"


@dataclass(frozen=True)
class ClipTask:
    """What to do for one clip; ``audio_dir`` or ``frame_dir`` None leaves that output out,
    ``frame_spec`` says which frames, ``keep`` (None: none) where the trimmed clip goes."""

    path: str
    video_id: str
    audio_dir: Optional[str] = None
    frame_dir: Optional[str] = None
    threads: int = 0
    skip_frames: bool = True  # leave undecoded the frames nothing needs (same output, faster)
    frame_spec: FrameSpec = DEFAULT_SPEC
    keep: Optional[ClipKeep] = None


@dataclass
class ClipResult:
    """What happened to one clip: each output's state and every failure as (stage, reason)."""

    video_id: str
    path: str
    audio: str = OFF
    frames: str = OFF
    clip: str = OFF
    failures: List[Tuple[str, str]] = field(default_factory=list)
    filled_frames: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every requested output exists now."""
        return not self.failures

    @property
    def skipped(self) -> bool:
        """Whether everything requested was already complete (nothing written)."""
        states = [s for s in (self.audio, self.frames, self.clip) if s != OFF]
        return bool(states) and all(s == SKIPPED for s in states)


def failed_result(task: ClipTask, stage: str, reason: str) -> ClipResult:
    """The result of ``task`` when it failed at ``stage`` before writing anything."""
    result = ClipResult(task.video_id, task.path, audio=FAILED if task.audio_dir else OFF,
                        frames=FAILED if task.frame_dir else OFF,
                        clip=FAILED if task.keep else OFF)
    result.failures.append((stage, reason))
    return result


def _write_failure(path: PathLike, err: OSError) -> str:
    """The log reason of an output that could not be written (no partial file is left)."""
    return f"cannot write {os.fspath(path)}: {err.strerror or decode_mod.reason_of(err)}"


def _open(path: str):
    import av

    return av.open(path, mode="r", metadata_errors="ignore")


def process_clip(task: ClipTask) -> ClipResult:
    """Write what is missing of ``task``'s outputs; report failures in the result, never raise."""
    start = time.perf_counter()
    result = ClipResult(task.video_id, task.path)
    try:
        _process(task, result)
    except Exception as err:  # anything unforeseen is still this clip's failure, not the run's
        result.failures.append(("internal", decode_mod.reason_of(err)))
    result.seconds = time.perf_counter() - start
    return result


@dataclass
class ClipMedia:
    """One clip decoded in memory: what the loose layout's files would hold, not yet written.

    ``samples``: the wav's int16 mono samples at 16 kHz (None when not asked for or failed);
    ``jpegs``: frame index -> the JPEG file's bytes, every asked-for index, filled from below
    (empty when the frames were not asked for or failed); ``failures``: (stage, reason) per
    output that could not be made, in the order a run logs them.
    """

    samples: Optional["np.ndarray"] = None
    jpegs: Dict[int, bytes] = field(default_factory=dict)
    failures: List[Tuple[str, str]] = field(default_factory=list)
    filled_frames: int = 0

    def wav_bytes(self) -> bytes:
        """The wav file's bytes, as :func:`avprep.media.audio.write_wav` writes them."""
        if self.samples is None:
            raise ValueError("no audio was decoded")
        return audio_mod.wav_bytes(self.samples)


#: the order of a clip's failures in a log: whatever stopped the clip, then audio, then frames
_STAGE_ORDER = {"id": 0, "open": 0, "audio": 1, "frames": 2}


def decode_media(path: str, audio: bool = True, frames: Optional[Sequence[int]] = None,
                 threads: int = 0, skip_frames: bool = True,
                 spec: FrameSpec = DEFAULT_SPEC) -> ClipMedia:
    """Decode the video at ``path`` once into its wav samples (``audio``) and the JPEGs of the
    frame indices ``frames`` (None: every frame of ``spec``), as ``spec`` makes them; failures
    are recorded in the result, never raised.

    The loose layout (:func:`process_clip`) and packs made straight from videos
    (:mod:`avprep.store.from_videos`) both take their bytes from here.
    """
    wanted = sorted(set(range(spec.count) if frames is None else frames))
    media = _decode_media(path, audio, wanted, threads, skip_frames, spec)
    media.failures.sort(key=lambda failure: _STAGE_ORDER.get(failure[0], len(_STAGE_ORDER)))
    return media


def _decode_media(path: str, audio: bool, wanted: List[int], threads: int, skip_frames: bool,
                  spec: FrameSpec) -> ClipMedia:
    media = ClipMedia()
    need_audio, need_frames = audio, bool(wanted)
    if not (need_audio or need_frames):
        return media
    try:
        container = _open(path)
    except Exception as err:
        media.failures.append(("open", f"cannot open: {decode_mod.reason_of(err)}"))
        return media
    with container:
        astream = probe.pick_audio_stream(container) if need_audio else None
        vstream = probe.pick_video_stream(container) if need_frames else None
        if need_audio and astream is None:
            media.failures.append(("audio", "no audio stream"))
            need_audio = False
        if need_frames and vstream is None:
            media.failures.append(("frames", "no video stream"))
            need_frames = False
        if not (need_audio or need_frames):
            return media
        schedule, fps = None, 0.0
        if need_frames:
            timing = probe.video_timing(container, vstream)
            schedule = probe.frame_schedule(timing.fps, timing.frame_count, spec.count)
            fps = timing.fps
        decoded = decode_mod.decode_clip(container, astream if need_audio else None,
                                         vstream if need_frames else None, schedule, fps,
                                         threads, skip=skip_frames, spec=spec)

    if decoded.truncated is not None:
        for stage, needed in (("audio", need_audio), ("frames", need_frames)):
            if needed:
                media.failures.append((stage, f"truncated or corrupt file: {decoded.truncated}"))
        return media
    if need_audio:
        samples = decoded.samples
        if samples is None or len(samples) == 0:
            why = decoded.audio_error or "the audio stream decoded to no samples"
            media.failures.append(("audio", why))
        else:
            media.samples = samples
    if need_frames:
        filled = frames_mod.fill_from_below(decoded.jpegs, wanted) if decoded.jpegs else {}
        lacking = [i for i in wanted if i not in filled]
        if not decoded.jpegs:
            why = decoded.video_error or "the video stream decoded to no frames"
            media.failures.append(("frames", why))
        elif lacking:
            media.failures.append(("frames", f"no frame at or before index {lacking[-1]} "
                                             "could be decoded"))
        else:
            media.jpegs = filled
            media.filled_frames = spec.count - len(decoded.jpegs)
    return media


def _process(task: ClipTask, result: ClipResult) -> None:
    reason = unsafe_reason(task.video_id)
    if reason is not None:
        result.failures.append(("id", f"unsafe video id {task.video_id!r}: {reason}"))
        result.audio = FAILED if task.audio_dir else OFF
        result.frames = FAILED if task.frame_dir else OFF
        result.clip = FAILED if task.keep else OFF
        return
    if task.keep is not None:
        _keep(task, result)
    wav = wav_path(task.audio_dir, task.video_id) if task.audio_dir else None
    need_audio = wav is not None and wav_problem(wav) is not None
    spec = task.frame_spec
    missing = missing_frames(task.frame_dir, task.video_id, spec.count) if task.frame_dir else []
    need_frames = bool(missing)
    result.audio = OFF if wav is None else (SKIPPED if not need_audio else FAILED)
    result.frames = OFF if not task.frame_dir else (SKIPPED if not need_frames else FAILED)
    if not (need_audio or need_frames):
        return

    media = decode_media(task.path, audio=need_audio, frames=missing, threads=task.threads,
                         skip_frames=task.skip_frames, spec=spec)
    result.failures.extend(f for f in media.failures if f[0] != "frames")  # open, audio
    if media.samples is not None:
        try:
            audio_mod.write_wav(wav, media.samples)
            result.audio = WRITTEN
        except OSError as err:  # a full disk, a size limit: the frames may still fit
            result.failures.append(("audio", _write_failure(wav, err)))
    result.failures.extend(f for f in media.failures if f[0] == "frames")
    if media.jpegs:
        result.filled_frames = media.filled_frames
        try:
            frames_mod.write_frame_set(task.frame_dir, task.video_id, media.jpegs)
            result.frames = WRITTEN
        except OSError as err:
            where = Path(task.frame_dir) / "frame_*" / f"{task.video_id}.jpg"
            result.failures.append(("frames", _write_failure(where, err)))


def _keep(task: ClipTask, result: ClipResult) -> None:
    """The trimmed clip, unless it exists already."""
    keep = task.keep
    if has_clip(keep.folder, task.video_id):
        result.clip = SKIPPED
        return
    dest = clip_path(keep.folder, task.video_id)
    try:
        keep_clip(task.path, dest, keep)
        result.clip = WRITTEN
    except MediaError as err:
        result.clip = FAILED
        result.failures.append(("clip", err.message))
    except OSError as err:
        result.clip = FAILED
        result.failures.append(("clip", _write_failure(dest, err)))


def extract_clip(path: PathLike, audio_dir: Optional[PathLike], frame_dir: Optional[PathLike],
                 video_id: Optional[str] = None, threads: int = 0,
                 frame_spec: FrameSpec = DEFAULT_SPEC,
                 keep: Optional[ClipKeep] = None) -> ClipResult:
    """Extract one clip's ``<audio_dir>/<id>.wav`` and ``<frame_dir>/frame_<i>/<id>.jpg``
    (the frames ``frame_spec`` asks for; a frame folder that records other settings is refused
    with :class:`~avprep.errors.InputError`), and with ``keep`` its trimmed
    ``<keep.folder>/<id>.mp4``.

    Outputs that already exist are kept as they are. Pass None for ``audio_dir`` or ``frame_dir``
    to leave that output out. Raises :class:`MediaError` naming the first failed stage, after
    writing whatever else succeeded.
    """
    path = os.fspath(path)
    if frame_dir is not None:
        frames_mod.claim_frame_spec(frame_dir, frame_spec)
    task = ClipTask(path=path, video_id=video_id if video_id is not None else video_id_of(path),
                    audio_dir=os.fspath(audio_dir) if audio_dir is not None else None,
                    frame_dir=os.fspath(frame_dir) if frame_dir is not None else None,
                    threads=threads, frame_spec=frame_spec, keep=keep)
    result = process_clip(task)
    if result.failures:
        stage, reason = result.failures[0]
        raise MediaError(reason, path=path, stage=stage)
    return result
