"""Frames as the original wrote them: shorter side to 224 (the longer truncated), bilinear,
centre crop 224x224, JPEG at PIL's default quality (75).

A clip's frames land together or not at all."""

from __future__ import annotations

import contextlib
import io
import os
from typing import Dict, Sequence, Tuple, Union

from PIL import Image

from avprep.atomic import temp_name
from avprep.layout import frame_path

PathLike = Union[str, "os.PathLike[str]"]
SIZE = 224
_ROTATE = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
           270: Image.Transpose.ROTATE_90}


def resized_size(width: int, height: int, size: int = SIZE) -> Tuple[int, int]:
    """(width, height): the shorter side ``size``, the longer ``int(size * long / short)``."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def crop_box(width: int, height: int, size: int = SIZE) -> Tuple[int, int, int, int]:
    """The centred ``size`` x ``size`` box, offsets rounded as torchvision's CenterCrop rounds."""
    left = int(round((width - size) / 2.0))
    top = int(round((height - size) / 2.0))
    return left, top, left + size, top + size


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
    width, height = resized_size(in_w, in_h, size)
    left, top, right, bottom = crop_box(width, height, size)
    if width <= height or height == in_h:
        return image.resize((width, height), Image.Resampling.BILINEAR).crop(
            (left, top, right, bottom))
    if width != in_w:
        image = image.resize((width, in_h), Image.Resampling.BILINEAR)
    image = image.crop((left, 0, right, in_h)).resize((right - left, height),
                                                     Image.Resampling.BILINEAR)
    return image.crop((0, top, right - left, bottom))


def encode_frame(image: Image.Image) -> bytes:
    """Resize, centre-crop and JPEG-encode one RGB frame exactly as the original did."""
    image = image.convert("RGB") if image.mode != "RGB" else image
    image = resize_and_crop(image)
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
