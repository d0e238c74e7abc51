"""Shared test fixtures: the real clips in ../shared/fixtures and clips synthesized with ffmpeg."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "fixtures" / "cavmae-samples"
REF = SAMPLES / "ref"
CLIPS = {
    "00W1lcxW-WU_40.000": SAMPLES / "00W1lcxW-WU_40.000.mp4",
    "KlsG1EnBEjc_000361": SAMPLES / "KlsG1EnBEjc_000361.mp4",
    "Vp9OpusClip_20.000": SAMPLES / "Vp9OpusClip_20.000.webm",
}

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
