"""Shared test fixtures: the real clips in ../shared/fixtures, their reference outputs, a Ray
session. Other shared pieces are plain functions in :mod:`helpers`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import CLIPS, REF, ROOT, SAMPLES  # noqa: F401 (ROOT: for older imports)

os.environ.setdefault("AVPREP_PROGRESS", "0")


@pytest.fixture(scope="session")
def samples() -> Path:
    """Folder of the real fixture clips, label CSV and sample list."""
    assert SAMPLES.is_dir(), f"fixtures not found at {SAMPLES}"
    return SAMPLES


@pytest.fixture(scope="session")
def ref() -> Path:
    """Folder of what the original CAV-MAE pipeline produced from the fixture clips."""
    return REF


@pytest.fixture(scope="session")
def fixture_clips() -> dict:
    """video id -> path of each real fixture clip."""
    return dict(CLIPS)


@pytest.fixture(scope="module")
def ray_session(request):
    """One local Ray session for the requesting test file, as a user's own ``ray.init`` would be;
    yields its address. The file's own helpers are pickled by value (Ray's workers cannot import a
    test module)."""
    import logging

    import ray

    from avprep.engines.ray import (LOCAL_SYSTEM_CONFIG, loopback_only, remove_temp_dir,
                                          session_root)

    temp = session_root()
    with loopback_only():
        ray.init(address="local", num_cpus=2, include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=False, logging_level=logging.ERROR,
                 object_store_memory=100 * 2**20, _temp_dir=temp,
                 _system_config=LOCAL_SYSTEM_CONFIG)
    ray.cloudpickle.register_pickle_by_value(request.module)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    remove_temp_dir(temp)
