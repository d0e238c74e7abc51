"""AudiosetDataset eval-mode output against the original loader's arrays in ref/arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from avprep.data import (AudiosetDataset, AVConfig, AVDataset, AVSample, BatchFbank,
                         collate_waveforms)
from helpers import REF, SAMPLES

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
PAD = 5.081 / 4.4849  # a zero raw value after normalization
EVAL_CONF = {"num_mel_bins": 128, "target_length": 1024, "freqm": 0, "timem": 0, "mixup": 0,
             "dataset": "audioset", "mode": "eval", "mean": -5.081, "std": 4.4849,
             "noise": False, "label_smooth": 0, "im_res": 224}


def ref_list(tmp_path):
    """A released-format list of the reference clips, pointing at the ref folder."""
    clips = json.loads((REF / "clips.json").read_text())
    entries = [{"video_id": c["video_id"], "wav": str(REF / "audio" / f"{c['video_id']}.wav"),
                "video_path": str(REF / "frames"), "labels": c["labels"]} for c in clips]
    path = tmp_path / "ref_list.json"
    path.write_text(json.dumps({"data": entries}, indent=1))
    return path, [c["video_id"] for c in clips]


def assert_fbank_parity(ours: np.ndarray, video_id: str) -> None:
    """SPEC 3's rule, in normalized units."""
    ref = np.load(REF / "arrays" / f"{video_id}.fbank.npy")
    raw = np.load(REF / "arrays" / f"{video_id}.fbank_raw.npy")
    diff = np.abs(ours - ref)
    assert diff[raw > -10].max() <= 2e-3
    assert diff.max() <= 5e-2
    assert diff.mean() <= 1e-4


@pytest.fixture(scope="module")
def ref_dataset(tmp_path_factory):
    path, ids = ref_list(tmp_path_factory.mktemp("list"))
    return AudiosetDataset(str(path), EVAL_CONF, str(LABEL_CSV)), ids


def test_eval_items_match_reference(ref_dataset):
    ds, ids = ref_dataset
    assert len(ds) == ds.num_samples == 3 and ds.label_num == 527
    for i, video_id in enumerate(ids):
        fbank, image, label = ds[i]
        for t, shape in ((fbank, (1024, 128)), (image, (3, 224, 224)), (label, (527,))):
            assert t.dtype == torch.float32 and tuple(t.shape) == shape
        assert_fbank_parity(fbank.numpy(), video_id)
        assert np.abs(image.numpy() - np.load(REF / "arrays" / f"{video_id}.image.npy")).max() <= 1e-3
        assert np.array_equal(label.numpy(), np.load(REF / "arrays" / f"{video_id}.label.npy"))
        # padding rows: 0 before normalization, (0 + 5.081) / 4.4849 after
        assert torch.allclose(fbank[-1], torch.full((128,), 5.081 / 4.4849))
    assert sum(ds.substitutions.values()) == 0


def test_defaults_are_the_published_eval_settings(ref_dataset):
    ds, _ = ref_dataset
    minimal = AudiosetDataset(ds.datapath, {"mode": "eval"}, str(LABEL_CSV))
    for i in range(len(ds)):
        assert all(torch.equal(a, b) for a, b in zip(ds[i], minimal[i]))


def test_avdataset_shares_the_numbers(ref_dataset):
    ds, ids = ref_dataset
    av = AVDataset(ds.datapath, LABEL_CSV, AVConfig(mode="eval"))
    sample = av[2]
    assert isinstance(sample, AVSample) and sample.video_id == ids[2] and sample.index == 2
    fbank, image, label = ds[2]
    assert torch.equal(sample.fbank, fbank) and torch.equal(sample.image, image)
    assert torch.equal(sample.label, label)


def test_frame_use_and_skip_norm(ref_dataset):
    ds, ids = ref_dataset
    other = AudiosetDataset(ds.datapath, {"mode": "eval", "frame_use": 2, "skip_norm": True},
                            str(LABEL_CSV))
    fbank, image, _ = other[0]
    from avprep.data.image import load_image
    assert torch.equal(image, load_image(REF / "frames" / "frame_2" / f"{ids[0]}.jpg"))
    raw = np.load(REF / "arrays" / f"{ids[0]}.fbank_raw.npy")
    assert np.abs(fbank.numpy() - raw)[raw > -10].max() <= 2e-3 * 4.4849


def test_dataloader_workers_give_the_same_batches(ref_dataset):
    ds, _ = ref_dataset
    direct = torch.stack([ds[i][0] for i in range(len(ds))])
    loader = DataLoader(ds, batch_size=3, num_workers=2)
    fbank, image, label = next(iter(loader))
    assert torch.equal(fbank, direct) and tuple(image.shape) == (3, 3, 224, 224)


def test_batch_fbank_mode_equals_loader_fbank_on_cpu(ref_dataset):
    ds, ids = ref_dataset
    conf = dict(EVAL_CONF, batch_fbank=True)
    wave_ds = AudiosetDataset(ds.datapath, conf, str(LABEL_CSV))
    waveform, image, label, aug = wave_ds[0]
    import soundfile
    pcm = soundfile.read(str(REF / "audio" / f"{ids[0]}.wav"), dtype="float32")[0]
    assert waveform.dim() == 1 and waveform.shape[0] == len(pcm)
    assert torch.allclose(waveform, torch.from_numpy(pcm - pcm.mean()), atol=1e-7)
    batch = collate_waveforms([wave_ds[i] for i in range(len(wave_ds))])
    fbank = BatchFbank(conf, device="cpu")(batch.waveforms, batch.lengths, batch.aug)
    assert fbank.shape == (3, 1024, 128)
    assert torch.equal(fbank, torch.stack([ds[i][0] for i in range(len(ds))]))
    assert torch.equal(batch.image[1], ds[1][1])


@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                         reason="needs a CUDA device"))])
def test_batch_fbank_on_device_within_parity(ref_dataset, device):
    ds, ids = ref_dataset
    conf = dict(EVAL_CONF, batch_fbank=True)
    wave_ds = AudiosetDataset(ds.datapath, conf, str(LABEL_CSV))
    batch = collate_waveforms([wave_ds[i] for i in range(len(wave_ds))])
    fbank = BatchFbank(conf, device=device)(batch.waveforms, batch.lengths, batch.aug)
    assert fbank.device.type == device
    for i, video_id in enumerate(ids):
        assert_fbank_parity(fbank[i].cpu().numpy(), video_id)
    # with masks and noise: the same masks; the noise within its bounds
    config = AVConfig(mode="eval", freqm=48, timem=192, noise=True, seed=3, batch_fbank=True)
    train = AVDataset(ds.datapath, LABEL_CSV, config)
    batch = collate_waveforms([train[i] for i in range(3)])
    out = BatchFbank(config, device=device).batch(batch).cpu()
    clean = torch.stack([ds[i][0] for i in range(3)])
    for i in range(3):
        plan = train.builder.plan(i, 0)
        unrolled = torch.roll(out[i], -plan.roll, 0)
        masked = torch.zeros(1024, 128, dtype=torch.bool)
        if plan.freq_mask:
            masked[:, plan.freq_mask[0]:plan.freq_mask[1]] = True
        if plan.time_mask:
            masked[plan.time_mask[0]:plan.time_mask[1]] = True
        assert masked.any()
        noise_top = plan.noise_scale / 10
        assert float((unrolled[masked] - PAD).min()) >= -1e-6  # float32 rounding
        assert float((unrolled[masked] - PAD).max()) < noise_top + 1e-6
        added = (unrolled - clean[i])[~masked]
        assert float(added.min()) >= -5e-2 and float(added.max()) < noise_top + 5e-2
        assert abs(float(added.mean()) - noise_top / 2) < 0.02 * noise_top + 1e-4


def test_batch_fbank_mode_with_augmentations(ref_dataset):
    ds, ids = ref_dataset
    config = AVConfig(mode="train", mixup=0.5, freqm=48, timem=192, noise=True,
                      label_smooth=0.1, seed=8)
    loader_side = AVDataset(ds.datapath, LABEL_CSV, config)
    batch_side = AVDataset(ds.datapath, LABEL_CSV, config.replace(batch_fbank=True))
    for epoch in (0, 1):
        loader_side.set_epoch(epoch)
        batch_side.set_epoch(epoch)
        batch = collate_waveforms([batch_side[i] for i in range(3)])
        assert batch.video_id == ids and batch.index.tolist() == [0, 1, 2]
        fbank = BatchFbank(config, device="cpu").batch(batch)
        expected = [loader_side[i] for i in range(3)]
        for i in range(3):
            assert (fbank[i] - expected[i].fbank).abs().max() <= 1e-4
            assert torch.equal(batch.label[i], expected[i].label)
            assert torch.equal(batch.image[i], expected[i].image)
