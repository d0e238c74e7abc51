"""The local engine: worker processes on this machine, each item with an optional time limit.

Each worker is a process fed one item at a time over its own pipe. A worker that runs past the
time limit is killed and replaced, and one that dies (a crash inside a decoder) is replaced; either
way that item's outcome carries the reason and the run goes on. ``workers=0`` runs everything in
this process (no time limit, no crash isolation): handy for debugging.

Ctrl-C belongs to the parent: a terminal sends SIGINT to the whole process group, and workers (and
the fork server they come from) ignore it, so that only the parent raises ``KeyboardInterrupt``; it
stops its workers (a busy one is killed: the outputs are written atomically) and the command
reports the interruption in one line.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from collections import deque
from multiprocessing.connection import wait
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, Optional

from avprep.engines import Outcome, error_reason


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while inside; a Ctrl-C typed meanwhile arrives on exit.

    A process started inside inherits the blocked signal, so it cannot die of a Ctrl-C (with a
    traceback) before :func:`_worker_main` ignores it: what the standard library does for its
    resource tracker.
    """
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # starting, it unblocks SIGINT here: it goes first
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _ignore_sigint() -> None:
    """Ignore SIGINT from now on (a pending one is dropped), then stop blocking it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _worker_main(fn: Callable[[Any], Any], conn) -> None:
    """Worker loop: receive an item, send back ``(True, value)`` or ``(False, reason)``.

    SIGINT is ignored: the parent handles Ctrl-C and stops the workers.
    """
    _ignore_sigint()
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        try:
            reply = (True, fn(item))
        except BaseException as err:  # reported per item; the worker stays usable
            reply = (False, error_reason(err))
        try:
            conn.send(reply)
        except (EOFError, OSError, BrokenPipeError):
            return


def _context_for(fn: Callable[[Any], Any]):
    """A start method that is safe in a parent with threads and cheap per worker.

    Not plain fork: a parent holding threads (torch, OpenMP, a progress bar) can leave a forked
    child waiting forever on a lock copied in its held state. The fork server is a clean,
    single-threaded process that imports ``fn``'s module once and forks workers from it; where it
    does not exist, spawn.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        module = getattr(fn, "__module__", None)
        if module and module != "__main__":
            ctx.set_forkserver_preload([module])
        return ctx
    return multiprocessing.get_context("spawn")


class _Worker:
    def __init__(self, ctx, fn):
        parent, child = ctx.Pipe(duplex=True)
        self.conn = parent
        self.process = ctx.Process(target=_worker_main, args=(fn, child), daemon=True)
        if ctx.get_start_method() == "forkserver":
            # the server and every worker forked from it start with SIGINT blocked; it may take
            # seconds to import fn's module, so the parent's own start is not held up
            from multiprocessing import forkserver

            with _sigint_blocked():
                forkserver.ensure_running()
            self.process.start()
        else:
            with _sigint_blocked():
                self.process.start()
        child.close()
        self.item: Any = None
        self.busy = False
        self.started = 0.0

    def give(self, item: Any) -> None:
        self.item, self.busy, self.started = item, True, time.monotonic()
        self.conn.send(item)

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        self.process.join(timeout=None if kill else 5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class LocalEngine:
    """Run items in ``workers`` local processes (0: in this process)."""

    name = "local"

    def __init__(self, workers: int = 1, item_timeout: Optional[float] = None, context=None):
        if workers < 0:
            raise ValueError("workers must be >= 0")
        self.workers = workers
        self.item_timeout = item_timeout if item_timeout and item_timeout > 0 else None
        #: one item goes to a worker at a time
        self.batch: Optional[int] = 1
        #: always 0: an item whose worker died is reported, not run again
        self.retries = 0
        self._ctx = context

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Outcome]:
        """Run ``fn`` on each item; yield outcomes as items finish."""
        if self.workers == 0:
            yield from self._map_inline(fn, items)
        else:
            yield from self._map_pool(fn, items)

    @staticmethod
    def _map_inline(fn, items) -> Iterator[Outcome]:
        for item in items:
            try:
                yield Outcome(item, value=fn(item))
            except Exception as err:
                yield Outcome(item, error=f"{type(err).__name__}: {err}")

    def _map_pool(self, fn, items) -> Iterator[Outcome]:
        queue: Deque[Any] = deque(items)
        ctx = self._ctx or _context_for(fn)
        pool: list = []
        try:
            for _ in range(min(self.workers, max(len(queue), 1))):  # a Ctrl-C here stops them too
                pool.append(_Worker(ctx, fn))
            while True:
                for worker in pool:
                    if not worker.busy and queue:
                        worker.give(queue.popleft())
                busy = [w for w in pool if w.busy]
                if not busy:
                    return
                timeout = None
                if self.item_timeout is not None:
                    now = time.monotonic()
                    timeout = max(0.0, min(w.started + self.item_timeout - now for w in busy))
                by_handle: Dict[Any, _Worker] = {}
                for w in busy:
                    by_handle[w.conn] = w
                    by_handle[w.process.sentinel] = w
                ready = wait(list(by_handle), timeout)
                done = set()
                for handle in ready:
                    worker = by_handle[handle]
                    if id(worker) in done:
                        continue
                    done.add(id(worker))
                    state, outcome = self._collect(worker)
                    if state == "reply":
                        yield outcome
                    elif state == "dead":
                        worker.process.join(timeout=5)
                        code = worker.process.exitcode
                        item = worker.item
                        pool[pool.index(worker)] = self._replace(worker, ctx, fn)
                        yield Outcome(item, error=f"worker process died (exit code {code})")
                if self.item_timeout is not None:
                    now = time.monotonic()
                    for worker in list(pool):
                        if worker.busy and id(worker) not in done and \
                                now - worker.started >= self.item_timeout:
                            item = worker.item
                            pool[pool.index(worker)] = self._replace(worker, ctx, fn)
                            yield Outcome(item, error=f"timed out after {self.item_timeout:g} s")
        finally:
            for worker in pool:
                worker.stop(kill=worker.busy)

    @staticmethod
    def _collect(worker: _Worker):
        """``("reply", outcome)``, ``("dead", None)`` or ``("none", None)`` (still working)."""
        try:
            if not worker.conn.poll():
                return ("none", None) if worker.process.is_alive() else ("dead", None)
            ok, payload = worker.conn.recv()
        except (EOFError, OSError):
            return "dead", None
        item, worker.item, worker.busy = worker.item, None, False
        return "reply", Outcome(item, value=payload) if ok else Outcome(item, error=payload)

    @staticmethod
    def _replace(worker: _Worker, ctx, fn) -> _Worker:
        worker.stop(kill=True)
        return _Worker(ctx, fn)

    def close(self) -> None:
        """Nothing persists between :meth:`map` calls."""
