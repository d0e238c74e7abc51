"""What a run writes besides its resume state: the experiment folder, ``args.json`` and
``init.json``, the metrics files, the original's ``result.csv`` and the models of each epoch."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from avprep import atomic
from avprep.models import save_state_dict
from avprep.train import checkpointing as ckpt
from avprep.train import resume
from avprep.train.config import CommonConfig
from avprep.train.init_report import format_init
from avprep.train.runtime import Runtime, barrier

PathLike = Union[str, "os.PathLike[str]"]


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


def open_experiment(cfg: CommonConfig, runtime: Runtime, model: Optional[torch.nn.Module] = None,
                    init: Optional[Dict[str, Any]] = None) -> Path:
    """Create the experiment folder once every input has been checked: record the arguments
    (``args.json``, or ``args.resumed.json`` for a resumed run), the initialization report
    ``init`` (``init.json``), and print how much disk the run will use (for ``model``).

    Returns the folder.
    """
    resume.check(cfg)
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


def save_epoch(cfg: CommonConfig, runtime: Runtime, state: "resume.TrainState",
               log: MetricsLog, record: Dict[str, Any], *, columns: Sequence[str],
               shown: Sequence[str]) -> None:
    """Everything a run keeps of the epoch ``record`` describes (``state.epoch``), then wait for
    every process.

    Rank 0 writes ``models/audio_model.<epoch>.pth`` (with ``--save_model``),
    ``models/best_audio_model.pth`` when the epoch is ``state.best_epoch`` (a hard link to the
    epoch's file where there is one: :func:`avprep.train.checkpointing.save_best`), the metrics
    files and ``result.csv`` (``columns``), prints the ``shown`` values, and writes the resume
    state (:func:`avprep.train.resume.save`), which holds the random states of every process.
    """
    exp, epoch, model = Path(cfg.exp_dir), state.epoch, state.model
    if runtime.is_main:
        if cfg.save_model:
            save_state_dict(model, ckpt.model_file(exp, epoch))
        if state.best_epoch == epoch:
            ckpt.save_best(model, exp, epoch, epoch_file=bool(cfg.save_model))
        log.append(record)
        write_result_csv(exp / "result.csv", log.records, cfg.n_epochs, columns)
        print(f"epoch {epoch}/{cfg.n_epochs}: " + format_record(record, shown), flush=True)
    resume.save(resume.resume_file(cfg), state, runtime)
    barrier(runtime)
