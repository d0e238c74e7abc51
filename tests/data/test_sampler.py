"""Balanced and distributed samplers: proportional draws, determinism, equal slices, weight checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avprep.data import BalancedSampler, DistributedBalancedSampler
from avprep.errors import InputError
from avprep.lists import read_list
from helpers import REF, SAMPLES


def test_balanced_sampler_follows_weights():
    weights = np.array([1.0, 2.0, 3.0, 0.0, 4.0])
    sampler = BalancedSampler(weights, num_samples=50000, seed=3)
    drawn = np.array(list(sampler))
    assert len(drawn) == len(sampler) == 50000
    freq = np.bincount(drawn, minlength=5) / len(drawn)
    expected = weights / weights.sum()
    assert freq[3] == 0  # weight 0 never drawn
    # binomial std of each frequency is at most sqrt(0.25 / 50000) = 0.0022; allow 4 sigma
    assert np.abs(freq - expected).max() < 0.009


def test_balanced_sampler_default_length_and_determinism():
    weights = torch.rand(100, generator=torch.Generator().manual_seed(0)) + 0.1
    a, b = BalancedSampler(weights, seed=7), BalancedSampler(weights, seed=7)
    assert len(a) == 100
    assert list(a) == list(b) == list(a)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(BalancedSampler(weights, seed=8)) != list(BalancedSampler(weights, seed=7))


def test_matches_weighted_random_sampler_distribution():
    """Same law as torch's WeightedRandomSampler (SPEC 3): compare class frequencies."""
    weights = torch.tensor([0.5, 5.0, 1.0, 2.5])
    ours = np.bincount(list(BalancedSampler(weights, num_samples=40000, seed=1)), minlength=4)
    torch_sampler = torch.utils.data.WeightedRandomSampler(
        weights, 40000, replacement=True, generator=torch.Generator().manual_seed(1))
    theirs = np.bincount(list(torch_sampler), minlength=4)
    assert np.abs(ours - theirs).max() / 40000 < 0.012


@pytest.mark.parametrize("world,total", [(2, 1000), (3, 1000), (4, 7)])
def test_distributed_slices_partition_one_global_draw(world, total):
    weights = np.linspace(1, 5, 50)
    samplers = [DistributedBalancedSampler(weights, world, r, num_samples=total, seed=5)
                for r in range(world)]
    per_rank = -(-total // world)
    slices = [list(s) for s in samplers]
    assert all(len(s) == per_rank == len(sl) for s, sl in zip(samplers, slices))
    # interleaving the ranks' slices gives back one single-process draw of the padded total
    merged = [slices[i % world][i // world] for i in range(per_rank * world)]
    single = list(BalancedSampler(weights, num_samples=per_rank * world, seed=5))
    assert merged == single


def test_distributed_epochs_and_env(monkeypatch):
    weights = np.ones(40)
    s = DistributedBalancedSampler(weights, 2, 1, seed=0)
    first = list(s)
    s.set_epoch(3)
    assert list(s) != first
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    env = DistributedBalancedSampler(weights)
    assert (env.num_replicas, env.rank, len(env)) == (4, 2, 10)
    with pytest.raises(InputError):
        DistributedBalancedSampler(weights, 2, 2)


def test_distributed_ranks_together_follow_weights():
    weights = np.array([1.0, 3.0, 6.0])
    counts = np.zeros(3)
    for r in range(4):
        counts += np.bincount(list(DistributedBalancedSampler(weights, 4, r, num_samples=40000,
                                                              seed=2)), minlength=3)
    assert np.abs(counts / counts.sum() - weights / 10).max() < 0.01


def test_released_weight_csv_checked_against_list(tmp_path):
    csv = REF / "sample_json_as_weight.csv"
    data = read_list(SAMPLES / "sample_json_as.json")
    sampler = BalancedSampler(csv, data=data)
    assert len(sampler) == len(data)
    assert sampler.weights.dtype == torch.float64
    # the list path works too
    assert len(BalancedSampler(csv, data=SAMPLES / "sample_json_as.json")) == len(data)
    # a list one entry shorter: an error, not a truncation
    entries = json.loads((SAMPLES / "sample_json_as.json").read_text())["data"][:-1]
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"data": entries}))
    with pytest.raises(InputError, match=f"{len(data)} sample weights for {len(data) - 1}"):
        BalancedSampler(csv, data=short)
    with pytest.raises(InputError, match="sample weights for"):
        DistributedBalancedSampler(csv, 2, 0, data=read_list(short))


@pytest.mark.parametrize("bad", [[], [1.0, -1.0], [0.0, 0.0], [1.0, float("nan")]])
def test_bad_weights_rejected(bad):
    with pytest.raises(InputError):
        BalancedSampler(bad)
