"""The Ray engine: each item a Ray task, on a local Ray cluster started here or on an existing one.

With no address (and no ``RAY_ADDRESS`` in the environment) the engine starts a private Ray
cluster on this machine, with no dashboard, with ``workers`` CPUs, its own temporary folder and
workers at normal priority, and shuts it down in :meth:`RayEngine.close`. Every listener of that
cluster (GCS, raylet, object manager, runtime-env agent, the driver's and workers' gRPC servers)
binds to 127.0.0.1 (:func:`loopback_only`): Ray has no authentication, so a cluster reachable from
other hosts could be joined by anyone on the network for the length of the run.
With an address it joins that cluster as a driver and only disconnects when done: it never
stops a cluster it did not start; a cluster at a loopback address is joined on loopback
(:func:`on_loopback`).
When this process is already connected to Ray (``ray.init`` was called), that session is used
and left as it is.

Items go out in batches, one Ray task per batch (``batch`` items; by default enough tasks for
four per worker, at most 16 items each, so a large run pays the scheduler once per 16 clips),
pipelined: at most ``in_flight`` tasks are out at a time (default ``2 * workers`` on a cluster
started here, whose ``workers`` CPUs cap what runs; ``workers`` on a joined cluster, so that
``--workers`` bounds the tasks running at once there too), so workers never wait long for the
driver and the driver never floods the scheduler. Each task streams its
results back item by item (a Ray generator task), so the driver always knows which items are
done: a worker that dies (killed, out of memory, a crash in a decoder) loses only the item it
was running, which is submitted again on its own, up to ``max_retries`` times (counted in
:attr:`RayEngine.retries`), while the batch's unstarted items go out as a new task; an item past
``item_timeout`` is cancelled, which stops its worker process, and reported as timed out.

The cluster's workers must be able to import ``fn``'s module (avprep installed on every node)
and see the same paths (a shared file system); relative paths are taken from the driver's
working folder.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import logging
import os
import shutil
import socket
import tempfile
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Iterable, Iterator, List, Optional, Tuple

from avprep.errors import InputError
from avprep.engines import Outcome, error_reason

#: Object store of a cluster started here: items and results are small.
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20
#: Ray starts its workers at nice 15; a cluster started here runs them as the local engine does.
LOCAL_SYSTEM_CONFIG = {"worker_niceness": 0}
#: How many times an item whose worker died is submitted again.
DEFAULT_MAX_RETRIES = 3
#: Most items per task when the batch size is chosen automatically.
MAX_AUTO_BATCH = 16
#: Ray's switch for single-node clusters (its default on macOS and Windows): "0" keeps the node's
#: address on loopback instead of replacing 127.0.0.1 by the host's external address.
SINGLE_NODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _run_one(fn: Callable[[Any], Any], item: Any) -> Tuple[bool, Any]:
    """``(True, fn(item))`` or ``(False, reason)``; never raises (the local engine's reasons)."""
    try:
        return True, fn(item)
    except Exception as err:
        return False, error_reason(err)


def _run_batch(fn: Callable[[Any], Any], items: List[Any], cwd: Optional[str]):
    """A Ray task: yield ``_run_one``'s answer for each item, one by one, as each finishes."""
    if cwd and os.getcwd() != cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    for item in items:
        yield _run_one(fn, item)


@dataclass
class _Job:
    """One submitted task: its items, how many have come back, when the current one began."""

    items: List[Any]
    attempt: int = 0  # of items[0]; only single-item jobs are retries
    done: int = 0
    current_start: Optional[float] = None

    @property
    def current(self) -> Any:
        return self.items[self.done]

    @property
    def current_attempt(self) -> int:
        return self.attempt if self.done == 0 else 0


def remove_temp_dir(path: str, tries: int = 25) -> None:
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
    if _session_root is None:
        _session_root = tempfile.mkdtemp(prefix="avprep-ray-")
        atexit.register(remove_temp_dir, _session_root)
    else:  # the same path again: a new session may touch the last one's folder, keep it one
        os.makedirs(_session_root, mode=0o700, exist_ok=True)
    return _session_root


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """While inside, a cluster started by ``ray.init(_node_ip_address="127.0.0.1")`` listens on
    127.0.0.1 only.

    Ray binds its servers to every interface unless the node's address is 127.0.0.1, and it
    replaces a loopback ``_node_ip_address`` by the host's external address unless multi-node
    clusters are off. This turns them off while the cluster starts (its processes take the
    address they are given on their command lines): in this process (``ray_constants`` is read
    when the address is resolved) and in the environment the cluster's processes inherit. Both
    are restored on exit, so that a later ``ray.init`` joining a real cluster is not affected.
    """
    from ray._private import ray_constants

    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    saved_env = os.environ.get(SINGLE_NODE_ENV)
    ray_constants.ENABLE_RAY_CLUSTER = False
    os.environ[SINGLE_NODE_ENV] = "0"
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(SINGLE_NODE_ENV, None)
        else:
            os.environ[SINGLE_NODE_ENV] = saved_env


def on_loopback(address: str) -> bool:
    """Whether a ``host:port`` cluster address is on this machine's loopback interface.

    Such a cluster (one started with ``--node-ip-address 127.0.0.1``, or the private cluster of
    another run) is joined under :func:`loopback_only`: otherwise Ray would replace 127.0.0.1 by
    the host's external address, where that cluster does not listen.
    """
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(address: str, timeout: float = 10.0) -> None:
    """Raise :class:`InputError` when nothing listens at a ``host:port`` cluster address.

    Ray itself keeps retrying a wrong address for minutes; this answers in seconds. Addresses
    such as ``auto`` or ``ray://...`` are left to Ray.
    """
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise InputError(f"cannot join the Ray cluster at {address}: {err}") from None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("the ray engine needs Ray: pip install 'avprep[ray]'") from None
    return ray


class RayEngine:
    """Run items as Ray tasks on a local Ray cluster (started here) or on the one at ``address``."""

    name = "ray"

    def __init__(self, workers: int = 1, item_timeout: Optional[float] = None,
                 address: Optional[str] = None, max_retries: int = DEFAULT_MAX_RETRIES,
                 in_flight: Optional[int] = None, batch: Optional[int] = None):
        if workers < 1:
            raise InputError("the ray engine needs --workers 1 or more (tasks run at once)")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.workers = workers
        self.item_timeout = item_timeout if item_timeout and item_timeout > 0 else None
        self.address = address
        self.max_retries = max_retries
        #: tasks out at once; None: 2 * workers on a cluster started here (its CPU count caps
        #: what runs), ``workers`` on a joined cluster, so that ``workers`` bounds the parallelism
        self.in_flight = max(in_flight, 1) if in_flight else None
        if batch is not None and batch < 1:
            raise ValueError("batch must be >= 1")
        self.batch = batch
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
                check_address(address)
                try:
                    with loopback_only() if on_loopback(address) else contextlib.nullcontext():
                        ray.init(address=address, **quiet)
                except (ConnectionError, ValueError, RuntimeError) as err:
                    raise InputError(f"cannot join the Ray cluster at {address}: "
                                     f"{' '.join(str(err).split())}") from None
            else:
                self._temp_dir = session_root()
                with loopback_only():
                    ray.init(address="local", num_cpus=self.workers,
                             _node_ip_address="127.0.0.1",
                             object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                             _temp_dir=self._temp_dir, _system_config=LOCAL_SYSTEM_CONFIG,
                             **quiet)
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

    def batch_size(self, n_items: int) -> int:
        """Items per task: :attr:`batch` if set, else enough tasks for 4 per worker, at most
        :data:`MAX_AUTO_BATCH` items each."""
        if self.batch:
            return self.batch
        return max(1, min(MAX_AUTO_BATCH, n_items // (4 * self.workers)))

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Outcome]:
        """Run ``fn`` on the items in Ray tasks; yield one outcome per item as each finishes."""
        ray = self._connect()
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError

        task = ray.remote(num_cpus=1, max_retries=0)(_run_batch)
        fn_ref = ray.put(fn)
        cwd = os.getcwd()
        items = list(items)
        size = self.batch_size(len(items))
        capacity = max(1, min(self.workers, int(ray.cluster_resources().get("CPU", 1))))
        queue: Deque[_Job] = deque(_Job(items[i:i + size]) for i in range(0, len(items), size))
        running: "OrderedDict[Any, _Job]" = OrderedDict()
        limit = self.in_flight or (2 * self.workers if self.started_cluster else self.workers)

        def requeue_rest(job: _Job, first: int) -> None:
            if first < len(job.items):  # never started: a new task, not a retry
                queue.appendleft(_Job(job.items[first:]))

        try:
            while queue or running:
                while queue and len(running) < limit:
                    job = queue.popleft()
                    running[task.remote(fn_ref, job.items, cwd)] = job
                now = time.monotonic()
                # Tasks start roughly in submission order: the oldest `capacity` are running.
                for _, job in zip(range(capacity), running.values()):
                    if job.current_start is None:
                        job.current_start = now
                timeout = None
                if self.item_timeout is not None:
                    deadlines = [j.current_start + self.item_timeout for j in running.values()
                                 if j.current_start is not None]
                    timeout = max(0.0, min(deadlines) - now) if deadlines else None
                gens = list(running)
                ready, rest = ray.wait(gens, num_returns=1, timeout=timeout)
                if ready and rest:
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    ready += more
                for gen in ready:
                    job = running[gen]
                    try:
                        ok, payload = ray.get(next(gen))
                    except StopIteration:  # the task ended
                        del running[gen]
                        requeue_rest(job, job.done)
                        continue
                    except TaskCancelledError:
                        continue
                    except RayTaskError as err:  # the task itself failed (fn not importable...)
                        del running[gen]
                        yield Outcome(job.current, error=" ".join(str(err).split())[:500])
                        requeue_rest(job, job.done + 1)
                        continue
                    except RayError as err:  # its worker or node died: run that item again
                        del running[gen]
                        attempt = job.current_attempt
                        if attempt < self.max_retries:
                            self.retries += 1
                            queue.appendleft(_Job([job.current], attempt=attempt + 1))
                        else:
                            yield Outcome(job.current, error=f"worker process died "
                                          f"{attempt + 1} times ({type(err).__name__})")
                        requeue_rest(job, job.done + 1)
                        continue
                    item = job.current
                    job.done += 1
                    job.current_start = time.monotonic()
                    yield Outcome(item, value=payload) if ok else Outcome(item, error=payload)
                if self.item_timeout is not None:
                    now = time.monotonic()
                    late = [gen for gen, job in running.items() if job.current_start is not None
                            and now - job.current_start >= self.item_timeout]
                    for gen in late:
                        job = running.pop(gen)
                        ray.cancel(gen, force=True)
                        yield Outcome(job.current,
                                      error=f"timed out after {self.item_timeout:g} s")
                        requeue_rest(job, job.done + 1)
        finally:
            for gen in running:
                ray.cancel(gen, force=True)


__all__ = ["RayEngine", "check_address", "loopback_only", "on_loopback", "remove_temp_dir",
           "session_root", "DEFAULT_MAX_RETRIES", "LOCAL_OBJECT_STORE_BYTES", "LOCAL_SYSTEM_CONFIG",
           "MAX_AUTO_BATCH", "SINGLE_NODE_ENV"]
