"""Made-up data lists in the released format, for tests, demos and benchmarks.

Ids look like YouTube ids (AudioSet) or ``<ytid>_<start>`` (VGGSound), labels are drawn from a
real label set with a long-tailed class frequency, and paths follow the authors' layout.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avprep.lists.datalist import DataList
from avprep.lists.labels import LabelSet

ID_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)
AUTHOR_AUDIO_DIR = "/data/sls/audioset/dave_version/audio/"
AUTHOR_FRAME_DIR = "/data/sls/audioset/dave_version/image_mulframe/"
_LABEL_COUNTS = np.array([1, 2, 3, 4, 5, 6, 7, 8])
_LABEL_COUNT_P = np.array([0.21, 0.36, 0.23, 0.11, 0.05, 0.025, 0.01, 0.005])


def random_ids(n: int, seed: int = 0, scheme: str = "audioset") -> pa.Array:
    """``n`` distinct-looking ids in the ``audioset`` or ``vggsound`` list form."""
    rng = np.random.default_rng(seed)
    chars = ID_ALPHABET[rng.integers(0, len(ID_ALPHABET), size=(n, 11))]
    offsets = pa.array(np.arange(0, 11 * n + 1, 11, dtype=np.int32))
    ids = pa.StringArray.from_buffers(n, offsets.buffers()[1], pa.py_buffer(chars.tobytes()))
    if scheme == "vggsound":
        starts = pa.array([f"_{s:06d}" for s in rng.integers(0, 300, size=n) * 10],
                          pa.string())
        ids = pc.binary_join_element_wise(ids, starts, "")
    elif scheme != "audioset":
        raise ValueError(f"unknown id scheme {scheme!r}")
    return ids


def synthetic_list(n: int, labels: LabelSet, seed: int = 0, scheme: str = "audioset",
                   audio_dir: str = AUTHOR_AUDIO_DIR, frame_dir: str = AUTHOR_FRAME_DIR,
                   audio_ext: str = ".flac", max_labels: Optional[int] = None) -> DataList:
    """A list of ``n`` entries with random ids and 1..8 labels each from ``labels``."""
    rng = np.random.default_rng(seed + 1)
    ids = random_ids(n, seed, scheme)
    wav = pc.binary_join_element_wise(audio_dir, ids, audio_ext, "")
    # long-tailed class frequencies, like AudioSet's
    popularity = 1.0 / np.arange(1, len(labels) + 1) ** 0.9
    popularity = popularity[rng.permutation(len(labels))]
    popularity /= popularity.sum()
    counts = rng.choice(_LABEL_COUNTS, size=n, p=_LABEL_COUNT_P)
    counts = np.minimum(counts, min(len(labels), max_labels or len(labels)))
    drawn = rng.choice(len(labels), size=(n, int(counts.max()) if n else 1) , p=popularity)
    mids = labels.mids
    label_strings = []
    for row, k in zip(drawn.tolist(), counts.tolist()):
        chosen = list(dict.fromkeys(row[:k]))
        label_strings.append(",".join(mids[c] for c in chosen))
    video_path = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)),
                                                pa.array([frame_dir]))
    return DataList(ids, wav, video_path, label_strings)
