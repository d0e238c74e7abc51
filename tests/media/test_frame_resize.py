"""The frame resize takes a shortcut (horizontal pass, crop, vertical pass): it must give exactly
the pixels of Pillow's plain resize and crop, the original's step, for every frame size."""

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFilter

from avprep.media.frames import crop_box, encode_frame, resize_and_crop, resized_size
from avprep.media.reference import original_frame_step

# YouTube's sizes, odd and tiny ones, upscales and downscales, portrait and square
SIZES = [(256, 144), (426, 240), (640, 360), (854, 480), (1280, 720), (1920, 1080), (480, 360),
         (320, 240), (176, 144), (160, 120), (162, 122), (853, 480), (720, 404), (1080, 1920),
         (360, 640), (120, 160), (224, 224), (225, 224), (224, 225), (500, 500), (300, 100),
         (100, 31), (31, 17), (4000, 225), (226, 223), (1440, 1080), (640, 480), (3, 2)]


def _frame(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    smooth = Image.fromarray(noise).filter(ImageFilter.GaussianBlur(3))
    # smooth regions, hard edges and noise: every rounding path of the filter gets exercised
    mixed = np.asarray(smooth).copy()
    mixed[::7] = noise[::7]
    mixed[:, ::5] = 255 - mixed[:, ::5]
    return Image.fromarray(mixed)


@pytest.mark.parametrize("width,height", SIZES)
def test_shortcut_gives_the_plain_resize_pixels(width, height):
    """Tolerance: none, every byte equal."""
    for seed in range(3):
        image = _frame(width, height, seed)
        w, h = resized_size(width, height)
        plain = image.resize((w, h), Image.Resampling.BILINEAR).crop(crop_box(w, h))
        fast = resize_and_crop(image)
        assert fast.size == (224, 224)
        assert np.array_equal(np.asarray(fast), np.asarray(plain)), (width, height, seed)


FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "cavmae-samples"


@pytest.mark.parametrize("name", ["00W1lcxW-WU_40.000.mp4", "KlsG1EnBEjc_000361.mp4",
                                  "Vp9OpusClip_20.000.webm"])
def test_encode_frame_is_the_original_step_byte_for_byte(name):
    """avprep's frame step against the original's (plain resize, crop, tensor round trip, JPEG)
    on real decoded frames. Tolerance: none."""
    with av.open(str(FIXTURES / name)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n % 40:
                continue
            image = frame.to_image()
            assert encode_frame(image) == original_frame_step(image), (name, n)
