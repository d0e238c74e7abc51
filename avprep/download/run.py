"""The run behind ``avprep download``: plan, resume, workers, pace, log, summary.

Every id of the LIST gets a segment (or the run refuses to start, naming the id). Ids whose clip
is in DIR are done; ids whose last logged state is ``unavailable`` are skipped (unless
``retry_unavailable``); the rest are downloaded by ``workers`` threads, each clip cut into a
temporary file outside DIR and renamed into ``DIR/<video_id>.mp4`` when complete, then logged.
Rate limits pause every worker (:class:`~avprep.download.pacing.Pacer`); transient failures are
retried ``retries`` times with back-off, then logged ``pending``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from avprep.atomic import is_stale_temp, temp_name
from avprep.download.cut import CUTS, cut_segment
from avprep.download.log import (DOWNLOADED, PENDING, UNAVAILABLE, DownloadLog,
                                 default_log_path, read_download_log)
from avprep.download.outcomes import RATE_LIMITED, TRANSIENT, Failure
from avprep.download.pacing import MAX_BACKOFF, MAX_PAUSES, Pacer
from avprep.download.segments import Segment, read_ids, read_segment_tables, resolve
from avprep.download.source import YOUTUBE_TEMPLATE, find_media, ydl_params
from avprep.errors import InputError
from avprep.layout import clip_path, has_clip
from avprep.progress import progress

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_MAX_PER_HOUR = 300
DEFAULT_SLEEP = 4.0
DEFAULT_BACKOFF = 30.0
DEFAULT_RETRIES = 3
DEFAULT_WORKERS = 2

_log = logging.getLogger(__name__)


@dataclass
class DownloadSummary:
    """What a run did. ``exit_code``: 0 when nothing is left that a re-run could fetch, 1 when
    some ids are pending or were not attempted."""

    total: int = 0
    downloaded: int = 0
    unavailable: int = 0
    pending: int = 0
    present: int = 0
    skipped_unavailable: int = 0
    not_attempted: int = 0
    elapsed: float = 0.0
    log: Optional[Path] = None
    stopped: Optional[str] = None
    reasons: Dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 every id downloaded or unavailable; 1 otherwise."""
        return 1 if self.pending or self.not_attempted or self.stopped else 0

    @property
    def per_hour(self) -> float:
        """Clips downloaded per hour in this run."""
        return self.downloaded * 3600.0 / self.elapsed if self.elapsed > 0 else 0.0

    def notes(self) -> List[str]:
        """What to say besides :meth:`line`: the commonest unavailable reasons, why the run
        stopped (printable: :func:`avprep.safetext.shown`)."""
        from avprep.safetext import shown

        lines = []
        if self.reasons:
            top = sorted(self.reasons.items(), key=lambda kv: -kv[1])[:5]
            lines.append("unavailable: " + "; ".join(f"{n} {shown(r)}" for r, n in top))
        if self.stopped:
            lines.append(shown(self.stopped, 400))
        return lines

    def line(self) -> str:
        """The one-line summary."""
        parts = [f"{self.downloaded} downloaded", f"{self.unavailable} unavailable",
                 f"{self.pending} pending"]
        if self.not_attempted:
            parts.append(f"{self.not_attempted} not attempted")
        if self.present:
            parts.append(f"{self.present} already in DIR")
        if self.skipped_unavailable:
            parts.append(f"{self.skipped_unavailable} skipped as unavailable before "
                         "(--retry-unavailable retries them)")
        return (f"{', '.join(parts)} of {self.total} ids; {self.per_hour:.0f} clips/h; "
                f"log: {self.log}")


def partial_dir(dest: Path) -> Path:
    """Where clips are written before they are complete: a hidden folder beside DIR (on the
    same file system, so that a rename moves a clip in), or inside DIR when DIR is a mount."""
    beside = dest.parent / f".{dest.name}.avprep-partial"
    try:
        if os.stat(dest.parent).st_dev == os.stat(dest).st_dev:
            return beside
    except OSError:
        pass
    return dest / ".avprep-partial"


def _clean_partial(folder: Path) -> None:
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if is_stale_temp(path):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                path.unlink()


class _Queue:
    """Segments to attempt, each with the time before which it waits (a retry's back-off)."""

    def __init__(self, segments: Sequence[Segment]):
        self._heap: List[Tuple[float, int, Segment, int, str]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self.closed = False
        for seg in segments:
            self.put(seg, 0, 0.0)

    def put(self, seg: Segment, attempts: int, delay: float, reason: str = "") -> None:
        """Queue ``seg`` after ``attempts`` tries (the last failing for ``reason``), due in
        ``delay`` seconds."""
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), seg,
                                        attempts, reason))
            self._cond.notify_all()

    def get(self) -> Optional[Tuple[Segment, int, str]]:
        """The next segment due, or None when nothing is left (or the queue is closed)."""
        with self._cond:
            while True:
                if self.closed:
                    return None
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    _due, _seq, seg, attempts, reason = heapq.heappop(self._heap)
                    self._busy += 1
                    return seg, attempts, reason
                if not self._heap and self._busy == 0:
                    return None
                wait = self._heap[0][0] - now if self._heap else 1.0
                self._cond.wait(min(wait, 1.0))

    def done(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def left(self) -> List[Tuple[Segment, int, str]]:
        """The segments still queued, with their attempts so far and the last failure."""
        with self._cond:
            return [item[2:] for item in self._heap]


@dataclass
class _Settings:
    dest: Path
    partial: Path
    template: str
    params: dict
    cut: str
    retries: int
    backoff: float
    timeout: float
    proxy: Optional[str]


def _attempt(seg: Segment, cfg: _Settings) -> str:
    """Download one clip into place; return the note for the log, or raise :class:`Failure`."""
    info = find_media(cfg.template.format(ytid=seg.ytid), cfg.params)
    final = clip_path(cfg.dest, seg.video_id)
    tmp = cfg.partial / temp_name(final).name
    try:
        result = cut_segment(info.streams, seg, tmp, cfg.cut, info.duration, cfg.timeout,
                             cfg.proxy)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return result.note


def _check_args(workers: int, max_per_hour: float, sleep: float, backoff: float,
                retries: int, cut: str, url_template: str, limit: Optional[int],
                cookies: Optional[PathLike], proxy: Optional[str]) -> None:
    if workers < 1:
        raise InputError("--workers must be at least 1")
    if not max_per_hour > 0:
        raise InputError("--max-per-hour must be positive")
    if sleep < 0 or not backoff > 0 or retries < 0:
        raise InputError("--sleep and --retries must be >= 0 and --backoff > 0")
    if cut not in CUTS:
        raise InputError(f"--cut must be one of {', '.join(CUTS)}")
    if "{ytid}" not in url_template:
        raise InputError(f"--url-template must contain {{ytid}}: {url_template!r}")
    if limit is not None and limit < 0:
        raise InputError("--limit must be >= 0")
    if cookies is not None and not Path(cookies).is_file():
        raise InputError("cookies file not found", cookies)
    if proxy is not None and not proxy.lower().startswith(("http://", "https://")):
        raise InputError(f"--proxy must be an http:// or https:// proxy (ffmpeg, which fetches "
                         f"the segment, speaks no SOCKS), not {proxy!r}")


def plan(list_path: PathLike, segments: Sequence[PathLike] = (),
         shard: Tuple[int, int] = (0, 1)) -> List[Segment]:
    """The segments of this shard's ids of ``list_path``; :class:`InputError` naming the first
    id (of the whole LIST) whose start is not known."""
    from avprep.media.runner import shard_of

    source = read_ids(list_path)
    table = read_segment_tables(list(segments)) if segments else {}
    resolved = resolve(source.ids, source.segments, table, source=list_path)
    index, count = shard
    return [s for s in resolved if count == 1 or shard_of(s.video_id, count) == index]


def download(list_path: PathLike, dest: PathLike, segments: Sequence[PathLike] = (),
             log: Optional[PathLike] = None, workers: int = DEFAULT_WORKERS,
             url_template: str = YOUTUBE_TEMPLATE, fmt: Optional[str] = None,
             cut: str = "exact", sleep: float = DEFAULT_SLEEP,
             max_per_hour: float = DEFAULT_MAX_PER_HOUR, backoff: float = DEFAULT_BACKOFF,
             retries: int = DEFAULT_RETRIES, cookies: Optional[PathLike] = None,
             proxy: Optional[str] = None, shard: Optional[Union[str, Tuple[int, int]]] = None,
             limit: Optional[int] = None, retry_unavailable: bool = False,
             timeout: float = 30.0, max_pauses: int = MAX_PAUSES,
             show_progress: bool = True) -> DownloadSummary:
    """Download the segment of every id of ``list_path`` into ``dest/<video_id>.mp4``.

    ``segments``: AudioSet segment CSVs (where a bare YouTube id's segment lies). ``log``: the
    JSON-lines download log (default beside ``dest``: ``<dest>.download-log.jsonl``). Pace:
    ``max_per_hour`` download starts an hour over all ``workers``, a random pause of about
    ``sleep`` seconds between one worker's downloads, ``backoff`` seconds of pause for every
    worker after a rate limit (doubling up to 1 h; the run stops after ``max_pauses`` pauses
    without progress). ``shard``: ``"i/N"`` or ``(i, N)``; ``limit``: at most this many clips
    attempted. Returns the :class:`DownloadSummary`; raises :class:`InputError` for unusable
    input before anything is downloaded.
    """
    from avprep.media.runner import parse_shard

    _check_args(workers, max_per_hour, sleep, backoff, retries, cut, url_template, limit,
                cookies, proxy)
    shard_t = parse_shard(shard) if isinstance(shard, str) or shard is None else tuple(shard)
    chosen = plan(list_path, segments, shard_t)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    log_path = Path(log) if log is not None else default_log_path(dest, shard_t)
    if os.path.abspath(log_path.parent) == os.path.abspath(dest):
        raise InputError("the download log must not be inside DIR (DIR holds only clips)",
                         log_path)
    state = read_download_log(log_path)
    partial = partial_dir(dest)
    _clean_partial(partial)
    summary = DownloadSummary(total=len(chosen), log=log_path)
    started = time.monotonic()
    with DownloadLog(log_path) as book:
        todo: List[Segment] = []
        for seg in chosen:
            last = state.get(seg.video_id, {}).get("status")
            if has_clip(dest, seg.video_id):
                summary.present += 1
                if last != DOWNLOADED:
                    book.record(seg.video_id, DOWNLOADED, "clip found in DIR")
            elif last == UNAVAILABLE and not retry_unavailable:
                summary.skipped_unavailable += 1
            else:
                todo.append(seg)
        if limit is not None and len(todo) > limit:
            summary.not_attempted = len(todo) - limit
            todo = todo[:limit]
        if todo:
            partial.mkdir(parents=True, exist_ok=True)
            cfg = _Settings(dest, partial, url_template,
                            ydl_params(fmt, os.fspath(cookies) if cookies else None, proxy,
                                       timeout),
                            cut, retries, backoff, timeout, proxy)
            pacer = Pacer(max_per_hour, sleep, backoff, max_pauses)
            _run(todo, cfg, pacer, book, summary, workers, show_progress)
            if pacer.stopped.is_set():
                again = time.gmtime(time.time() + pacer.next_backoff)
                summary.stopped = (
                    f"rate-limited: stopped after {pacer.pauses_without_progress} pauses without "
                    f"a clip downloaded; try again after {time.strftime('%H:%M UTC', again)} "
                    f"(in {pacer.next_backoff / 60:.0f} min). What helps: --cookies FILE (a "
                    "signed-in account's cookies; the account may be banned), --proxy URL, "
                    "a lower --max-per-hour, --shard i/N across machines or addresses")
        with contextlib.suppress(OSError):
            partial.rmdir()  # only when empty: a live run's temporaries stay
    summary.elapsed = time.monotonic() - started
    return summary


def _run(todo: List[Segment], cfg: _Settings, pacer: Pacer, book: DownloadLog,
         summary: DownloadSummary, workers: int, show_progress: bool) -> None:
    queue = _Queue(todo)
    lock = threading.Lock()
    bar = progress(total=len(todo), desc="download", unit="clip", show=show_progress)
    bar.bar_format = "{desc}: {n}/{total} [{elapsed}<{remaining}]{postfix}"
    started = time.monotonic()

    def settle(seg: Segment, status: str, reason: str) -> None:
        book.record(seg.video_id, status, reason)
        with lock:
            if status == DOWNLOADED:
                summary.downloaded += 1
            elif status == UNAVAILABLE:
                summary.unavailable += 1
                summary.reasons[reason] = summary.reasons.get(reason, 0) + 1
            else:
                summary.pending += 1
            hours = (time.monotonic() - started) / 3600.0
            bar.set_postfix_str(f"downloaded {summary.downloaded}, unavailable "
                                f"{summary.unavailable}, pending {summary.pending}, "
                                f"{summary.downloaded / hours if hours else 0:.0f} clips/h",
                                refresh=False)
            bar.update(1)

    def work() -> None:
        while True:
            item = queue.get()
            if item is None:
                return
            seg, attempts, last = item
            try:
                if not pacer.wait_turn():
                    settle_stop(seg, attempts, last)
                    continue
                try:
                    note = _attempt(seg, cfg)
                except Failure as failure:
                    handle(seg, attempts, failure)
                except Exception as err:  # a bug or an unforeseen failure: record, go on
                    _log.debug("download %s failed", seg.video_id, exc_info=True)
                    handle(seg, attempts, Failure(TRANSIENT, f"internal error: "
                                                             f"{type(err).__name__}: {err}"))
                else:
                    pacer.progressed()
                    settle(seg, DOWNLOADED, note)
            finally:
                queue.done()
            pacer.wait(pacer.worker_pause())

    def settle_stop(seg: Segment, attempts: int, last: str) -> None:
        if attempts:
            settle(seg, PENDING, f"{last}; the run stopped before it was retried")
        else:
            with lock:
                summary.not_attempted += 1

    def handle(seg: Segment, attempts: int, failure: Failure) -> None:
        if failure.kind == UNAVAILABLE:
            settle(seg, UNAVAILABLE, failure.reason)
        elif failure.kind == RATE_LIMITED:
            pause = pacer.rate_limited()
            _log.info("rate-limited (%s): every worker pauses %.0f s", failure.reason, pause)
            if pacer.stopped.is_set() or attempts + 1 >= pacer.max_pauses:
                # an id rate-limited again and again while others download goes to the next run
                settle(seg, PENDING, f"rate-limited: {failure.reason}")
            else:
                queue.put(seg, attempts + 1, 0.0, f"rate-limited: {failure.reason}")
        elif attempts >= cfg.retries:
            settle(seg, PENDING, f"{failure.reason} (after {attempts + 1} attempts)")
        else:
            queue.put(seg, attempts + 1, min(cfg.backoff * 2 ** attempts, MAX_BACKOFF),
                      failure.reason)

    threads = [threading.Thread(target=work, name=f"download-{i}", daemon=True)
               for i in range(workers)]
    for thread in threads:
        thread.start()
    try:
        while any(t.is_alive() for t in threads):
            if pacer.stopped.is_set():
                queue.close()
            for thread in threads:
                thread.join(0.2)
    except KeyboardInterrupt:
        pacer.stop()
        queue.close()
        raise
    finally:
        bar.close()
    for seg, attempts, last in queue.left():
        settle_stop(seg, attempts, last)
