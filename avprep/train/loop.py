"""Pieces both training loops share: device and DDP set-up, data loaders, the lr schedule,
mixed precision and the optimizer step, gathering results across processes, the resume state
and the files of each epoch.

A run under ``torchrun`` (``WORLD_SIZE`` set) joins a process group, one process per GPU (or per
CPU process with the gloo backend); rank 0 writes every file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar, Union

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from avprep import atomic
from avprep.errors import AvprepError, InputError
from avprep.models import save_state_dict, unwrap
from avprep.progress import progress
from avprep.train import checkpointing as ckpt
from avprep.train.config import IMAGE_RES, CommonConfig, EvalConfig, check
from avprep.train.init_report import format_init

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
T = TypeVar("T")


class TrainingDiverged(AvprepError):
    """The training loss became NaN or infinite (exit 1)."""


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


def grad_scaler(runtime: Runtime) -> "torch.amp.GradScaler":
    """A loss scaler, active only with AMP."""
    return torch.amp.GradScaler("cuda", enabled=runtime.amp)


def wrap(model: torch.nn.Module, runtime: Runtime) -> torch.nn.Module:
    """Move ``model`` to the device; under torchrun wrap it in DistributedDataParallel."""
    model = model.to(runtime.device)
    if runtime.distributed:
        ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        # each block keeps three sets of LayerNorms of which a forward uses one, so some
        # parameters never get a gradient; the set is the same every step (a static graph)
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, static_graph=True)
    return model


# ----------------------------------------------------------------------------- data

def audio_conf(cfg: Union[CommonConfig, EvalConfig], mode: str, **train: Any) -> Dict[str, Any]:
    """The original loader's ``audio_conf`` for ``mode`` 'train' or 'eval'.

    Eval mode turns every augmentation off; ``train`` adds the training augmentations.
    """
    conf = {"num_mel_bins": 128, "target_length": cfg.audio_length, "freqm": 0, "timem": 0,
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


def epoch_bar(loader: DataLoader, epoch: int, n_epochs: int, runtime: Runtime,
              what: str = "epoch") -> Iterator:
    """A progress bar over one pass of ``loader`` (shown by rank 0 only)."""
    return progress(loader, total=len(loader), desc=f"{what} {epoch}/{n_epochs}", unit="batch",
                    show=runtime.is_main)


# ----------------------------------------------------------------------------- optimization

def adam(groups: Sequence[Dict[str, Any]]) -> torch.optim.Optimizer:
    """Adam with the published settings: betas (0.95, 0.999), weight decay 5e-7."""
    return torch.optim.Adam(list(groups), weight_decay=5e-7, betas=(0.95, 0.999))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: CommonConfig):
    """The lr schedule, stepped once per epoch.

    Default: the lr is multiplied by ``--lrscheduler_decay`` at the end of epoch
    ``--lrscheduler_start`` and every ``--lrscheduler_step`` epochs after it (MultiStepLR). With
    ``--lr_adapt True``: halved when the validation metric stalls ``--lr_patience`` epochs.
    """
    if cfg.lr_adapt:
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=cfg.lr_patience)
    milestones = list(range(cfg.lrscheduler_start, 1000, cfg.lrscheduler_step))
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones,
                                                gamma=cfg.lrscheduler_decay)


def step_scheduler(scheduler: Any, metric: float) -> None:
    """Advance the schedule at the end of an epoch (``metric``: higher is better)."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
        scheduler.step()


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scaler: "torch.amp.GradScaler", epoch: int, step: int,
                   exp_dir: PathLike) -> float:
    """Back-propagate ``loss`` (scaled under AMP) and step ``optimizer``; return the loss.

    Raises :class:`TrainingDiverged` when the loss is NaN or infinite.
    """
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingDiverged(f"training diverged: loss {value} at epoch {epoch}, step {step}",
                               exp_dir)
    return value


def load_init(model: torch.nn.Module, name_or_path: str, kind: str,
              reinit_head: bool = False, allow_partial: bool = False) -> Dict[str, Any]:
    """Initialize ``model`` from a checkpoint file or model-zoo name; return what was loaded.

    ``kind`` 'finetune': the checkpoint must supply every weight but the classification head
    (a pretraining checkpoint's decoder is ignored), unless ``allow_partial``
    (``--allow-partial``): then, as the original's ``strict=False``, any subset of the weights
    may come from it. 'pretrain': as the original, any subset may (e.g. an adapted ImageNet MAE),
    the rest stay as initialized. A shape mismatch is an error either way, and so is a
    checkpoint of which nothing fits, except for a fine-tuned checkpoint's head made for another
    class count: with ``reinit_head`` (``--ft-reinit-head``) its whole head is left out and the
    model's new head kept, otherwise an error says to pass it. The result lists keys in the
    released ``module.`` layout: ``loaded`` (taken from the checkpoint), ``new`` (left as
    initialized), ``ignored`` (checkpoint keys the model does not use) and ``reinitialized``
    (the checkpoint's head keys replaced by a new head, with a ``note`` saying why, which
    :func:`open_experiment` prints).
    """
    from avprep.models import check_finite, load_state, read_state_dict, resolve
    from avprep.models.checkpoint import CheckpointError
    from avprep.models.loader import FT_IGNORED, FT_NEW

    path = resolve(name_or_path)
    state = read_state_dict(path)
    check_finite(state, path)
    reinitialized: List[str] = []
    note = ""
    if kind == "finetune":
        state, reinitialized, note = _other_head(model, state, reinit_head, path)
    if kind == "finetune" and not allow_partial:
        try:
            report = load_state(model, state, FT_NEW, FT_IGNORED, source=os.fspath(path))
        except CheckpointError as err:
            raise CheckpointError(err.message + " (--allow-partial True loads the weights that "
                                  "fit and reports the rest)", path) from err
    else:
        report = load_state(model, state, ("",), ("",), source=os.fspath(path))
        if not report.loaded:
            raise InputError(f"no weight of this checkpoint fits the {kind} model", path)
    logger.info(report.summary())

    def released(keys: List[str]) -> List[str]:
        return [k if k.startswith("module.") else "module." + k for k in keys]

    init: Dict[str, Any] = {"loaded": released(report.loaded), "new": released(report.new),
                            "ignored": released(report.unexpected),
                            "reinitialized": released(reinitialized)}
    if note:
        init["note"] = note
    return init


def _other_head(model: torch.nn.Module, state: Dict[str, torch.Tensor], reinit: bool,
                path: PathLike) -> Tuple[Dict[str, torch.Tensor], List[str], str]:
    """``state`` without its classification head when the head's shape differs from the
    model's and ``reinit`` allows leaving it out, the keys left out and a line saying why;
    an error when ``reinit`` does not allow it."""
    from avprep.models import strip_module, unwrap

    head = "mlp_head."
    own, theirs = unwrap(model).state_dict(), strip_module(state)
    if not any(k.startswith(head) and k in own and v.shape != own[k].shape
               for k, v in theirs.items()):
        return state, [], ""
    out_key = f"{head}1.weight"
    counts = (f"{theirs[out_key].shape[0]} classes, the model {own[out_key].shape[0]} "
              "(--n_class)") if out_key in theirs and out_key in own else "another shape"
    if not reinit:
        raise InputError(f"the checkpoint's classification head has {counts}: pass "
                         "--ft-reinit-head True to start a new head for these classes", path)
    dropped = sorted(k for k in theirs if k.startswith(head))
    note = f"re-initialized the classification head: the checkpoint's has {counts}"
    return {k: v for k, v in theirs.items() if not k.startswith(head)}, dropped, note


def resume_or_seed(cfg: CommonConfig, runtime: Runtime, kind: str, model: torch.nn.Module,
                   optimizer: torch.optim.Optimizer, scheduler: Any,
                   scaler: "torch.amp.GradScaler", best: float) -> Tuple[int, int, int, float]:
    """Where a ``kind`` run ('pretrain'/'finetune') starts: the first epoch to run, the steps
    taken, the best epoch so far and its score.

    With ``--resume`` the resume state of the last completed epoch is loaded into the training
    objects and this process's random generators. Otherwise the run starts at epoch 1 with
    ``best`` as the score to beat, and torch is seeded with ``--seed`` plus the rank, so that
    masking and augmentation differ between processes.
    """
    if not cfg.resume:
        torch.manual_seed(cfg.seed + runtime.rank)
        return 1, 0, 0, best
    state = ckpt.restore(_resume_file(cfg), kind, runtime.rank, model, optimizer, scheduler,
                         scaler)
    return state["epoch"] + 1, state["global_step"], state["best_epoch"], state["best"]


# ----------------------------------------------------------------------------- outputs

def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def _csv_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else str(value)


class MetricsLog:
    """``metrics.jsonl`` (one JSON object per epoch) and ``metrics.csv`` (the same, as a table).

    Opening it for a resumed run keeps only the epochs up to the one resumed from, so an epoch
    that was cut off and is run again appears once.
    """

    def __init__(self, exp_dir: PathLike, keep_through: int = 0, enabled: bool = True):
        self.jsonl = Path(exp_dir) / "metrics.jsonl"
        self.csv = Path(exp_dir) / "metrics.csv"
        self.enabled = enabled
        self.records: List[Dict[str, Any]] = []
        if keep_through and self.jsonl.is_file():
            for line in self.jsonl.read_text().splitlines():
                if line.strip():
                    record = json.loads(line)
                    if record.get("epoch", 0) <= keep_through:
                        self.records.append(record)
        if enabled:
            self._write()

    def append(self, record: Dict[str, Any]) -> None:
        """Add one epoch's record and rewrite both files atomically."""
        self.records.append(record)
        if self.enabled:
            self._write()

    def _write(self) -> None:
        lines = "".join(json.dumps(json_safe(r), allow_nan=False) + "\n" for r in self.records)
        atomic.write_text(self.jsonl, lines)
        columns: List[str] = []
        for record in self.records:
            columns += [k for k in record if k not in columns]
        rows = [",".join(columns)]
        rows += [",".join(_csv_value(r.get(c)) for c in columns) for r in self.records]
        atomic.write_text(self.csv, "\n".join(rows) + "\n" if self.records else "")


def write_result_csv(path: PathLike, records: List[Dict[str, Any]], n_epochs: int,
                     columns: Sequence[str]) -> None:
    """The original's ``result.csv``: one row of ``columns`` per epoch, zeros for epochs not run."""
    import numpy as np

    table = np.zeros([n_epochs, len(columns)])
    for r in records:
        table[r["epoch"] - 1] = [r.get(c, float("nan")) for c in columns]
    with atomic.atomic_path(path) as tmp:
        np.savetxt(tmp, table, delimiter=",")


def gather_rng(runtime: Runtime) -> List[Dict[str, Any]]:
    """The random states of every process, in rank order (for the resume state)."""
    state = ckpt.rng_state()
    if not runtime.distributed:
        return [state]
    states: List[Any] = [None] * runtime.world_size
    dist.all_gather_object(states, state)
    return states


def _resume_file(cfg: CommonConfig) -> Path:
    return Path(cfg.exp_dir) / ckpt.RESUME_FILE


def check_experiment(cfg: CommonConfig) -> None:
    """Refuse a ``--resume`` that cannot continue, before anything is read or written: no resume
    state in the folder, or an option changed that the run cannot take (named; see
    :func:`avprep.train.checkpointing.check_resume_options`)."""
    if not cfg.resume:
        return
    resume_file = _resume_file(cfg)
    if not resume_file.is_file():
        raise InputError("--resume: no resume state in the experiment folder", resume_file)
    ckpt.check_resume_options(Path(cfg.exp_dir) / "args.json", cfg.to_dict())


def open_experiment(cfg: CommonConfig, runtime: Runtime, model: Optional[torch.nn.Module] = None,
                    init: Optional[Dict[str, Any]] = None) -> Path:
    """Create the experiment folder once every input has been checked: record the arguments
    (``args.json``, or ``args.resumed.json`` for a resumed run), the initialization report
    ``init`` (``init.json``), and print how much disk the run will use (for ``model``).

    Returns the folder.
    """
    check_experiment(cfg)
    exp = Path(cfg.exp_dir)
    if runtime.is_main:
        (exp / "models").mkdir(parents=True, exist_ok=True)
        write_json(exp / ("args.resumed.json" if cfg.resume else "args.json"), cfg.to_dict())
        if model is not None:
            estimate = ckpt.disk_estimate(model, cfg.n_epochs, bool(cfg.save_model),
                                          averaged=bool(getattr(cfg, "wa", False)))
            print(estimate.summary(exp), flush=True)
        if init is not None:
            write_json(exp / "init.json", init)
            print(format_init(init, str(cfg.init_path)), flush=True)
            if init.get("note"):
                print(f"{init['note']} ({len(init['reinitialized'])} keys; see init.json)",
                      flush=True)
    return exp


def save_epoch(cfg: CommonConfig, runtime: Runtime, kind: str, log: MetricsLog,
               record: Dict[str, Any], model: torch.nn.Module,
               optimizer: torch.optim.Optimizer, scheduler: Any, scaler: "torch.amp.GradScaler",
               *, best_epoch: int, best: float, columns: Sequence[str],
               shown: Sequence[str]) -> None:
    """Everything a ``kind`` run keeps of the epoch ``record`` describes (its ``epoch`` and
    ``step``), then wait for every process.

    Rank 0 writes ``models/audio_model.<epoch>.pth`` (with ``--save_model``),
    ``models/best_audio_model.pth`` when the epoch is ``best_epoch`` (a hard link to the epoch's
    file where there is one: :func:`avprep.train.checkpointing.save_best`), the metrics files
    and ``result.csv`` (``columns``), prints the ``shown`` values, and writes the resume state, which
    holds the random states of every process.
    """
    exp, epoch = Path(cfg.exp_dir), record["epoch"]
    if runtime.is_main:
        if cfg.save_model:
            save_state_dict(model, ckpt.model_file(exp, epoch))
        if best_epoch == epoch:
            ckpt.save_best(model, exp, epoch, epoch_file=bool(cfg.save_model))
        log.append(record)
        write_result_csv(exp / "result.csv", log.records, cfg.n_epochs, columns)
        print(f"epoch {epoch}/{cfg.n_epochs}: " + format_record(record, shown), flush=True)
    rng = gather_rng(runtime)
    if runtime.is_main:
        ckpt.save_state(_resume_file(cfg), {
            "kind": kind, "epoch": epoch, "global_step": record["step"],
            "best_epoch": best_epoch, "best": best,
            "model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "sampler_epoch": epoch, "rng": rng, "config": cfg.to_dict()})
    barrier(runtime)


def write_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (NaN and infinities become null)."""
    atomic.write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n")


def format_record(record: Dict[str, Any], keys: Sequence[str]) -> str:
    """``key value`` pairs of ``record`` for a one-line epoch summary."""
    parts = []
    for key in keys:
        if key in record and record[key] is not None:
            value = record[key]
            parts.append(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}")
    return "  ".join(parts)


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
