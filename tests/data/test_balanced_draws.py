"""Balanced sampling draws with replacement: every draw of a clip gets its own augmentation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from avprep.data import AudiosetDataset, BalancedSampler, DistributedBalancedSampler, Draw
from helpers import LABEL_CSV
from helpers.media import fixture_entries, write_list

CONF = {"mode": "train", "mixup": 0.5, "freqm": 48, "timem": 192, "noise": True,
        "target_length": 256, "seed": 11}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = write_list(tmp_path_factory.mktemp("draws") / "list.json", fixture_entries())
    return AudiosetDataset(str(path), CONF, str(LABEL_CSV))


def _epoch(dataset, sampler, workers):
    loader = DataLoader(dataset, batch_size=4, sampler=sampler, num_workers=workers)
    fbank, image = zip(*[(a, v) for a, v, _ in loader])
    return torch.cat(fbank), torch.cat(image)


def test_two_draws_of_one_clip_differ_and_workers_do_not_matter(dataset):
    sampler = BalancedSampler([1.0, 2.0, 1.0], num_samples=8, seed=5)  # 8 draws of 3 clips
    sampler.set_epoch(1)
    dataset.set_epoch(1)
    drawn = [int(i) for i in sampler]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count: sums in the same order
    try:
        fbank, image = _epoch(dataset, sampler, 0)
    finally:
        torch.set_num_threads(threads)
    repeats = [(p, q) for q in range(len(drawn)) for p in range(q) if drawn[p] == drawn[q]]
    assert repeats  # 8 draws of 3 clips repeat
    for p, q in repeats:  # noise, roll, masks, mixup and frame are drawn anew
        assert (fbank[p] - fbank[q]).abs().max() > 0.05, (p, q)
    # the same numbers with 2 workers, and again for the same epoch
    fbank2, image2 = _epoch(dataset, sampler, 2)
    torch.testing.assert_close(fbank2, fbank, atol=1e-4, rtol=0)
    torch.testing.assert_close(image2, image, atol=1e-6, rtol=0)
    # a plain index (no sampler position) keeps the (seed, epoch, index) choices
    assert torch.equal(dataset[drawn[0]][0], dataset[drawn[0]][0])


def test_draws_carry_their_global_position():
    weights = np.array([1.0, 3.0, 2.0, 0.5, 1.5])
    single = list(BalancedSampler(weights, num_samples=10, seed=2))
    assert [d.position for d in single] == list(range(10))
    ranks = [list(DistributedBalancedSampler(weights, 2, r, num_samples=10, seed=2))
             for r in range(2)]
    assert [d.position for d in ranks[1]] == [1, 3, 5, 7, 9]
    merged = sorted(ranks[0] + ranks[1], key=lambda d: d.position)
    assert [int(d) for d in merged] == [int(d) for d in single]  # the same draw, split
    d = pickle.loads(pickle.dumps(single[3]))
    assert isinstance(d, Draw) and d == int(single[3]) and d.position == 3
