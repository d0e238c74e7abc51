"""Where a training or evaluation process runs: the device, DDP under torchrun, mixed precision,
collectives across processes and a fixed random state for a block.

A run under ``torchrun`` (``WORLD_SIZE`` set) joins a process group, one process per GPU (or per
CPU process with the gloo backend); rank 0 writes every file.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, TypeVar, Union

import torch
import torch.distributed as dist

from avprep.errors import InputError
from avprep.train.config import CommonConfig, EvalConfig, check

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Runtime:
    """Where this process runs: device, its rank among ``world_size`` processes, AMP on or off."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    amp: bool = False
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        """Whether this process is one of several (a torchrun job)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0


def describe_run(what: str, clips: int, steps: int, runtime: Runtime, start_epoch: int,
                 n_epochs: int) -> str:
    """The line a training loop prints before its first epoch."""
    return (f"{what} on {clips} clips ({steps} steps/epoch x {runtime.world_size} process(es), "
            f"{runtime.device}{', amp' if runtime.amp else ''}), epochs {start_epoch}..{n_epochs}")


def setup_runtime(amp: Optional[bool] = None, device: Optional[str] = None) -> Runtime:
    """Pick the device and, under torchrun (``WORLD_SIZE`` > 1), join the process group.

    AMP defaults to on with CUDA and is always off on the CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is not None:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"--device {device}: CUDA is not available here")
        if dev.type == "cuda" and dev.index is None:  # torch.cuda.set_device needs an index
            dev = torch.device("cuda", local_rank if world_size > 1
                               else torch.cuda.current_device())
    elif torch.cuda.is_available():
        dev = torch.device("cuda", local_rank if world_size > 1 else torch.cuda.current_device())
    else:
        dev = torch.device("cpu")
    if dev.type == "cuda":
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"process {local_rank} of this node has no GPU of its own: "
                             f"{torch.cuda.device_count()} visible; start at most that many "
                             "processes per node")
        torch.cuda.set_device(dev)
    owns_group = False
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        owns_group = True
    use_amp = dev.type == "cuda" and (amp is None or bool(amp))
    return Runtime(dev, rank, world_size, local_rank, use_amp, owns_group)


def teardown(runtime: Runtime) -> None:
    """Leave the process group if :func:`setup_runtime` joined it."""
    if runtime.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def run(cfg: Union[CommonConfig, EvalConfig], body: Callable[[Any, Runtime], T]) -> T:
    """Check ``cfg``, set up this process's :class:`Runtime` and return ``body(cfg, runtime)``,
    leaving the process group however the body ends."""
    check(cfg)
    if isinstance(cfg, CommonConfig) and cfg.optim != "adam":
        logger.warning("--optim %s: training with Adam, as the original does", cfg.optim)
    runtime = setup_runtime(cfg.amp, cfg.device)
    try:
        return body(cfg, runtime)
    finally:
        teardown(runtime)


def barrier(runtime: Runtime) -> None:
    """Wait for every process (no-op in a single process)."""
    if runtime.distributed:
        dist.barrier()


def autocast(runtime: Runtime) -> contextlib.AbstractContextManager:
    """float16 autocast on CUDA when AMP is on; nothing otherwise."""
    if runtime.amp:
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def wrap(model: torch.nn.Module, runtime: Runtime) -> torch.nn.Module:
    """Move ``model`` to the device; under torchrun wrap it in DistributedDataParallel."""
    model = model.to(runtime.device)
    if runtime.distributed:
        ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        # each block keeps three sets of LayerNorms of which a forward uses one, so some
        # parameters never get a gradient; the set is the same every step (a static graph)
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, static_graph=True)
    return model


def gather_rows(x: torch.Tensor, n: int, runtime: Runtime) -> torch.Tensor:
    """Put back in dataset order the rows each process computed for its :func:`eval_loader` part.

    ``n`` is the dataset length; the padding DistributedSampler added is dropped.
    """
    if not runtime.distributed:
        return x
    per_rank = math.ceil(n / runtime.world_size)
    if x.shape[0] < per_rank:  # cannot happen with DistributedSampler, kept for safety
        x = torch.cat([x, x.new_zeros((per_rank - x.shape[0],) + tuple(x.shape[1:]))])
    parts = [torch.empty_like(x, device=runtime.device) for _ in range(runtime.world_size)]
    dist.all_gather(parts, x.to(runtime.device).contiguous())
    stacked = torch.stack([p.cpu() for p in parts], dim=1)  # [per_rank, world, ...]
    return stacked.reshape((-1,) + tuple(x.shape[1:]))[:n]


def all_mean(total: float, count: float, runtime: Runtime) -> float:
    """The mean of per-process sums ``total`` over per-process counts ``count``."""
    if runtime.distributed:
        t = torch.tensor([total, count], dtype=torch.float64, device=runtime.device)
        dist.all_reduce(t)
        total, count = t.tolist()
    return total / count if count else float("nan")


@contextlib.contextmanager
def fixed_rng(seed: int, runtime: Runtime) -> Iterator[None]:
    """Run a block with torch and Python random states seeded by ``seed``, then restore them.

    Validation masks patches at random; a fixed seed makes validation losses comparable between
    epochs without disturbing the training run's random sequence.
    """
    import random

    devices = [runtime.device] if runtime.device.type == "cuda" else []
    py_state = random.getstate()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
