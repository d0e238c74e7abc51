"""Balanced sampling (SPEC 3): indices drawn with replacement, probability proportional to weight.

``BalancedSampler`` is what ``torch.utils.data.WeightedRandomSampler`` does, made deterministic for a
seed and an epoch. ``DistributedBalancedSampler`` makes one such global draw per epoch (the same on
every rank, since it depends only on the seed and the epoch) and gives each rank an equal slice, so
together the ranks follow the weights exactly as a single process would.

Both yield each index as a :class:`Draw`: an ``int`` (usable wherever an index is) that also carries
its position in the epoch's global draw. A seeded ``AudiosetDataset`` draws a sample's augmentation
from that position, so a clip drawn several times in an epoch gets fresh random choices each time
(as the original's loader does), the same in any worker, with any number of workers or processes.
"""

from __future__ import annotations

import math
import os
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Sampler

from avprep.errors import InputError

WeightsLike = Union[Sequence[float], np.ndarray, torch.Tensor, str, "os.PathLike[str]"]


def load_weights(weights: WeightsLike, expected_len: Optional[int] = None,
                 what: str = "the list") -> torch.Tensor:
    """Weights as a float64 tensor; a path is read as a released sample-weight CSV.

    With ``expected_len`` (the length of the list the weights belong to) a different length is an
    ``InputError``: weights are never truncated or padded to fit.
    """
    path = None
    if isinstance(weights, (str, os.PathLike)):
        from avprep.lists import read_weights
        path = weights
        weights = read_weights(weights)
    tensor = torch.as_tensor(np.asarray(weights, dtype=np.float64))
    if tensor.ndim != 1 or len(tensor) == 0:
        raise InputError(f"sample weights must be a non-empty 1-D sequence, got shape "
                         f"{tuple(tensor.shape)}", path)
    if not torch.isfinite(tensor).all() or (tensor < 0).any() or tensor.sum() <= 0:
        raise InputError("sample weights must be finite, non-negative and not all zero", path)
    if expected_len is not None and len(tensor) != expected_len:
        raise InputError(f"{len(tensor)} sample weights for {expected_len} entries of {what}: "
                         "a weight file must have one line per list entry (recompute it for a "
                         "filtered list with 'avprep weights')", path)
    return tensor


def _expected_len(data: object) -> Optional[int]:
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike)):
        from avprep.lists import read_list
        return len(read_list(data))
    return len(data)  # type: ignore[arg-type]


class Draw(int):
    """A list index drawn by a sampler, with ``position``: its place in the epoch's draw.

    It prints, compares and hashes as the plain index.
    """

    position: int

    def __new__(cls, index: int, position: int) -> "Draw":
        obj = super().__new__(cls, index)
        obj.position = int(position)
        return obj

    def __reduce__(self):  # keeps the position through the DataLoader's worker queues
        return (Draw, (int(self), self.position))


def _draw(weights: torch.Tensor, count: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator()
    generator.manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
    return torch.multinomial(weights, count, replacement=True, generator=generator)


class BalancedSampler(Sampler[int]):
    """Draw ``num_samples`` indices (default ``len(weights)``) per epoch with replacement, each with
    probability proportional to its weight; the same draw for the same ``seed`` and epoch.

    ``weights`` is a sequence, array, tensor or the path of a weight CSV; ``data`` (a list path, a
    ``DataList``, a Dataset: anything with a length) checks that there is one weight per entry.
    Call ``set_epoch(e)`` before each epoch for a new draw.
    """

    def __init__(self, weights: WeightsLike, num_samples: Optional[int] = None, seed: int = 0,
                 data: object = None):
        self.weights = load_weights(weights, _expected_len(data))
        self.num_samples = len(self.weights) if num_samples is None else int(num_samples)
        if self.num_samples <= 0:
            raise InputError(f"num_samples must be positive, got {self.num_samples}")
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the draw of epoch ``epoch``."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        indices = _draw(self.weights, self.num_samples, self.seed, self.epoch).tolist()
        return (Draw(index, position) for position, index in enumerate(indices))

    def __len__(self) -> int:
        return self.num_samples


def _dist_default(value: Optional[int], attr: str, env: str) -> int:
    if value is not None:
        return int(value)
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return getattr(dist, attr)()
    if env in os.environ:
        return int(os.environ[env])
    raise InputError(f"{attr.replace('get_', '')} not given and torch.distributed is not "
                     f"initialized (nor {env} set)")


class DistributedBalancedSampler(Sampler[int]):
    """Rank ``rank``'s equal slice of one global balanced draw per epoch.

    The global draw has ``num_samples`` indices (default ``len(weights)``), rounded up to a multiple
    of ``num_replicas`` so every rank gets ``ceil(num_samples / num_replicas)``; rank r takes
    positions r, r + num_replicas, ... ``num_replicas`` and ``rank`` default to those of the
    initialized process group (or ``WORLD_SIZE`` / ``RANK``, as torchrun sets them).
    """

    def __init__(self, weights: WeightsLike, num_replicas: Optional[int] = None,
                 rank: Optional[int] = None, num_samples: Optional[int] = None, seed: int = 0,
                 data: object = None):
        self.weights = load_weights(weights, _expected_len(data))
        self.num_replicas = _dist_default(num_replicas, "get_world_size", "WORLD_SIZE")
        self.rank = _dist_default(rank, "get_rank", "RANK")
        if self.num_replicas < 1 or not 0 <= self.rank < self.num_replicas:
            raise InputError(f"rank {self.rank} is not in [0, {self.num_replicas})")
        total = len(self.weights) if num_samples is None else int(num_samples)
        if total <= 0:
            raise InputError(f"num_samples must be positive, got {total}")
        self.num_samples = math.ceil(total / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the draw of epoch ``epoch`` (call it with the same value on every rank)."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        indices = _draw(self.weights, self.total_size, self.seed, self.epoch).tolist()
        positions = range(self.rank, self.total_size, self.num_replicas)
        return (Draw(indices[position], position) for position in positions)

    def __len__(self) -> int:
        return self.num_samples
