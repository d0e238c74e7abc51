"""The original extraction method, rebuilt with the same tools, for parity checks and benchmarks.

Audio: one ``ffmpeg -i clip -vn -ar 16000`` process, then a second process keeping channel 0 (the
original used ``sox ... remix 1``; an ffmpeg ``pan=mono|c0=c0`` makes the same exact copy).
Frames: OpenCV's frame rate and frame count, one seek per frame to ``idx - 1`` and a read, as the
original did; then the original's torchvision steps done with the libraries beneath them: Pillow's
plain resize (``Resize(224)``) and crop (``CenterCrop(224)``), ``ToTensor``'s float tensor and
``save_image``'s way back to bytes and a JPEG. Slow by design; not used for extraction.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional, Union

import numpy as np

from avprep.media.audio import read_pcm16
from avprep.media.frames import crop_box, resized_size

PathLike = Union[str, "os.PathLike[str]"]


def reference_audio(path: PathLike, ffmpeg: Optional[str] = None) -> np.ndarray:
    """Channel 0 at 16 kHz, int16, made by two ffmpeg processes as the original made it."""
    if ffmpeg is None:
        from avprep.synth import ffmpeg_exe

        ffmpeg = ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        stereo = Path(tmp) / "intermediate.wav"
        mono = Path(tmp) / "out.wav"
        base = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"]
        subprocess.run(base + [os.fspath(path), "-vn", "-ar", "16000", os.fspath(stereo)],
                       check=True)
        subprocess.run(base + [os.fspath(stereo), "-af", "pan=mono|c0=c0", os.fspath(mono)],
                       check=True)
        return read_pcm16(mono)[0][0]


def reference_frames(path: PathLike, n_frames: int = 10) -> List[Optional[bytes]]:
    """The original's ten JPEGs via OpenCV seeks; None where OpenCV returned no frame."""
    import cv2
    from PIL import Image

    capture = cv2.VideoCapture(os.fspath(path))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        total = min(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), int(fps * 10))
        out: List[Optional[bytes]] = []
        for i in range(n_frames):
            index = int(i * (total / n_frames))
            capture.set(cv2.CAP_PROP_POS_FRAMES, index - 1)
            ok, bgr = capture.read()
            if not ok or bgr is None:
                out.append(None)
                continue
            out.append(original_frame_step(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))))
        return out
    finally:
        capture.release()


def original_frame_step(image: "Image.Image") -> bytes:
    """The original's preprocess and ``save_image`` for one RGB frame, as JPEG bytes."""
    import io

    import torch
    from PIL import Image

    width, height = resized_size(*image.size)
    image = image.resize((width, height), Image.Resampling.BILINEAR).crop(crop_box(width, height))
    tensor = torch.from_numpy(np.array(image, np.uint8, copy=True)).permute(2, 0, 1)
    tensor = tensor.contiguous().float().div(255)  # ToTensor
    pixels = tensor.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", torch.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels.numpy()).save(buf, format="JPEG")
    return buf.getvalue()


def reference_timing(path: PathLike) -> tuple:
    """OpenCV's ``(CAP_PROP_FPS, CAP_PROP_FRAME_COUNT)`` for ``path``."""
    import cv2

    capture = cv2.VideoCapture(os.fspath(path))
    try:
        return capture.get(cv2.CAP_PROP_FPS), capture.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        capture.release()
