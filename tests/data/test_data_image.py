"""The visual input: frame JPEG -> normalized [3, 224, 224], against the original's outputs."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from avprep.data.image import (IMAGENET_MEAN, IMAGENET_STD, fallback_image, load_image,
                               resize_and_crop, resized_size)
from helpers import REF

IDS = ["00W1lcxW-WU_40.000", "KlsG1EnBEjc_000361", "Vp9OpusClip_20.000"]


@pytest.mark.parametrize("video_id", IDS)
def test_frame_matches_reference_image(video_id):
    ref = np.load(REF / "arrays" / f"{video_id}.image.npy")
    path = REF / "frames" / "frame_5" / f"{video_id}.jpg"
    out = load_image(path)
    assert out.dtype == torch.float32 and tuple(out.shape) == (3, 224, 224)
    assert np.abs(out.numpy() - ref).max() <= 1e-3  # tolerance of the issue
    # the same bytes from memory (as a pack stores them) give the same tensor
    assert torch.equal(load_image(path.read_bytes()), out)


@pytest.mark.parametrize("size,expected", [((854, 480), (398, 224)), ((480, 854), (224, 398)),
                                           ((256, 144), (398, 224)), ((224, 224), (224, 224)),
                                           ((1280, 720), (398, 224)), ((300, 301), (224, 224))])
def test_resize_truncates_longer_side_like_torchvision(size, expected):
    assert resized_size(*size, 224) == expected


def test_resize_is_bicubic_then_centre_crop():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (480, 854, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    out = resize_and_crop(img, 224)
    assert out.size == (224, 224)
    resized = img.resize((398, 224), Image.Resampling.BICUBIC)
    left = round((398 - 224) / 2)
    assert np.array_equal(np.asarray(out), np.asarray(resized)[:, left:left + 224])
    # a bilinear resize would differ: the interpolation matters
    bilinear = np.asarray(img.resize((398, 224), Image.Resampling.BILINEAR))[:, left:left + 224]
    assert not np.array_equal(np.asarray(out), bilinear)


def test_normalization_and_grey_input():
    grey = Image.new("L", (320, 240), color=128)
    buf = io.BytesIO()
    grey.save(buf, format="PNG")
    out = load_image(buf.getvalue())
    assert tuple(out.shape) == (3, 224, 224)
    for c in range(3):
        expected = (128 / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert torch.allclose(out[c], torch.full((224, 224), expected), atol=1e-6)


def test_fallback_image_is_constant_unnormalized():
    out = fallback_image(224)
    assert tuple(out.shape) == (3, 224, 224) and torch.all(out == 0.01)
