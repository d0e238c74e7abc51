"""A released-format list with a label CSV, released weights and partly present media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avprep import layout
from avprep.lists import (DataList, Entry, LabelSet, compute_weights, write_labels, write_list,
                          write_weights)

CLASSES = [("/m/a", "Alpha"), ("/m/b", "Beta, with a comma"), ("/m/c", "Gamma"), ("/m/d", "Delta")]


AUTHORS_AUDIO = "/data/sls/audioset/dave_version/audio/{}.flac"


AUTHORS_FRAMES = "/data/sls/audioset/dave_version/image_mulframe/"


def write_media(audio_dir: Path, frame_dir: Path, video_id: str, wav: bool = True,
                frames=range(layout.N_FRAMES)) -> None:
    """Write a real 16 kHz wav and real 224x224 JPEG frames for ``video_id``."""
    if wav:
        path = layout.wav_path(audio_dir, video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(1600) / layout.SAMPLE_RATE
        sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16),
                 layout.SAMPLE_RATE, subtype="PCM_16")
    for i in frames:
        path = layout.frame_path(frame_dir, i, video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (224, 224), (10 * i, 100, 200)).save(path, quality=75)


@pytest.fixture
def released(tmp_path):
    """A released-format list of 12 entries with a label CSV and released weights.

    Complete media for 7 of them; partial media (wav only, 9 frames, frames only) for 3; nothing
    for 2 (clips nobody has).
    """
    rel = tmp_path / "released"
    rel.mkdir()
    labels = LabelSet.from_pairs(CLASSES)
    write_labels(rel / "class_labels_indices.csv", labels)
    mids = labels.mids
    ids = ["-" + "a" * 10] + [f"clip{k:02d}xyzw"[:11] for k in range(1, 12)]
    entries = [Entry(vid, AUTHORS_AUDIO.format(vid), AUTHORS_FRAMES,
                     ",".join(sorted({mids[k % 4], mids[(k * 3) % 4]})))
               for k, vid in enumerate(ids)]
    data = DataList.from_entries(entries)
    write_list(rel / "audioset_2m_cleaned.json", data)
    write_weights(rel / "audioset_2m_cleaned_weight.csv", compute_weights(data, labels))
    audio, frames = tmp_path / "out" / "audio", tmp_path / "out" / "frames"
    complete = [0, 1, 3, 4, 6, 9, 11]
    for k in complete:
        write_media(audio, frames, ids[k])
    write_media(audio, frames, ids[2], frames=())                 # wav only
    write_media(audio, frames, ids[5], frames=range(9))           # frame_9 missing
    write_media(audio, frames, ids[7], wav=False)                 # frames only
    # a killed extraction's leftovers must not count as media
    (audio / f".{ids[8]}.avprep-tmp-1-abcd.wav").write_bytes(b"RIFF")
    return {"dir": rel, "list": rel / "audioset_2m_cleaned.json",
            "weights": rel / "audioset_2m_cleaned_weight.csv",
            "labels": rel / "class_labels_indices.csv", "data": data, "ids": ids,
            "complete": complete, "audio": audio, "frames": frames, "label_set": labels}
