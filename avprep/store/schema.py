"""The columns of a pack shard (one Arrow IPC file, one row per clip)."""

from __future__ import annotations

import pyarrow as pa

from avprep.layout import N_FRAMES

FBANK_DTYPES = ("float32", "float16")
FBANK_BINS = 128

FRAME_COLUMNS = [f"frame_{i}" for i in range(N_FRAMES)]

SHARD_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("list_index", pa.int64()),
        ("labels", pa.string()),
        ("label_indices", pa.list_(pa.int32())),
        ("sample_rate", pa.int32()),
        ("channels", pa.int16()),
        ("pcm", pa.large_binary()),          # int16 little-endian, channels interleaved
    ]
    # JPEG bytes as written; null where the frame was missing
    + [(name, pa.large_binary()) for name in FRAME_COLUMNS]
    + [
        ("fbank_frames", pa.int32()),
        ("fbank", pa.large_binary()),        # [frames, 128] little-endian, dtype in the manifest
    ]
)

INDEX_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("list_index", pa.int64()),
    ("shard", pa.int32()),
    ("offset", pa.int32()),
])
