"""Sending shard jobs to an execution engine (:mod:`avprep.engines`): local worker
processes or Ray tasks.

A job is one whole shard: the worker reads the clips and writes the shard and its record itself,
so every engine runs the same code on the same job and writes the same bytes (on a cluster the
pack folder must be on a file system that every node shares). Jobs go to the engine in windows
of a few shards per worker, so the jobs of a 2M-entry list are never all in memory at once.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable, Iterator, Optional

from avprep.errors import InputError
from avprep.engines import Engine, Outcome, check_engine_args, get_engine

#: Shards handed to the engine per worker in one window (at least :data:`MIN_WINDOW`).
WINDOW_PER_WORKER = 16
#: Fewest shards in one window.
MIN_WINDOW = 64


def open_engine(engine: str, workers: int, address: Optional[str] = None) -> Engine:
    """The engine called ``engine`` with ``workers`` workers, joined to ``address`` if given.

    Shards have no time limit. A Ray engine sends one shard per task: a shard is already many
    clips, and a worker lost mid-shard then costs only that shard, written again from the start.
    """
    check_engine_args(engine, workers, address)
    try:
        runner = get_engine(engine, workers=workers, item_timeout=None, address=address)
    except ValueError as err:
        raise InputError(str(err)) from None
    if runner.batch is None:
        runner.batch = 1
    return runner


def window_size(workers: int) -> int:
    """Shards per :meth:`Engine.map` call for ``workers`` workers."""
    return max(MIN_WINDOW, WINDOW_PER_WORKER * max(workers, 1))


def run_jobs(runner: Engine, fn: Callable[[Any], Any], jobs: Iterable[Any],
             window: int) -> Iterator[Outcome]:
    """Run ``fn`` on every job on ``runner``, ``window`` jobs at a time; yield each outcome."""
    jobs = iter(jobs)
    while True:
        chunk = list(itertools.islice(jobs, window))
        if not chunk:
            return
        yield from runner.map(fn, chunk)
