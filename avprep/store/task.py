"""The work item an engine runs for ``avprep pack``: write one whole shard.

A top-level function in a module of its own that imports torch and the wav reader up front: an
engine that forks its workers from a preloaded server (the local engine) or keeps them between
tasks (Ray) pays those imports once, not once per worker or per shard.
"""

from __future__ import annotations

from typing import Any, Callable, Union

from avprep.errors import AvprepError, WriteError
from avprep.features.kaldi import torch_threads  # loads avprep.features: torch, the wav reader
from avprep.store.manifest import ShardInfo
from avprep.store.writer import ShardJob, write_shard


def pack_shard(job: ShardJob) -> Union[ShardInfo, AvprepError]:
    """:func:`avprep.store.writer.write_shard` in a worker (:func:`shard_outcome`)."""
    return shard_outcome(write_shard, job)


def shard_outcome(write: Callable[[Any], ShardInfo], job: Any) -> Union[ShardInfo, AvprepError]:
    """``write(job)`` with one torch thread, an error coming back as the value.

    An :class:`AvprepError` comes back as the value, so its kind and exit code survive the trip
    to the driver; so does an ``OSError`` (a full disk, a size limit), as :class:`WriteError`.
    """
    try:
        with torch_threads(1):
            return write(job)
    except AvprepError as err:
        return err
    except OSError as err:
        return WriteError(f"pack stopped: {err.strerror or err}", err.filename or job.folder)
