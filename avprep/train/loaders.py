"""The data side of a run: the original loader's ``audio_conf``, Datasets of a list or pack, and
the training (balanced or shuffled) and evaluation loaders, split across processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Iterator, Union

from torch.utils.data import DataLoader, Dataset, DistributedSampler

from avprep.constants import IMAGE_RES, NUM_MEL_BINS
from avprep.errors import InputError
from avprep.progress import progress
from avprep.train.config import CommonConfig, EvalConfig
from avprep.train.runtime import Runtime

PathLike = Union[str, "os.PathLike[str]"]


def audio_conf(cfg: Union[CommonConfig, EvalConfig], mode: str, **train: Any) -> Dict[str, Any]:
    """The original loader's ``audio_conf`` for ``mode`` 'train' or 'eval'.

    Eval mode turns every augmentation off; ``train`` adds the training augmentations.
    """
    conf = {"num_mel_bins": NUM_MEL_BINS, "target_length": cfg.audio_length, "freqm": 0, "timem": 0,
            "mixup": 0.0, "dataset": cfg.dataset, "mode": mode, "mean": cfg.mean,
            "std": cfg.std, "noise": False, "label_smooth": 0.0, "im_res": IMAGE_RES}
    conf.update(train)
    return conf


def make_dataset(data: PathLike, label_csv: PathLike, conf: Dict[str, Any]) -> Dataset:
    """The Dataset of list (or pack) ``data`` with the original's ``audio_conf`` ``conf``."""
    from avprep.data import AudiosetDataset

    return AudiosetDataset(os.fspath(data), conf, os.fspath(label_csv))


def check_classes(dataset: Dataset, n_class: int, label_csv: PathLike) -> None:
    """The label CSV must define exactly ``--n_class`` classes (the model's output size)."""
    found = getattr(dataset, "label_num", None)
    if found is not None and found != n_class:
        raise InputError(f"the label CSV has {found} classes but --n_class is {n_class}",
                         label_csv)


def weight_file_path(cfg: CommonConfig) -> Path:
    """Where the sample weights of ``--data-train`` are, by the original's naming rule.

    ``--weight_file`` may also be a path to the CSV itself.
    """
    if cfg.weight_file and Path(cfg.weight_file).is_file():
        return Path(cfg.weight_file)
    stem = cfg.data_train[:-5] if cfg.data_train.endswith(".json") else cfg.data_train
    suffix = "weight" if not cfg.weight_file else cfg.weight_file
    return Path(f"{stem}_{suffix}.csv")


def set_sampler_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell the loader's sampler and dataset which epoch is next (their draws depend on it)."""
    for obj in (loader.sampler, loader.dataset):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)


def train_loader(dataset: Dataset, cfg: CommonConfig, runtime: Runtime) -> DataLoader:
    """The training loader: balanced (``--bal bal``) or shuffled, split across processes.

    Batches are ``--batch-size`` per process and incomplete last batches are dropped, as in the
    original. The order depends only on ``--seed`` and the epoch (see :func:`set_sampler_epoch`).
    """
    if cfg.balanced:
        from avprep.data import BalancedSampler, DistributedBalancedSampler

        weights = weight_file_path(cfg)
        if not weights.is_file():
            raise InputError("sample-weight file for --bal bal not found", weights)
        if runtime.distributed:
            sampler = DistributedBalancedSampler(os.fspath(weights), runtime.world_size,
                                                 runtime.rank, seed=cfg.seed, data=dataset)
        else:
            sampler = BalancedSampler(os.fspath(weights), seed=cfg.seed, data=dataset)
    else:
        sampler = DistributedSampler(dataset, num_replicas=runtime.world_size, rank=runtime.rank,
                                     shuffle=True, seed=cfg.seed)
    if len(sampler) < cfg.batch_size:
        raise InputError(f"{len(sampler)} training samples per process is fewer than one batch "
                         f"of {cfg.batch_size}: lower --batch-size", cfg.data_train)
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler,
                      num_workers=cfg.num_workers, pin_memory=runtime.device.type == "cuda",
                      drop_last=True, persistent_workers=False)


def eval_loader(dataset: Dataset, batch_size: int, num_workers: int,
                runtime: Runtime) -> DataLoader:
    """An in-order loader; under torchrun each process reads every world_size-th sample."""
    sampler = None
    if runtime.distributed:
        sampler = DistributedSampler(dataset, num_replicas=runtime.world_size, rank=runtime.rank,
                                     shuffle=False)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=False,
                      num_workers=num_workers, pin_memory=runtime.device.type == "cuda")


def epoch_bar(loader: DataLoader, epoch: int, n_epochs: int, runtime: Runtime,
              what: str = "epoch") -> Iterator:
    """A progress bar over one pass of ``loader`` (shown by rank 0 only)."""
    return progress(loader, total=len(loader), desc=f"{what} {epoch}/{n_epochs}", unit="batch",
                    show=runtime.is_main)
