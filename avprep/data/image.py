"""The visual input: one frame JPEG -> float32 ``[3, res, res]``, as the original loader makes it.

RGB, shorter side resized to ``res`` (bicubic, the longer side truncated as torchvision's
``Resize(res)`` computes it), centre crop, scaled to [0, 1], normalized with the ImageNet mean and
std. Implemented with Pillow alone; the frames avprep extracts are already 224x224, for which the
resize and crop are the identity.
"""

from __future__ import annotations

import io
import os
from typing import Tuple, Union

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: what the original loader returns when no frame of a clip can be read (not normalized)
FALLBACK_IMAGE_VALUE = 0.01

_MEAN = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
# each channel's normalized value of every uint8 level, computed with the same float32 operations
# (x / 255 - mean) / std that torchvision's ToTensor + Normalize apply per pixel, so a lookup gives
# the same bits in less time
_LEVELS = (torch.arange(256, dtype=torch.float32).expand(3, 1, 256).div(255)
           .sub(_MEAN).div(_STD).reshape(3, 256).numpy().copy())

ImageSource = Union[str, "os.PathLike[str]", bytes]


def resized_size(width: int, height: int, res: int) -> Tuple[int, int]:
    """``(width, height)`` after scaling the shorter side to ``res``, the longer one truncated."""
    if width <= height:
        return res, int(res * height / width)
    return int(res * width / height), res


def resize_and_crop(img: Image.Image, res: int) -> Image.Image:
    """Resize the shorter side to ``res`` (bicubic) and cut the centre ``res`` x ``res`` square."""
    size = resized_size(img.width, img.height, res)
    if size != img.size:
        img = img.resize(size, Image.Resampling.BICUBIC)
    if img.size != (res, res):
        left = int(round((img.width - res) / 2.0))
        top = int(round((img.height - res) / 2.0))
        img = img.crop((left, top, left + res, top + res))
    return img


def to_normalized_tensor(img: Image.Image) -> torch.Tensor:
    """An RGB image as float32 ``[3, H, W]`` scaled to [0, 1], then ImageNet-normalized."""
    array = np.asarray(img, dtype=np.uint8)
    out = np.empty((3,) + array.shape[:2], dtype=np.float32)
    for channel in range(3):
        np.take(_LEVELS[channel], array[:, :, channel], out=out[channel])
    return torch.from_numpy(out)


def load_image(source: ImageSource, res: int = 224) -> torch.Tensor:
    """Decode a frame (a path or the JPEG bytes) into the normalized ``[3, res, res]`` tensor."""
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    with Image.open(handle) as img:
        rgb = img.convert("RGB")
    return to_normalized_tensor(resize_and_crop(rgb, res))


def fallback_image(res: int = 224) -> torch.Tensor:
    """The constant image the original loader substitutes when no frame can be read."""
    return torch.full((3, res, res), FALLBACK_IMAGE_VALUE, dtype=torch.float32)
