"""``avprep reconstruct``: the inpainting figure of chosen clips with a tiny pretraining model on
the real fixture clips; what each panel holds, masking modes, per-clip seeding, and refusals.

Data: ``test_train.make_clips`` (six clips from the real fixtures). Model: tiny CAVMAE with seeded
random weights (its reconstructions are noise; the panels' construction is what is tested).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from avprep.cli import main
from avprep.data.image import IMAGENET_MEAN, IMAGENET_STD
from avprep.train.reconstruct import _panels, reconstruct
from avprep.train.represent import ClipDataset, clip_config
from helpers.train import make_clips, tiny_checkpoints


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("reconstruct")
    lists = make_clips(root / "data")
    model, _ = tiny_checkpoints(root)
    ids = [e["video_id"] for e in json.loads(lists["train"].read_text())["data"]]
    clip = ClipDataset(lists["train"], clip_config(model), [1])[0]
    return {"root": root, "list": lists["train"], "model": model, "ids": ids, "clip": clip}


def test_command_writes_one_png_per_chosen_clip(setup, tmp_path, capsys):
    ids = setup["ids"]
    out = tmp_path / "pictures"
    code = main(["reconstruct", "--model", str(setup["root"] / "pre.pth"), "--data",
                 str(setup["list"]), "-o", str(out), "--ids", f"{ids[1]},{ids[4]}",
                 "--device", "cpu"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{ids[1]}.png", f"{ids[4]}.png"])
    with Image.open(out / f"{ids[1]}.png") as img:
        assert img.format == "PNG" and img.size == (1500, 600)
        pixels = np.asarray(img.convert("RGB"), dtype=np.float64)
    assert pixels.std() > 20  # a drawn figure, not a blank canvas
    printed = capsys.readouterr().out
    assert printed.count("loss audio") == 2


def test_panels_hold_original_masked_and_pasted_reconstruction(setup):
    fbank, image, _, error = setup["clip"]
    assert not error
    torch.manual_seed(2)
    with torch.no_grad():
        images, specs, loss_a, loss_v = _panels(setup["model"], fbank, image, 0.75, 0.6,
                                                "unstructured", torch.device("cpu"))
    original, masked, pasted = images
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    expect = np.clip(image.permute(1, 2, 0).numpy() * std + mean, 0, 1)
    np.testing.assert_allclose(original, expect, atol=1e-6)
    # per 16x16 patch: removed ones show the mean colour (value 0), kept ones the original
    removed = np.array([[np.allclose(masked[r:r + 16, c:c + 16], mean, atol=1e-6)
                         for c in range(0, 224, 16)] for r in range(0, 224, 16)])
    assert removed.sum() == 196 - int(196 * (1 - 0.6))  # the model keeps int(N * (1 - r))
    for r in range(14):
        for c in range(14):
            block = np.s_[16 * r:16 * r + 16, 16 * c:16 * c + 16]
            if not removed[r, c]:
                np.testing.assert_allclose(masked[block], original[block], atol=1e-6)
                np.testing.assert_allclose(pasted[block], original[block], atol=1e-6)
    assert not np.allclose(pasted[removed.repeat(16, 0).repeat(16, 1)], mean)  # filled in
    spec, spec_masked, spec_pasted = specs
    np.testing.assert_array_equal(spec, fbank.numpy().T)  # [128 bins, 1024 frames]
    kept = spec_masked != 0
    np.testing.assert_array_equal(spec_pasted[kept], spec[kept])
    assert 0.2 < kept.mean() < 0.3  # a quarter of the audio patches kept
    assert loss_a > 0 and loss_v > 0


def test_time_masking_removes_whole_time_columns(setup):
    fbank, image, _, _ = setup["clip"]
    torch.manual_seed(2)
    with torch.no_grad():
        _, specs, _, _ = _panels(setup["model"], fbank, image, 0.5, 0.75, "time",
                                 torch.device("cpu"))
    zero = specs[1] == 0
    columns = zero.reshape(128, 64, 16).all(axis=(0, 2))  # per time patch: every bin removed
    assert columns.sum() == 32
    kept = ~columns
    assert not zero.reshape(128, 64, 16)[:, kept].all()


def test_each_clip_is_seeded_alone(setup, tmp_path):
    ids = setup["ids"]
    one, _ = reconstruct(setup["root"] / "pre.pth", setup["list"], tmp_path / "a",
                         ids=[ids[1]], device="cpu")
    two, _ = reconstruct(setup["root"] / "pre.pth", setup["list"], tmp_path / "b",
                         ids=[ids[0], ids[1]], device="cpu")
    assert (one[0].loss_a, one[0].loss_v) == (two[1].loss_a, two[1].loss_v)
    assert (two[0].loss_a, two[0].loss_v) != (two[1].loss_a, two[1].loss_v)


def test_refusals(setup, tmp_path, capsys):
    common = ["--data", str(setup["list"]), "-o", str(tmp_path), "--device", "cpu"]
    assert main(["reconstruct", "--model", str(setup["root"] / "ft.pth"), *common]) == 2
    assert "pretraining checkpoint" in capsys.readouterr().err
    assert main(["reconstruct", "--model", str(setup["root"] / "pre.pth"), *common,
                 "--ids", "nope"]) == 2
    assert "not in the data: nope" in capsys.readouterr().err
    assert main(["reconstruct", "--model", str(setup["root"] / "pre.pth"), *common,
                 "--masking_ratio", "1.0"]) == 2
    assert not list(tmp_path.iterdir())
