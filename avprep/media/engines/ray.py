"""The Ray engine: each item a Ray task, on a local Ray cluster started here or on an existing one.

With no address (and no ``RAY_ADDRESS`` in the environment) the engine starts a private Ray
cluster on this machine, bound to 127.0.0.1 with no dashboard, with ``workers`` CPUs, its own
temporary folder and workers at normal priority, and shuts it down in :meth:`RayEngine.close`.
With an address it joins that cluster as a driver and only disconnects when done: it never
stops a cluster it did not start.
When this process is already connected to Ray (``ray.init`` was called), that session is used
and left as it is.

Items go out as one task each, pipelined: at most ``in_flight`` (default ``2 * workers``) tasks
are submitted at a time, so workers never wait for the driver and the driver never floods the
scheduler. One task per item keeps the two guarantees exact: a worker that dies (killed, out of
memory, a crash in a decoder) loses only the item it was running, which is submitted again, up
to ``max_retries`` times (counted in :attr:`RayEngine.retries`); and an item past
``clip_timeout`` is cancelled, which stops its worker process, and reported as timed out.

The cluster's workers must be able to import ``fn``'s module (avprep installed on every node)
and see the same paths (a shared file system); relative paths are taken from the driver's
working folder.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import time
import traceback
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Iterable, Iterator, Optional, Tuple

from avprep.errors import InputError
from avprep.media.engines import Outcome

#: Object store of a cluster started here: items and results are small.
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20
#: Ray starts its workers at nice 15; a cluster started here runs them as the local engine does.
LOCAL_SYSTEM_CONFIG = {"worker_niceness": 0}
#: How many times an item whose worker died is submitted again.
DEFAULT_MAX_RETRIES = 3


def _run_item(fn: Callable[[Any], Any], item: Any, cwd: Optional[str]) -> Tuple[bool, Any]:
    """Run one item in a Ray worker: ``(True, value)`` or ``(False, reason)``, never raise."""
    if cwd and os.getcwd() != cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    try:
        return True, fn(item)
    except Exception as err:  # reported per item, as the local engine does
        last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
        where = f" at {last[0].name}:{last[0].lineno}" if last else ""
        return False, f"{type(err).__name__}: {err}{where}"


@dataclass
class _Job:
    item: Any
    attempt: int
    started: Optional[float] = None


def remove_temp_dir(path: str, tries: int = 5) -> None:
    """Remove a stopped Ray session's temporary folder, waiting for its last files to go.

    Ray's processes may still unlink sockets and logs for a moment after ``ray.shutdown()``, so
    a single pass can leave the folder behind.
    """
    for _ in range(tries):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(0.2)


_session_root: Optional[str] = None


def session_root() -> str:
    """This process's temporary folder for the Ray clusters it starts, removed at exit.

    One folder per process rather than per cluster: a later ``ray.init`` in the same process
    may recreate the folder of an earlier session, and this one is removed at exit in any case.
    """
    global _session_root
    if _session_root is None or not os.path.isdir(_session_root):
        _session_root = tempfile.mkdtemp(prefix="avprep-ray-")
        atexit.register(remove_temp_dir, _session_root)
    return _session_root


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("the ray engine needs Ray: pip install 'avprep[ray]'") from None
    return ray


class RayEngine:
    """Run items as Ray tasks on a local Ray cluster (started here) or on the one at ``address``."""

    name = "ray"

    def __init__(self, workers: int = 1, clip_timeout: Optional[float] = None,
                 address: Optional[str] = None, max_retries: int = DEFAULT_MAX_RETRIES,
                 in_flight: Optional[int] = None):
        if workers < 1:
            raise InputError("the ray engine needs --workers 1 or more (tasks run at once)")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.workers = workers
        self.clip_timeout = clip_timeout if clip_timeout and clip_timeout > 0 else None
        self.address = address
        self.max_retries = max_retries
        self.in_flight = max(in_flight or 2 * workers, 1)
        #: Items submitted again because their worker died, over this engine's life.
        self.retries = 0
        self._ray = None
        self._owns_session = False
        self._temp_dir: Optional[str] = None

    # --- the session --------------------------------------------------------------------------

    def _connect(self):
        if self._ray is not None:
            return self._ray
        ray = _import_ray()
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or None
            quiet = dict(log_to_driver=False, logging_level=logging.ERROR,
                         include_dashboard=False)
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            if address:
                try:
                    ray.init(address=address, **quiet)
                except (ConnectionError, ValueError, RuntimeError) as err:
                    raise InputError(f"cannot join the Ray cluster at {address}: "
                                     f"{' '.join(str(err).split())}") from None
            else:
                self._temp_dir = session_root()
                ray.init(address="local", num_cpus=self.workers, _node_ip_address="127.0.0.1",
                         object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                         _temp_dir=self._temp_dir, _system_config=LOCAL_SYSTEM_CONFIG, **quiet)
            self._owns_session = True
        self._ray = ray
        return ray

    @property
    def started_cluster(self) -> bool:
        """Whether this engine started the Ray cluster it runs on (and so will stop it)."""
        return self._temp_dir is not None

    def close(self) -> None:
        """Stop the cluster this engine started, or disconnect from one it joined."""
        if self._ray is not None and self._owns_session and self._ray.is_initialized():
            self._ray.shutdown()
        self._ray = None
        self._owns_session = False
        if self._temp_dir is not None:
            remove_temp_dir(self._temp_dir)
            self._temp_dir = None

    def __enter__(self) -> "RayEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the work -----------------------------------------------------------------------------

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Outcome]:
        """Run ``fn`` on each item as a Ray task; yield outcomes as items finish."""
        ray = self._connect()
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError

        task = ray.remote(num_cpus=1, max_retries=0)(_run_item)
        fn_ref = ray.put(fn)
        cwd = os.getcwd()
        capacity = max(1, min(self.workers, int(ray.cluster_resources().get("CPU", 1))))
        queue: Deque[_Job] = deque(_Job(item, 0) for item in items)
        running: "OrderedDict[Any, _Job]" = OrderedDict()
        try:
            while queue or running:
                while queue and len(running) < self.in_flight:
                    job = queue.popleft()
                    running[task.remote(fn_ref, job.item, cwd)] = job
                now = time.monotonic()
                # Tasks start roughly in submission order: the oldest `capacity` are running.
                for _, job in zip(range(capacity), running.values()):
                    if job.started is None:
                        job.started = now
                timeout = None
                if self.clip_timeout is not None:
                    deadlines = [j.started + self.clip_timeout for j in running.values()
                                 if j.started is not None]
                    timeout = max(0.0, min(deadlines) - now) if deadlines else None
                refs = list(running)
                ready, rest = ray.wait(refs, num_returns=1, timeout=timeout)
                if ready and rest:
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    ready += more
                for ref in ready:
                    job = running.pop(ref)
                    try:
                        ok, payload = ray.get(ref)
                    except (RayTaskError, TaskCancelledError) as err:
                        yield Outcome(job.item, error=" ".join(str(err).split())[:500])
                        continue
                    except RayError as err:  # the worker or its node died: run the item again
                        if job.attempt < self.max_retries:
                            self.retries += 1
                            queue.appendleft(_Job(job.item, job.attempt + 1))
                        else:
                            yield Outcome(job.item, error=f"worker process died "
                                          f"{job.attempt + 1} times ({type(err).__name__})")
                        continue
                    yield Outcome(job.item, value=payload) if ok \
                        else Outcome(job.item, error=payload)
                if self.clip_timeout is not None:
                    now = time.monotonic()
                    late = [ref for ref, job in running.items() if job.started is not None
                            and now - job.started >= self.clip_timeout]
                    for ref in late:
                        job = running.pop(ref)
                        ray.cancel(ref, force=True)
                        yield Outcome(job.item, error=f"timed out after {self.clip_timeout:g} s")
        finally:
            for ref in running:
                ray.cancel(ref, force=True)


__all__ = ["RayEngine", "remove_temp_dir", "session_root", "DEFAULT_MAX_RETRIES",
           "LOCAL_OBJECT_STORE_BYTES", "LOCAL_SYSTEM_CONFIG"]
