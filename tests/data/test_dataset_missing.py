"""Missing media: strict mode names the id and file; lenient mode substitutes as the original
does and counts and logs every substitute (never printing to stdout)."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import soundfile
import torch

from avprep.data import AudiosetDataset, AVConfig, AVDataset
from avprep.data.image import load_image
from avprep.errors import FormatError, InputError, MediaError
from helpers import REF, SAMPLES

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
IDS = ["00W1lcxW-WU_40.000", "KlsG1EnBEjc_000361", "Vp9OpusClip_20.000"]
SUBSTITUTE = (0.01 + 5.081) / 4.4849  # the original's constant fbank, normalized
PAD = 5.081 / 4.4849


@pytest.fixture()
def damaged(tmp_path):
    """Copies of the reference media with pieces removed, and a list over them."""
    audio, frames = tmp_path / "audio", tmp_path / "frames"
    audio.mkdir()
    for vid in IDS:
        shutil.copy(REF / "audio" / f"{vid}.wav", audio / f"{vid}.wav")
        for k in range(10):
            (frames / f"frame_{k}").mkdir(parents=True, exist_ok=True)
            shutil.copy(REF / "frames" / f"frame_{k}" / f"{vid}.jpg",
                        frames / f"frame_{k}" / f"{vid}.jpg")
    (audio / f"{IDS[0]}.wav").unlink()                      # clip 0: no wav
    for k in (4, 5):                                         # clip 1: frames 4 and 5 missing
        (frames / f"frame_{k}" / f"{IDS[1]}.jpg").unlink()
    for k in range(10):                                      # clip 2: no frame at all
        (frames / f"frame_{k}" / f"{IDS[2]}.jpg").unlink()
    short_id = "shortclip_000001"                            # clip 3: 300 samples of audio
    soundfile.write(audio / f"{short_id}.wav", np.full(300, 1000, dtype=np.int16), 16000,
                    subtype="PCM_16")
    for k in range(10):
        shutil.copy(REF / "frames" / f"frame_{k}" / f"{IDS[0]}.jpg",
                    frames / f"frame_{k}" / f"{short_id}.jpg")
    entries = [{"video_id": vid, "wav": str(audio / f"{vid}.wav"), "video_path": str(frames),
                "labels": "/m/09x0r"} for vid in IDS + [short_id]]
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"data": entries}))
    return path, audio, frames


def test_strict_is_the_default_and_names_id_and_file(damaged):
    path, audio, frames = damaged
    ds = AudiosetDataset(str(path), {"mode": "eval"}, str(LABEL_CSV))
    assert ds.config.strict
    expected = {0: (IDS[0], str(audio / f"{IDS[0]}.wav")),
                1: (IDS[1], str(frames / "frame_5" / f"{IDS[1]}.jpg")),
                2: (IDS[2], str(frames / "frame_5" / f"{IDS[2]}.jpg")),
                3: ("shortclip_000001", str(audio / "shortclip_000001.wav"))}
    for index, (vid, file) in expected.items():
        with pytest.raises(MediaError) as info:
            ds[index]
        message = str(info.value)
        assert vid in message and file in message and "\n" not in message
    assert sum(ds.substitutions.values()) == 0


def test_lenient_substitutes_like_the_original_and_counts(damaged, caplog, capsys):
    path, _, frames = damaged
    ds = AudiosetDataset(str(path), {"mode": "eval", "strict": False}, str(LABEL_CSV))
    with caplog.at_level(logging.WARNING, logger="avprep.data"):
        items = [ds[i] for i in range(4)]
    # no wav: constant 0.01 fbank over all 1024 rows, then normalized
    assert torch.allclose(items[0][0], torch.full((1024, 128), SUBSTITUTE))
    # frames 5 and 4 missing: steps down to frame 3
    assert torch.equal(items[1][1], load_image(frames / "frame_3" / f"{IDS[1]}.jpg"))
    # the wav of clip 1 was fine
    assert not torch.allclose(items[1][0], torch.full((1024, 128), SUBSTITUTE))
    # no frame: a constant 0.01 image, not normalized
    assert torch.all(items[2][1] == 0.01)
    # too short for one window: 512 rows of 0.01 then zero padding
    assert torch.allclose(items[3][0][:512], torch.full((512, 128), SUBSTITUTE))
    assert torch.allclose(items[3][0][512:], torch.full((512, 128), PAD))
    assert dict(ds.substitutions) == {"audio_missing": 1, "frame_lower": 1,
                                      "image_missing": 1, "audio_too_short": 1}
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 4
    for vid in IDS + ["shortclip_000001"]:
        assert any(vid in m for m in logged)
    assert capsys.readouterr().out == ""


def test_lenient_mixup_with_missing_partner_audio(damaged):
    path, _, _ = damaged
    config = AVConfig(mode="eval", strict=False, mixup=1.0)
    # find a seed that pairs clip 1 with clip 0 (no wav) as its mixup partner
    for seed in range(50):
        ds = AVDataset(path, LABEL_CSV, config.replace(seed=seed))
        if ds.builder.plan(1, 0).mix_index == 0:
            break
    else:
        pytest.fail("no seed pairs clip 1 with clip 0")
    sample = ds[1]
    assert torch.allclose(sample.fbank, torch.full((1024, 128), SUBSTITUTE))
    # clip 1's frame 5 is missing too (frame 3 used)
    assert dict(ds.substitutions) == {"audio_missing": 1, "frame_lower": 1}
    # the image and label are still mixed
    assert 0 < float(sample.label[0]) <= 1 and sample.image.shape == (3, 224, 224)


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        AudiosetDataset(str(tmp_path / "nope.json"), {}, str(LABEL_CSV))
    entry = {"video_id": IDS[0], "wav": str(REF / "audio" / f"{IDS[0]}.wav"),
             "video_path": str(REF / "frames"), "labels": "/m/not_a_class"}
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"data": [entry]}))
    with pytest.raises(InputError, match="label CSV"):
        AudiosetDataset(str(path), {}, None)
    ds = AudiosetDataset(str(path), {"mode": "eval"}, str(LABEL_CSV))
    with pytest.raises(FormatError, match=r"/m/not_a_class.*not in the label CSV") as info:
        ds[0]
    assert IDS[0] in str(info.value)
    with pytest.raises(IndexError):
        ds[1]
    path.write_text(json.dumps({"data": [dict(entry, labels="")]}))
    with pytest.raises(FormatError, match="no labels") as info:
        AudiosetDataset(str(path), {"mode": "eval"}, str(LABEL_CSV))[0]
    assert IDS[0] in str(info.value) and str(path) in str(info.value)


def test_lenient_batch_fbank_mode_substitutes_too(damaged):
    from avprep.data import BatchFbank, collate_waveforms
    path, _, _ = damaged
    config = AVConfig(mode="eval", strict=False, batch_fbank=True)
    ds = AVDataset(path, LABEL_CSV, config)
    batch = collate_waveforms([ds[0], ds[3], ds[1]])
    assert batch.lengths[0] == 0 and batch.lengths[1] == 0 and batch.lengths[2] > 0
    fbank = BatchFbank(config).batch(batch)
    assert torch.allclose(fbank[0], torch.full((1024, 128), SUBSTITUTE))
    assert torch.allclose(fbank[1][:512], torch.full((512, 128), SUBSTITUTE))
    assert torch.allclose(fbank[1][512:], torch.full((512, 128), PAD))
    lenient = AVDataset(path, LABEL_CSV, config.replace(batch_fbank=False))
    assert torch.equal(fbank[2], lenient[1].fbank)
    assert ds.substitutions["audio_missing"] == 1 and ds.substitutions["audio_too_short"] == 1
