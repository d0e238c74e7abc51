"""Media written for a test: wavs and JPEG frames in the original layout, numbered clips."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
from PIL import Image

from avprep.synth import make_clip
from helpers import REF

WIDTH, HEIGHT = 320, 240
FPS = 20


SECONDS = 12  # longer than the 10 s the frames and the kept clip come from


NUMBERED = "geq=lum='22+13*if(lt(Y,H/2),floor(N/16),mod(N,16))':cb=128:cr=128"


def fixture_entries():
    """Released-format entries pointing at the reference wavs and frames."""
    clips = json.loads((REF / "clips.json").read_text())
    return [{"video_id": c["video_id"], "wav": str(REF / "audio" / f"{c['video_id']}.wav"),
             "video_path": str(REF / "frames"), "labels": c["labels"]} for c in clips]


def write_list(path, entries):
    path.write_text(json.dumps({"data": entries}, indent=1))
    return path


def make_media(root, video_id, seconds=0.5, rate=16000, channels=1, frames=range(10),
               labels="/m/09x0r", seed=0):
    """A wav written with the standard library and JPEG frames written with PIL."""
    rng = np.random.default_rng(seed)
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    pcm = rng.integers(-20000, 20000, size=(int(seconds * rate), channels), dtype=np.int16)
    wav = audio / f"{video_id}.wav"
    with wave.open(str(wav), "wb") as fh:
        fh.setnchannels(channels)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(pcm.astype("<i2").tobytes())
    for i in frames:
        folder = root / "frames" / f"frame_{i}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, size=(24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{video_id}.jpg", quality=75)
    return {"video_id": video_id, "wav": str(wav), "video_path": str(root / "frames"),
            "labels": labels}


def write_wav(path, pcm: np.ndarray, rate: int = 16000) -> None:
    """Write int16 ``pcm [channels, samples]`` with the standard library."""
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(pcm.shape[0])
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(np.ascontiguousarray(pcm.T).astype("<i2").tobytes())


def numbered_clip(path: Path, width: int = WIDTH, height: int = HEIGHT,
                  seconds: float = SECONDS) -> Path:
    """A clip whose frame n shows n (see the module notes), with an AAC tone."""
    return make_clip(path, duration=seconds, width=width, height=height, fps=FPS,
                     pattern="color", extra_args=("-vf", NUMBERED, "-qp", "0"))


def shown_number(jpeg: Path) -> int:
    """The decoded frame number a written frame shows."""
    gray = np.asarray(Image.open(jpeg).convert("L"), dtype=np.float64)
    half, margin = gray.shape[0] // 2, 12

    def nibble(region: np.ndarray) -> int:
        luma = np.median(region) * 219 / 255 + 16  # full-range RGB back to limited-range luma
        return int(round((luma - 22) / 13))

    return nibble(gray[:half - margin]) * 16 + nibble(gray[half + margin:])
