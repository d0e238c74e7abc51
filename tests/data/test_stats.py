"""Normalization statistics: the original's batch-averaged definition, computed in parallel."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from avprep.cli import main
from avprep.features import pad_or_cut, wav_fbank
from avprep.data.stats import combine, dataset_stats, fbank_moments, stats_from_moments
from avprep.store import pack
from helpers.media import fixture_entries, make_media, write_list


@pytest.fixture(scope="module")
def entries(tmp_path_factory):
    media = tmp_path_factory.mktemp("media")
    made = [make_media(media, f"s_{i}", seconds=s, seed=40 + i)
            for i, s in enumerate((0.5, 3.0, 12.0, 0.01))]
    return fixture_entries() + made


def original_recipe(wavs, batch_size, target_length=1024):
    """What the original script does: torch.mean / torch.std per batch, then np.mean."""
    means, stds = [], []
    for start in range(0, len(wavs), batch_size):
        batch = torch.stack([pad_or_cut(wav_fbank(w), target_length)
                             for w in wavs[start:start + batch_size]])
        means.append(torch.mean(batch))
        stds.append(torch.std(batch))
    return float(np.mean(means)), float(np.mean(stds))


@pytest.mark.parametrize("batch_size", [1, 3, 100])
def test_matches_the_original_recipe(tmp_path, entries, batch_size):
    listing = write_list(tmp_path / "l.json", entries)
    stats = dataset_stats(listing, batch_size=batch_size)
    mean, std = original_recipe([e["wav"] for e in entries], batch_size)
    # the recipe sums in float32, avprep in float64: agree to float32 precision
    assert stats.mean == pytest.approx(mean, rel=1e-5)
    assert stats.std == pytest.approx(std, rel=1e-5)
    assert stats.clips == len(entries) and stats.batches == math.ceil(len(entries) / batch_size)
    assert not stats.failures


def test_pooled_figures_are_plain_mean_and_std(tmp_path, entries):
    stats = dataset_stats(write_list(tmp_path / "l.json", entries), batch_size=2)
    every = np.concatenate([pad_or_cut(wav_fbank(e["wav"]), 1024).numpy().ravel()
                            for e in entries]).astype(np.float64)
    assert stats.pooled_mean == pytest.approx(every.mean(), rel=1e-12)
    assert stats.pooled_std == pytest.approx(every.std(ddof=1), rel=1e-12)


def test_combine_is_exact_pairwise_update():
    rng = np.random.default_rng(0)
    a, b = rng.normal(3, 2, 1000), rng.normal(-5, 4, 300)
    n, m, q = combine(fbank_moments(a), fbank_moments(b))
    both = np.concatenate([a, b])
    assert n == 1300
    assert m == pytest.approx(both.mean(), rel=1e-12)
    assert q / (n - 1) == pytest.approx(both.var(ddof=1), rel=1e-12)


def test_workers_and_pack_give_the_same_result(tmp_path, entries):
    listing = write_list(tmp_path / "l.json", entries[:5])
    one = dataset_stats(listing, batch_size=2)
    two = dataset_stats(listing, batch_size=2, workers=2, chunk=2)
    assert (two.mean, two.std, two.pooled_std) == (one.mean, one.std, one.pooled_std)
    packed = pack(listing, tmp_path / "p", fbank="float32").folder
    from_pack = dataset_stats(packed, batch_size=2, workers=2, chunk=2)
    assert (from_pack.mean, from_pack.std) == (one.mean, one.std)
    unpacked_fbank = pack(listing, tmp_path / "q").folder
    assert dataset_stats(unpacked_fbank, batch_size=2).std == one.std


def test_unreadable_clips_left_out_and_cli(tmp_path, entries, capsys):
    broken = dict(entries[0], video_id="broken", wav=str(tmp_path / "broken.wav"))
    listing = write_list(tmp_path / "l.json", entries[:2] + [broken])
    out = tmp_path / "stats.json"
    assert main(["stats", str(listing), "--json", str(out), "--batch-size", "2"]) == 1
    captured = capsys.readouterr()
    assert "entry 2 (broken)" in captured.err and "not found" in captured.err
    obj = json.loads(out.read_text())
    expected = stats_from_moments([fbank_moments(pad_or_cut(wav_fbank(e["wav"]), 1024))
                                   for e in entries[:2]], batch_size=2)
    assert obj["mean"] == pytest.approx(expected.mean, rel=1e-12)
    assert obj["std"] == pytest.approx(expected.std, rel=1e-12)
    assert obj["clips"] == 2 and obj["failures"][0]["video_id"] == "broken"
    assert f"mean {expected.mean:.4f} std {expected.std:.4f}" in captured.out
    good = write_list(tmp_path / "g.json", entries[:2])
    assert main(["stats", str(good)]) == 0
