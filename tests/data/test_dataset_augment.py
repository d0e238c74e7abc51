"""Train-mode augmentations: each one's statistics and shapes, and seeded reproducibility."""

from __future__ import annotations


import numpy as np
import pytest
import soundfile
import torch
import torchaudio
from torch.utils.data import DataLoader

from avprep.data import AudiosetDataset, AugmentPlan, AVConfig, AVDataset
from avprep.data.augment import (apply_noise, draw_plan, label_vector,
                                 mixed_label_vector, noise_tensor)
from avprep.data.image import load_image
from helpers import REF, SAMPLES
from helpers.media import fixture_entries, write_list

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
PAD = 5.081 / 4.4849  # a zero raw value after normalization


@pytest.fixture(scope="module")
def ref_list_path(tmp_path_factory):
    path = write_list(tmp_path_factory.mktemp("aug") / "list.json", fixture_entries())
    return path


@pytest.fixture(scope="module")
def clean(ref_list_path):
    """Eval-mode (no augmentation) samples of frame 5."""
    ds = AVDataset(ref_list_path, LABEL_CSV, AVConfig(mode="eval"))
    return [ds[i] for i in range(len(ds))]


def plans(config: AVConfig, n: int = 4000, size: int = 100):
    return [draw_plan(config, size, np.random.default_rng([9, i])) for i in range(n)]


def test_train_frame_is_uniform_and_used(ref_list_path):
    frames = np.array([p.frame for p in plans(AVConfig(mode="train"))])
    counts = np.bincount(frames, minlength=10)
    assert frames.min() == 0 and frames.max() == 9
    assert np.abs(counts / len(frames) - 0.1).max() < 0.02  # 4000 draws: std 0.0047
    assert all(p.frame == 5 for p in plans(AVConfig(mode="eval"), 50))
    assert all(p.frame == 3 for p in plans(AVConfig(mode="eval", frame_use=3), 50))
    ds = AVDataset(ref_list_path, LABEL_CSV, AVConfig(mode="train", seed=4))
    for index in range(3):
        frame = ds.builder.plan(index, 0).frame
        expected = load_image(REF / "frames" / f"frame_{frame}" / f"{ds[index].video_id}.jpg")
        assert torch.equal(ds[index].image, expected)


def test_mixup_rate_and_beta_lambda():
    drawn = plans(AVConfig(mixup=0.5), n=6000)
    mixed = [p for p in drawn if p.mix_index is not None]
    assert abs(len(mixed) / len(drawn) - 0.5) < 0.03
    lam = np.array([p.mix_lambda for p in mixed])
    # Beta(10, 10): mean 0.5, variance 100 / (400 * 21) = 0.0119
    assert abs(lam.mean() - 0.5) < 0.01
    assert abs(lam.var() - 100 / 8400) < 0.0015
    assert 0 < lam.min() and lam.max() < 1
    partners = np.array([p.mix_index for p in mixed])
    assert partners.min() >= 0 and partners.max() == 99
    assert all(p.mix_index is None for p in plans(AVConfig(mixup=0.0), 200))


def _expected_mix_fbank(wav1, wav2, lam):
    a, _ = soundfile.read(wav1, dtype="float32")
    b, _ = soundfile.read(wav2, dtype="float32")
    a, b = torch.from_numpy(a - a.mean())[None], torch.from_numpy(b - b.mean())[None]
    b = torch.nn.functional.pad(b, (0, max(0, a.shape[1] - b.shape[1])))[:, :a.shape[1]]
    mix = lam * a + (1 - lam) * b
    mix = mix - mix.mean()
    fb = torchaudio.compliance.kaldi.fbank(mix, htk_compat=True, sample_frequency=16000,
                                           use_energy=False, window_type="hanning",
                                           num_mel_bins=128, dither=0.0, frame_shift=10)
    fb = torch.nn.functional.pad(fb, (0, 0, 0, 1024 - fb.shape[0]))
    return (fb + 5.081) / 4.4849


def test_mixup_mixes_waveforms_images_and_labels(ref_list_path, clean):
    ds = AVDataset(ref_list_path, LABEL_CSV, AVConfig(mode="eval", mixup=1.0, seed=11))
    checked = 0
    for index in range(3):
        plan = ds.builder.plan(index, 0)
        j = plan.mix_index
        if j == index:
            continue
        sample = ds[index]
        lam = plan.mix_lambda
        wav = lambda k: str(REF / "audio" / f"{clean[k].video_id}.wav")  # noqa: E731
        expected = _expected_mix_fbank(wav(index), wav(j), lam)
        diff = (sample.fbank - expected).abs()
        assert diff.max() <= 5e-2 and diff.mean() <= 1e-4  # waveform-level mix, parity rule
        # mixing fbanks instead would be far off
        assert (sample.fbank - (lam * clean[index].fbank + (1 - lam) * clean[j].fbank)).abs().mean() > 1e-2
        assert torch.allclose(sample.image, lam * clean[index].image + (1 - lam) * clean[j].image,
                              atol=1e-6)
        assert torch.allclose(sample.label, lam * clean[index].label + (1 - lam) * clean[j].label,
                              atol=1e-6)
        assert abs(float(sample.label.sum()) - (lam * clean[index].label.sum()
                                                + (1 - lam) * clean[j].label.sum())) < 1e-5
        checked += 1
    assert checked >= 1


def test_fbanks_are_the_original_recipe_exactly(ref_list_path, clean):
    """Plain and mixed: each waveform's mean removed, mixed, the mix's mean removed, then fbank
    (the same operations in the same order, so equal to the last bit)."""
    from avprep.features import centred_fbank, fbank, load_wav, pad_or_cut
    ds = AVDataset(ref_list_path, LABEL_CSV, AVConfig(mode="eval", mixup=1.0, seed=11,
                                                      skip_norm=True))
    plain = AVDataset(ref_list_path, LABEL_CSV, AVConfig(mode="eval", skip_norm=True))
    checked = 0
    for index in range(3):
        w, rate = load_wav(REF / "audio" / f"{clean[index].video_id}.wav")
        assert torch.equal(plain[index].fbank, pad_or_cut(fbank(w - w.mean(), rate)))
        assert torch.equal(centred_fbank(w, rate), fbank(w - w.mean(), rate))
        plan = ds.builder.plan(index, 0)
        j = plan.mix_index
        if j == index:
            continue
        other, _ = load_wav(REF / "audio" / f"{clean[j].video_id}.wav")
        a, b = w - w.mean(), other - other.mean()
        b = torch.nn.functional.pad(b, (0, max(0, a.shape[-1] - b.shape[-1])))[..., :a.shape[-1]]
        mix = plan.mix_lambda * a + (1 - plan.mix_lambda) * b
        assert torch.equal(ds[index].fbank, pad_or_cut(fbank(mix - mix.mean(), rate)))
        checked += 1
    assert checked >= 1


def test_mixup_second_waveform_padded_or_cut():
    from avprep.data.augment import blend_waveforms
    from avprep.features import remove_mean
    first = torch.ones(1, 10)
    first = first - first.mean()
    short = torch.arange(4, dtype=torch.float32)[None]
    out = remove_mean(blend_waveforms(torch.arange(10, dtype=torch.float32)[None], short, 0.5))
    assert out.shape == (1, 10) and abs(float(out.mean())) < 1e-6
    assert blend_waveforms(short, torch.arange(10, dtype=torch.float32)[None], 0.5).shape == (1, 4)


@pytest.mark.parametrize("freqm,timem", [(48, 192), (24, 0), (0, 96)])
def test_specaugment_mask_statistics(freqm, timem):
    drawn = plans(AVConfig(freqm=freqm, timem=timem))
    for param, size, attr in ((freqm, 128, "freq_mask"), (timem, 1024, "time_mask")):
        masks = [getattr(p, attr) for p in drawn]
        if param == 0:
            assert all(m is None for m in masks)
            continue
        widths = np.array([0 if m is None else m[1] - m[0] for m in masks])
        # width = floor(U * param): uniform over 0..param-1
        assert widths.min() == 0 and widths.max() == param - 1
        assert abs(widths.mean() - (param - 1) / 2) < 0.06 * param
        assert all(0 <= m[0] and m[1] <= size for m in masks if m is not None)


def test_specaugment_zeroes_band_before_normalization(ref_list_path, clean):
    ds = AVDataset(ref_list_path, LABEL_CSV, AVConfig(mode="eval", freqm=48, timem=192, seed=2))
    for index in range(3):
        plan = ds.builder.plan(index, 0)
        out = ds[index].fbank
        assert out.shape == (1024, 128)
        mask = torch.zeros(1024, 128, dtype=torch.bool)
        if plan.freq_mask:
            mask[:, plan.freq_mask[0]:plan.freq_mask[1]] = True
        if plan.time_mask:
            mask[plan.time_mask[0]:plan.time_mask[1], :] = True
        assert torch.allclose(out[mask], torch.full_like(out[mask], PAD))
        assert torch.equal(out[~mask], clean[index].fbank[~mask])
        assert mask.any()


def test_noise_and_roll(ref_list_path, clean):
    drawn = plans(AVConfig(noise=True, target_length=1024))
    rolls = np.array([p.roll for p in drawn])
    scales = np.array([p.noise_scale for p in drawn])
    assert rolls.min() >= -1024 and rolls.max() < 1024 and abs(rolls.mean()) < 40
    assert scales.min() >= 0 and scales.max() < 1 and abs(scales.mean() - 0.5) < 0.03
    ds = AVDataset(ref_list_path, LABEL_CSV, AVConfig(mode="eval", noise=True, seed=5))
    for index in range(3):
        plan = ds.builder.plan(index, 0)
        out = ds[index].fbank
        added = torch.roll(out, -plan.roll, 0) - clean[index].fbank
        # uniform noise in [0, scale / 10): mean scale / 20, variance (scale / 10)^2 / 12
        assert float(added.min()) >= 0 and float(added.max()) < plan.noise_scale / 10 + 1e-6
        assert abs(float(added.mean()) - plan.noise_scale / 20) < 0.01 * plan.noise_scale / 10
        assert torch.equal(out, apply_noise(clean[index].fbank, plan))


def test_noise_tensor_is_seeded_uniform():
    a, b = noise_tensor((1024, 128), 3), noise_tensor((1024, 128), 3)
    assert torch.equal(a, b) and not torch.equal(a, noise_tensor((1024, 128), 4))
    assert 0 <= float(a.min()) and float(a.max()) < 1 and abs(float(a.mean()) - 0.5) < 0.01


def test_label_smoothing(ref_list_path):
    ds = AudiosetDataset(str(ref_list_path), {"mode": "eval", "label_smooth": 0.1},
                         str(LABEL_CSV))
    label = ds[0][2]
    ref = np.load(REF / "arrays" / "00W1lcxW-WU_40.000.label.npy")
    pos = ref == 1
    assert torch.allclose(label[pos], torch.full((int(pos.sum()),), 0.9))
    assert torch.allclose(label[~pos], torch.full((int((~pos).sum()),), 0.1 / 527))
    mixed = mixed_label_vector(4, [0, 1], [1], 0.7, smooth=0.2)
    assert torch.allclose(mixed, torch.tensor([0.05 + 0.7 * 0.8, 0.05 + 0.8, 0.05, 0.05]))
    assert torch.equal(label_vector(3, [2]), torch.tensor([0.0, 0.0, 1.0]))


def test_seeded_samples_reproducible_across_workers_and_epochs(ref_list_path):
    conf = {"mode": "train", "mixup": 0.5, "freqm": 48, "timem": 192, "noise": True,
            "label_smooth": 0.1, "seed": 123}
    ds = AudiosetDataset(str(ref_list_path), conf, str(LABEL_CSV))
    # DataLoader workers run torch on one thread; a multi-threaded mean or matmul may sum in another
    # order, so compare at the workers' thread count
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = [ds[i] for i in range(3)]
    finally:
        torch.set_num_threads(threads)
    again = AudiosetDataset(str(ref_list_path), conf, str(LABEL_CSV))
    for i in range(3):
        assert all(torch.allclose(a, b, atol=1e-4, rtol=0) for a, b in zip(single[i], again[i]))
    batch = next(iter(DataLoader(ds, batch_size=3, num_workers=2)))
    for k in range(3):
        assert torch.equal(batch[k], torch.stack([s[k] for s in single]))
    ds.set_epoch(1)
    assert (ds[0][0] - single[0][0]).abs().max() > 0.1
    ds.set_epoch(0)
    assert (ds[0][0] - single[0][0]).abs().max() <= 1e-4


def test_plan_tensor_round_trip():
    plan = AugmentPlan(frame=3, freq_mask=(5, 20), time_mask=(100, 150), noise_scale=0.25,
                       noise_seed=2 ** 50 + 3, roll=-17)
    back = AugmentPlan.fbank_part(plan.as_tensor())
    assert (back.freq_mask, back.time_mask, back.noise_scale, back.noise_seed, back.roll) == \
        (plan.freq_mask, plan.time_mask, plan.noise_scale, plan.noise_seed, plan.roll)
    assert AugmentPlan.fbank_part(AugmentPlan(frame=0).as_tensor()).noise_scale is None
