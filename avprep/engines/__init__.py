"""Execution engines: run a top-level function over work items, yielding outcomes as they finish.

An engine has ``map(fn, items) -> Iterator[Outcome]`` and ``close()``. ``fn`` is a picklable
top-level function and each item and result is picklable, so an engine may run them in this
process, in local worker processes (:mod:`avprep.engines.local`), or on a cluster (:mod:`avprep.engines.ray`). An engine
yields exactly one :class:`Outcome` per item, in any order; when the work itself could not run (a
worker crashed or ran past its time) the outcome carries ``error`` instead of ``value``.

To add an engine, put a class with that interface in a module here and name it in :data:`ENGINES`
(``"ray": "avprep.engines.ray:RayEngine"``); its constructor takes ``workers`` and
``item_timeout`` as keywords and it has the attributes of :class:`Engine`.
"""

from __future__ import annotations

import importlib
import inspect
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Protocol

from avprep.errors import InputError

#: engine name -> "module:Class"
ENGINES = {
    "local": "avprep.engines.local:LocalEngine",
    "ray": "avprep.engines.ray:RayEngine",
}


@dataclass
class Outcome:
    """The result of one item: ``value`` when ``fn`` returned, else ``error`` saying why not."""

    item: Any
    value: Any = None
    error: Optional[str] = None


class Engine(Protocol):
    """What the batch runner needs from an execution engine."""

    #: items per unit of work sent to a worker (None: the engine chooses)
    batch: Optional[int]
    #: items run again because their worker died, over the engine's life
    retries: int

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Outcome]:
        """Run ``fn`` on every item; yield one :class:`Outcome` per item as each finishes."""

    def close(self) -> None:
        """Release workers and other resources."""


def error_reason(err: BaseException) -> str:
    """Why ``fn`` raised, for an outcome: ``Type: message at function:line`` (the raising line)."""
    last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
    where = f" at {last[0].name}:{last[0].lineno}" if last else ""
    return f"{type(err).__name__}: {err}{where}"


def engine_names() -> list:
    """Names accepted by :func:`get_engine`."""
    return sorted(ENGINES)


def check_engine_args(engine: str, workers: int, address: Optional[str]) -> None:
    """Raise :class:`InputError` for an unknown engine, ``address`` without the ray engine, or
    a worker count the engine cannot use; no cluster is contacted except to see that something
    listens at ``address``."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; known: {', '.join(engine_names())}")
    if address is not None and engine != "ray":
        raise InputError("--address needs --engine ray")
    if engine == "ray":
        if workers < 1:
            raise InputError("the ray engine needs --workers 1 or more (tasks run at once)")
        if address is not None:
            from avprep.engines.ray import check_address

            check_address(address)


def get_engine(name: str, workers: int, item_timeout: Optional[float] = None,
               address: Optional[str] = None) -> Engine:
    """Build the engine called ``name`` with ``workers`` workers and a per-item time limit.

    ``address`` (a cluster to join) goes to engines that take one; other engines refuse it.
    """
    try:
        target = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(engine_names())}") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if address is None:
        return cls(workers=workers, item_timeout=item_timeout)
    if "address" not in inspect.signature(cls).parameters:
        raise ValueError(f"engine {name!r} does not take an address")
    return cls(workers=workers, item_timeout=item_timeout, address=address)
