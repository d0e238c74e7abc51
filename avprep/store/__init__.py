"""Packed Arrow shards: many clips per file, random access by row and by id.

- :func:`pack`: write a data list's wavs (int16 PCM, exact), frame JPEGs (bytes unchanged) and,
  optionally, precomputed fbanks into shards with an index and a manifest; resumable.
- :func:`open_store`: random access (``len``, ``store[i]``, ``store.by_id(id)``), memory-mapped
  and safe in DataLoader workers.
- :func:`verify_store`: rehash every shard and check the index against the manifest.
"""

from avprep.store.manifest import Failure, Manifest, ShardInfo, read_manifest
from avprep.store.reader import Record, Store, open_store
from avprep.store.verify import VerifyReport, verify_store
from avprep.store.pack import DEFAULT_SHARD_SIZE, PackResult, pack

__all__ = [
    "pack", "PackResult", "DEFAULT_SHARD_SIZE", "open_store", "Store", "Record",
    "verify_store", "VerifyReport", "Manifest", "ShardInfo", "Failure", "read_manifest",
]
