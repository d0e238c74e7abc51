"""The Dataset on 16-frame data: frames drawn over all 16, each frame's audio window (CAV-MAE
Sync's rule), clamped at both ends of the clip, and frame-averaged evaluation over 16 frames.

The frames are extracted from a clip whose frames show their number (test_frame_spec); the wav
is silent but for three tone bursts, at the start, in the middle and at the end, so where a
window lies in the clip can be read off the fbank itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avprep.cli import main
from avprep.data import AudiosetDataset, AVConfig, AVDataset, MultiFrameDataset
from avprep.data.image import load_image
from avprep.data.window import frame_window
from avprep.errors import InputError
from avprep.media.audio import write_wav
from avprep.framespec import FrameSpec, write_frame_spec
from helpers import SAMPLES
from helpers.media import numbered_clip, shown_number

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
COUNT, WINDOW, LENGTH = 16, 416, 1024
RATE = 16000
#: burst centres in seconds: frame 0's window, frame 8's centre (8 * 1024 / 16 rows), frame 15's
BURSTS = (0.30, 5.12, 9.90)
BASE = {"num_mel_bins": 128, "target_length": LENGTH, "mode": "eval", "skip_norm": True}


def burst_wav(path: Path, seconds: float = 10.0) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    samples = np.zeros_like(t)
    for centre in BURSTS:
        near = np.abs(t - centre) < 0.02
        samples[near] = 0.8 * np.sin(2 * np.pi * 1000 * t[near])
    write_wav(path, (samples * 32767).astype(np.int16))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("window")
    numbered_clip(root / "videos" / "clip.mp4")
    assert main(["extract", str(root / "videos"), "--only", "frames", "--frame-dir",
                 str(root / "frames"), "--frames", str(COUNT), "--workers", "0"]) == 0
    burst_wav(root / "clip.wav")
    entry = {"video_id": "clip", "wav": str(root / "clip.wav"),
             "video_path": str(root / "frames"), "labels": "/m/09x0r"}
    path = root / "list.json"
    path.write_text(json.dumps({"data": [entry, dict(entry)]}))
    return path


def dataset(data: Path, **conf) -> AudiosetDataset:
    return AudiosetDataset(str(data), {**BASE, **conf}, str(LABEL_CSV))


def expected_rows(frame: int) -> tuple:
    """CAV-MAE Sync's window for ``frame``, written as a clamp: centre round(frame * 64)."""
    centre = round(frame * LENGTH / COUNT)
    start = min(max(centre - WINDOW // 2, 0), LENGTH - WINDOW)
    return start, start + WINDOW


def test_frames_come_from_the_recorded_spec(data):
    ds = dataset(data)
    assert ds.frames == COUNT and ds.config.total_frame == COUNT
    assert ds.frame_spec == FrameSpec(count=COUNT)
    assert ds.config.eval_frame == COUNT // 2
    # an explicit total_frame is kept, as the original's audio_conf key
    assert dataset(data, total_frame=10).config.total_frame == 10


def test_train_draws_every_one_of_the_sixteen_frames(data):
    ds = dataset(data, mode="train", seed=3)
    frames_dir = Path(json.loads(data.read_text())["data"][0]["video_path"])
    drawn = set()
    for epoch in range(120):
        ds.set_epoch(epoch)
        frame = ds.builder.plan(0, epoch).frame
        drawn.add(frame)
        if epoch < 6:  # the image is that frame's, which shows its scheduled decoded frame
            jpeg = frames_dir / f"frame_{frame}" / "clip.jpg"
            assert torch.equal(ds[0][1], load_image(str(jpeg)))
            assert shown_number(jpeg) == max(int(frame * 200 / COUNT) - 1, 0)
    assert drawn == set(range(COUNT))


def test_window_is_the_frames_slice_of_the_padded_fbank(data):
    full = dataset(data)[0][0]
    assert full.shape == (LENGTH, 128)
    for frame in range(COUNT):
        start, end = expected_rows(frame)
        assert frame_window(frame, COUNT, LENGTH, WINDOW) == (start, end)
        windowed = dataset(data, audio_window=WINDOW, frame_use=frame)[0][0]
        assert windowed.shape == (WINDOW, 128)
        assert torch.equal(windowed, full[start:end]), frame


def _loudest_row(fbank: torch.Tensor) -> int:
    return int(fbank.max(dim=1).values.argmax())


@pytest.mark.parametrize("frame, burst", [(0, 0), (8, 1), (15, 2)])
def test_the_window_holds_the_audio_at_its_frames_time(data, frame, burst):
    fbank = dataset(data, audio_window=WINDOW, frame_use=frame)[0][0]
    row = round(BURSTS[burst] * 100)  # 10 ms rows
    start = {0: 0, 8: row - WINDOW // 2, 15: LENGTH - WINDOW}[frame]
    # frame 8: the window is centred on the burst; frames 0 and 15: clamped at the clip's ends
    assert abs(_loudest_row(fbank) - (row - start)) <= 2
    if frame == 8:
        assert abs(_loudest_row(fbank) - WINDOW // 2) <= 2
    others = [round(b * 100) for i, b in enumerate(BURSTS) if i != burst]
    assert all(not start <= r < start + WINDOW for r in others)


def test_training_augmentations_fit_the_window(data):
    ds = dataset(data, mode="train", seed=0, audio_window=WINDOW, timem=192, freqm=48,
                 noise=True, skip_norm=False, mean=-5.081, std=4.4849)
    for epoch in range(5):
        ds.set_epoch(epoch)
        plan = ds.builder.plan(0, epoch)
        assert plan.time_mask is None or plan.time_mask[1] <= WINDOW
        assert -WINDOW <= plan.roll < WINDOW
        fbank, image, label = ds[0]
        assert fbank.shape == (WINDOW, 128) and torch.isfinite(fbank).all()


def test_a_substitute_is_windowed_too(data, tmp_path):
    entry = json.loads(data.read_text())["data"][0]
    entry["wav"] = str(tmp_path / "missing.wav")
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"data": [entry]}))
    fbank = dataset(path, audio_window=WINDOW, strict=False)[0][0]
    assert fbank.shape == (WINDOW, 128) and torch.allclose(fbank, torch.full_like(fbank, 0.01))


def test_refusals(data, tmp_path):
    with pytest.raises(InputError, match="batch_fbank"):
        dataset(data, audio_window=WINDOW, batch_fbank=True)
    with pytest.raises(InputError, match="audio_window"):
        AVConfig(audio_window=LENGTH + 1)
    with pytest.raises(InputError, match="frame_use"):
        dataset(data, frame_use=COUNT)
    # two frame folders with different counts in one list
    entry = json.loads(data.read_text())["data"][0]
    write_frame_spec(tmp_path / "eight", FrameSpec(count=8))
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps({"data": [entry, dict(entry, video_path=str(tmp_path / "eight"))]}))
    with pytest.raises(InputError, match="different frame counts"):
        AVDataset(str(mixed), str(LABEL_CSV))


def test_multiframe_items_carry_every_frame_and_its_window(data):
    base = dataset(data)
    multi = MultiFrameDataset(base)
    assert multi.frames == tuple(range(COUNT))
    fbank, images, _ = multi[0]
    assert fbank.shape == (LENGTH, 128) and images.shape == (COUNT, 3, 224, 224)
    windowed = MultiFrameDataset(dataset(data, audio_window=WINDOW))
    fbanks, images, label = windowed[1]
    assert fbanks.shape == (COUNT, WINDOW, 128)
    for frame in (0, 5, 15):
        one = dataset(data, audio_window=WINDOW, frame_use=frame)[1]
        assert torch.equal(fbanks[frame], one[0]) and torch.equal(images[frame], one[1])


def test_evaluation_averages_over_the_sixteen_frames(data):
    from avprep.models import build
    from avprep.train import loaders
    from avprep.train.config import EvalConfig
    from avprep.train.evaluate import evaluate_model, frames_to_score, predict_frames
    from avprep.train.runtime import setup_runtime

    assert frames_to_score("multimodal", None, COUNT) == list(range(COUNT))
    assert frames_to_score("multimodal", True, COUNT) == [COUNT // 2]
    runtime = setup_runtime(False, "cpu")
    torch.manual_seed(0)
    cfg = EvalConfig(data_eval=str(data), label_csv=str(LABEL_CSV), model="x", model_size="tiny",
                     batch_size=2, num_workers=0, device="cpu")
    model = build("cavmae_ft", size="tiny", label_dim=527).eval()
    result = evaluate_model(model, data, LABEL_CSV, cfg, "multimodal", None, runtime)
    assert result["frames"] == list(range(COUNT)) and len(result["per_frame"]) == COUNT
    # per-frame audio windows reach the model frame by frame
    short = build("cavmae_ft", size="tiny", label_dim=527, audio_length=WINDOW).eval()
    multi = MultiFrameDataset(dataset(data, audio_window=WINDOW, skip_norm=False,
                                      mean=-5.081, std=4.4849), frames=[0, 15])
    logits, _ = predict_frames(short, loaders.eval_loader(multi, 2, 0, runtime), "multimodal",
                               runtime)
    with torch.no_grad():
        a, v, _ = multi[0]
        alone = short(a[1][None], v[1][None], "multimodal")
    assert torch.allclose(logits[1][0], alone[0], atol=1e-5)
    assert not torch.allclose(logits[0][0], logits[1][0])


def test_a_pack_records_the_frames_and_refuses_another_count(data, tmp_path):
    from avprep.store import pack

    with pytest.raises(InputError, match="a pack holds 10 frames per clip"):
        pack(data, tmp_path / "pack16")
    assert not (tmp_path / "pack16" / "manifest.json").exists()
    # ten uncropped frames pack, and the pack records how they were made
    videos = Path(json.loads(data.read_text())["data"][0]["wav"]).parent / "videos"
    frames = tmp_path / "uncropped"
    assert main(["extract", str(videos), "--only", "frames", "--frame-dir", str(frames),
                 "--no-crop", "--workers", "0"]) == 0
    entry = dict(json.loads(data.read_text())["data"][0], video_path=str(frames))
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps({"data": [entry]}))
    pack(listed, tmp_path / "pack")
    spec = FrameSpec(count=10, crop=False)
    packed = AVDataset(str(tmp_path / "pack"), str(LABEL_CSV), AVConfig(mode="eval"))
    loose = AVDataset(str(listed), str(LABEL_CSV), AVConfig(mode="eval"))
    assert packed.frame_spec == loose.frame_spec == spec and packed.frames == 10
    # the loader cuts the uncropped frame as torchvision's Resize + CenterCrop
    assert packed[0].image.shape == (3, 224, 224) and torch.equal(packed[0].image, loose[0].image)
