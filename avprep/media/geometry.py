"""Where a frame lands when its shorter side is scaled to a size: the one computation behind
extraction's resize (:mod:`avprep.media.frames`) and the loader's (:mod:`avprep.data.image`).

The two apply it with different filters (extraction: PIL bilinear, as the original's
``torchvision.transforms.Resize(224)`` on a PIL image; the loader: bicubic, as the original's
``Resize(im_res, interpolation=BICUBIC)``), but the sizes and the centre box are these. A light
module: the standard library only.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

from avprep.constants import IMAGE_RES

Box = Tuple[int, int, int, int]


def resized_size(width: int, height: int, size: int = IMAGE_RES) -> Tuple[int, int]:
    """``(width, height)`` with the shorter side ``size`` and the longer ``int(size * long /
    short)`` (truncated, as torchvision's ``Resize(size)`` computes it)."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def crop_box(width: int, height: int, size: int = IMAGE_RES) -> Box:
    """The centred ``size`` x ``size`` box (left, top, right, bottom) of a ``width`` x ``height``
    image, offsets rounded as torchvision's ``CenterCrop`` rounds them."""
    left = int(round((width - size) / 2.0))
    top = int(round((height - size) / 2.0))
    return left, top, left + size, top + size


class Fit(NamedTuple):
    """A frame's geometry: the resized ``(width, height)`` and the centre box cut from it (None
    when the whole resized frame is kept)."""

    size: Tuple[int, int]
    box: Optional[Box]

    @property
    def out_size(self) -> Tuple[int, int]:
        """``(width, height)`` of the result."""
        if self.box is None:
            return self.size
        left, top, right, bottom = self.box
        return right - left, bottom - top


def fit(width: int, height: int, size: int = IMAGE_RES, crop: bool = True) -> Fit:
    """The geometry of scaling a ``width`` x ``height`` frame's shorter side to ``size`` and, with
    ``crop``, cutting its centre ``size`` x ``size`` square."""
    resized = resized_size(width, height, size)
    return Fit(resized, crop_box(*resized, size) if crop else None)
