"""The local engine with real worker processes: results, raised errors, crashes and time limits."""

from __future__ import annotations

import os
import signal
import time

import pytest

from avprep.engines import get_engine
from avprep.engines.local import LocalEngine


def work(item):
    """A top-level work function (picklable for spawned workers)."""
    if item == "raise":
        raise ValueError("bad item")
    if item == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if item == "exit":
        os._exit(3)
    if item == "hang":
        time.sleep(60)
    return item * 2


def _by_item(outcomes):
    out = {}
    for outcome in outcomes:
        assert outcome.item not in out, "one outcome per item"
        out[outcome.item] = outcome
    return out


def test_pool_survives_errors_crashes_and_hangs():
    engine = LocalEngine(workers=2, item_timeout=3)
    items = [1, "raise", 2, "segfault", 3, "exit", "hang", 4, 5]
    start = time.monotonic()
    got = _by_item(engine.map(work, items))
    assert time.monotonic() - start < 50  # the hung item was stopped, not waited for
    assert set(got) == set(items)
    for i in (1, 2, 3, 4, 5):
        assert got[i].error is None and got[i].value == 2 * i
    assert "ValueError: bad item" in got["raise"].error
    assert "died" in got["segfault"].error and "-11" in got["segfault"].error
    assert "died" in got["exit"].error and "3" in got["exit"].error
    assert "timed out after 3 s" in got["hang"].error


def test_inline_engine_runs_in_this_process():
    engine = get_engine("local", workers=0)
    got = _by_item(engine.map(work, [1, "raise", 2]))
    assert got[1].value == 2 and got[2].value == 4
    assert "ValueError" in got["raise"].error


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="unknown engine"):
        get_engine("nope", workers=1)
