"""The visual input: one frame JPEG -> float32 ``[3, res, res]``, as the original loader makes it.

RGB, shorter side resized to ``res`` (bicubic, the longer side truncated as torchvision's
``Resize(res)`` computes it), centre crop, scaled to [0, 1], normalized with the ImageNet mean and
std. Implemented with Pillow alone; the frames avprep extracts by default are already 224x224, for
which the resize and crop are the identity (frames kept uncropped, ``extract --no-crop``, are cut
here).
"""

from __future__ import annotations

import io
import os
from typing import Union

import numpy as np
import torch
from PIL import Image

from avprep.media.geometry import fit, resized_size

#: the loader's resampling filter: bicubic, the original loader's ``Resize(im_res, BICUBIC)``
LOADER_FILTER = Image.Resampling.BICUBIC
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


def resize_and_crop(img: Image.Image, res: int) -> Image.Image:
    """Resize the shorter side to ``res`` (:data:`LOADER_FILTER`) and cut the centre ``res`` x
    ``res`` square (:func:`avprep.media.geometry.fit`, the geometry extraction uses too)."""
    size, box = fit(img.width, img.height, res)
    if size != img.size:
        img = img.resize(size, LOADER_FILTER)
    if img.size != (res, res):
        img = img.crop(box)
    return img


def to_normalized_tensor(img: Image.Image) -> torch.Tensor:
    """An RGB image as float32 ``[3, H, W]`` scaled to [0, 1], then ImageNet-normalized."""
    array = np.asarray(img, dtype=np.uint8)
    out = np.empty((3,) + array.shape[:2], dtype=np.float32)
    for channel in range(3):  # uint8 levels never leave the 256-entry table: no bounds check
        np.take(_LEVELS[channel], array[:, :, channel], out=out[channel], mode="clip")
    return torch.from_numpy(out)


def load_image(source: ImageSource, res: int = 224) -> torch.Tensor:
    """Decode a frame (a path or the JPEG bytes) into the normalized ``[3, res, res]`` tensor."""
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    with Image.open(handle) as img:
        rgb = img.convert("RGB") if img.mode != "RGB" else img  # an RGB JPEG is not copied
        return to_normalized_tensor(resize_and_crop(rgb, res))


def fallback_image(res: int = 224) -> torch.Tensor:
    """The constant image the original loader substitutes when no frame can be read."""
    return torch.full((3, res, res), FALLBACK_IMAGE_VALUE, dtype=torch.float32)


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "FALLBACK_IMAGE_VALUE", "LOADER_FILTER", "resized_size",
           "resize_and_crop", "to_normalized_tensor", "load_image", "fallback_image"]
