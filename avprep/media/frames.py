"""Frames as the original wrote them: shorter side to 224 (the longer truncated), bilinear,
centre crop 224x224, JPEG at PIL's default quality (75); other counts and sizes by a
:class:`FrameSpec`.

A clip's frames land together or not at all. A frame folder made with other settings than the
original's records them (:func:`frame_spec_of`, :func:`write_frame_spec`, in
:mod:`avprep.framespec`).
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Dict, Sequence, Union

from PIL import Image

from avprep.atomic import temp_name
from avprep.framespec import (DEFAULT_SPEC, FrameSpec, claim_frame_spec, frame_spec_of,
                              write_frame_spec)
from avprep.layout import frame_path
from avprep.media.geometry import crop_box, fit, resized_size

PathLike = Union[str, "os.PathLike[str]"]
SIZE = DEFAULT_SPEC.size
#: extraction's resampling filter: PIL bilinear, what the original's ``Resize(224)`` applied
EXTRACT_FILTER = Image.Resampling.BILINEAR
_ROTATE = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
           270: Image.Transpose.ROTATE_90}

__all__ = ["FrameSpec", "DEFAULT_SPEC", "frame_spec_of", "write_frame_spec", "claim_frame_spec",
           "resized_size", "crop_box", "upright", "resize_and_crop", "resize_frame",
           "encode_frame", "write_frame_set", "fill_from_below", "EXTRACT_FILTER"]


def upright(image: Image.Image, rotation: float) -> Image.Image:
    """Turn ``image`` upright by its display rotation (degrees counter-clockwise), as OpenCV
    does."""
    angle = int(-round(rotation or 0)) % 360
    return image.transpose(_ROTATE[angle]) if angle in _ROTATE else image


def resize_and_crop(image: Image.Image, size: int = SIZE) -> Image.Image:
    """``image.resize(resized_size, BILINEAR).crop(crop_box)``, the same pixels for less work.

    Pillow resizes in two passes, horizontal then vertical, each output column of the vertical
    pass depending on that column alone. For a landscape frame only the centre ``size`` columns
    survive the crop, so this runs the horizontal pass alone, crops, and runs the vertical pass on
    the kept columns: the same coefficients on the same intermediate pixels.
    """
    in_w, in_h = image.size
    (width, height), (left, top, right, bottom) = fit(in_w, in_h, size)
    if width <= height or height == in_h:
        return image.resize((width, height), EXTRACT_FILTER).crop((left, top, right, bottom))
    if width != in_w:
        image = image.resize((width, in_h), EXTRACT_FILTER)
    image = image.crop((left, 0, right, in_h)).resize((right - left, height), EXTRACT_FILTER)
    return image.crop((0, top, right - left, bottom))


def resize_frame(image: Image.Image, spec: FrameSpec = DEFAULT_SPEC) -> Image.Image:
    """``image`` scaled (bilinear) to ``spec.size`` on its shorter side, centre-cropped to a
    square when ``spec.crop``."""
    if spec.crop:
        return resize_and_crop(image, spec.size)
    size = fit(*image.size, spec.size, crop=False).size
    return image if size == image.size else image.resize(size, EXTRACT_FILTER)


def encode_frame(image: Image.Image, spec: FrameSpec = DEFAULT_SPEC) -> bytes:
    """Resize, centre-crop (as ``spec`` says) and JPEG-encode one RGB frame as the original did."""
    image = image.convert("RGB") if image.mode != "RGB" else image
    image = resize_frame(image, spec)
    buf = io.BytesIO()
    image.save(buf, format="JPEG")
    return buf.getvalue()


def write_frame_set(frame_dir: PathLike, video_id: str, jpegs: Dict[int, bytes]) -> None:
    """Write ``{index: jpeg}`` to temporary names first and rename them only when all are written.

    A failure before the renames leaves no final file; every temporary file is removed.
    """
    pending = []
    try:
        for index in sorted(jpegs):
            final = frame_path(frame_dir, index, video_id)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_name(final)
            pending.append((tmp, final))
            with open(tmp, "wb") as fh:
                fh.write(jpegs[index])
        for tmp, final in pending:
            os.replace(tmp, final)
    except BaseException:
        for tmp, _final in pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def fill_from_below(jpegs: Dict[int, bytes], wanted: Sequence[int]) -> Dict[int, bytes]:
    """Give each wanted index the JPEG of the nearest lower index that has one.

    The original wrote no file for a frame past the end of the video, and its loader then read the
    next lower frame that exists; filling with that frame gives the loader the same image.
    """
    out: Dict[int, bytes] = {}
    last = None
    for index in range(max(wanted) + 1 if wanted else 0):
        if index in jpegs:
            last = jpegs[index]
        if index in wanted and last is not None:
            out[index] = last
    return out
