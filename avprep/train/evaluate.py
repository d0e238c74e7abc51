"""Evaluation of a fine-tuned CAV-MAE: predictions, frame averaging, mAP/acc/AUC/d-prime.

By default each clip is scored once per video frame (0..9, or every frame the data records) with
the same audio (or each frame's own audio window, when the config asks for one), and the
per-frame probabilities are averaged: sigmoid scores for mAP, AUC and d-prime, softmax scores for
accuracy, as the original does for its mAP and accuracy runs respectively. ``skip_frame_agg``
scores the middle frame only. Audio-only modes ignore the image, so one pass stands for all frames.

Each clip's wav is read and its fbank computed once (``avprep.data.MultiFrameDataset``); the model
runs once per frame on the same fbank batch. The batch size counts clips, so a batch holds
``batch_size`` fbanks and ``batch_size x frames`` images (about 6 MB of images per clip with 10
frames): lower the batch size or the number of loader workers when memory is short.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from avprep.constants import N_FRAMES
from avprep.models import build, check_finite, load_state, read_state_dict, resolve, unwrap
from avprep.progress import progress
from avprep.train import loaders, outputs
from avprep.train.config import CommonConfig, EvalConfig
from avprep.train.metrics import classification_metrics
from avprep.train.runtime import Runtime, all_mean, autocast, gather_rows, run

PathLike = Union[str, "os.PathLike[str]"]
AUDIO_ONLY_MODES = ("audioonly", "missingaudioonly")
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def predict(model: torch.nn.Module, loader: torch.utils.data.DataLoader, ftmode: str,
            runtime: Runtime, loss_fn: Optional[LossFn] = None
            ) -> Tuple[torch.Tensor, torch.Tensor, float]:
    """Logits and targets ``[n, classes]`` for every sample of ``loader``'s dataset, in order,
    and the mean of ``loss_fn`` over the samples (nan without one)."""
    model.eval()
    bare = unwrap(model)
    logits, targets = [], []
    loss_sum, count = 0.0, 0
    for a, v, y in loader:
        a, v = a.to(runtime.device), v.to(runtime.device)
        with autocast(runtime):
            out = bare(a, v, ftmode)
        out = out.float()
        if loss_fn is not None:
            loss_sum += float(loss_fn(out, y.to(runtime.device))) * a.shape[0]
        count += a.shape[0]
        logits.append(out.cpu())
        targets.append(y.float().cpu())
    n = len(loader.dataset)
    loss = all_mean(loss_sum, count, runtime) if loss_fn is not None else float("nan")
    return (gather_rows(torch.cat(logits), n, runtime),
            gather_rows(torch.cat(targets), n, runtime), loss)


@torch.no_grad()
def predict_frames(model: torch.nn.Module, loader: torch.utils.data.DataLoader, ftmode: str,
                   runtime: Runtime) -> Tuple[List[torch.Tensor], torch.Tensor]:
    """Logits ``[n, classes]`` per frame of ``loader``'s :class:`avprep.data.MultiFrameDataset`
    (in its frame order) and the targets ``[n, classes]``, for every sample in order.

    Each batch's fbank goes to the device once; the model runs on it once per frame.
    """
    model.eval()
    bare = unwrap(model)
    logits: List[List[torch.Tensor]] = [[] for _ in loader.dataset.frames]
    targets = []
    batches = progress(loader, total=len(loader), desc="evaluating", unit="batch") \
        if runtime.is_main else loader
    for a, v, y in batches:
        a, v = a.to(runtime.device), v.to(runtime.device)
        per_frame_audio = a.dim() == 4  # [B, F, window, bins]: each frame's own audio window
        for k, chunks in enumerate(logits):
            audio = a[:, k].contiguous() if per_frame_audio else a
            with autocast(runtime):
                out = bare(audio, v[:, k].contiguous(), ftmode)
            chunks.append(out.float().cpu())
        targets.append(y.float().cpu())
    n = len(loader.dataset)
    return ([gather_rows(torch.cat(chunks), n, runtime) for chunks in logits],
            gather_rows(torch.cat(targets), n, runtime))


def frames_to_score(ftmode: str, skip_frame_agg: Optional[bool],
                    total: int = N_FRAMES) -> List[int]:
    """Which of ``total`` frames an evaluation runs: the middle one, or all of them."""
    if skip_frame_agg or ftmode in AUDIO_ONLY_MODES:
        return [total // 2]
    return list(range(total))


def evaluate_model(model: torch.nn.Module, data: PathLike, label_csv: PathLike,
                   cfg: Union[CommonConfig, EvalConfig], ftmode: str,
                   skip_frame_agg: Optional[bool], runtime: Runtime) -> Dict[str, Any]:
    """Score ``model`` on list ``data``; return flat ``mAP``, ``acc``, ``AUC``, ``d_prime`` and
    the per-frame results.

    ``cfg.batch_size`` clips per batch, each with all the frames scored (see the module notes).
    """
    from avprep.data import MultiFrameDataset

    dataset = loaders.make_dataset(data, label_csv, loaders.audio_conf(cfg, "eval"))
    frames = frames_to_score(ftmode, skip_frame_agg, dataset.config.frame_count)
    n = len(dataset)
    loaders.check_classes(dataset, cfg.n_class, label_csv)
    loader = loaders.eval_loader(MultiFrameDataset(dataset, frames), cfg.batch_size,
                              cfg.num_workers, runtime)
    frame_logits, target_t = predict_frames(model, loader, ftmode, runtime)
    target = target_t.numpy()
    sig_sum: Optional[np.ndarray] = None
    soft_sum: Optional[np.ndarray] = None
    per_frame = []
    for frame, logits in zip(frames, frame_logits):
        sig = torch.sigmoid(logits).numpy().astype(np.float64)
        soft = torch.softmax(logits, dim=-1).numpy().astype(np.float64)
        sig_sum = sig if sig_sum is None else sig_sum + sig
        soft_sum = soft if soft_sum is None else soft_sum + soft
        m = classification_metrics(logits.numpy(), target)
        per_frame.append({"frame": frame, "mAP": m["mAP"], "acc": m["acc"], "AUC": m["AUC"]})
    assert sig_sum is not None and soft_sum is not None
    result = classification_metrics(sig_sum / len(frames), target)
    result["acc"] = classification_metrics(soft_sum / len(frames), target)["acc"]
    result.update({"frames": frames, "per_frame": per_frame, "ftmode": ftmode,
                   "data": os.fspath(data), "n_samples": n})
    return result


def evaluate(cfg: EvalConfig) -> Dict[str, Any]:
    """Evaluate the fine-tuned checkpoint ``cfg.model`` on ``cfg.data_eval`` (``avprep eval``).

    Writes the result to ``cfg.json`` when given. Returns the result dict.
    """
    return run(cfg, _evaluate)


def _evaluate(cfg: EvalConfig, runtime: Runtime) -> Dict[str, Any]:
    model = build("cavmae_ft", size=cfg.model_size, label_dim=cfg.n_class,
                  audio_length=cfg.audio_length)
    load_finetuned(model, cfg.model)
    model = model.to(runtime.device)
    result = evaluate_model(model, cfg.data_eval, cfg.label_csv, cfg, cfg.ftmode,
                            cfg.skip_frame_agg, runtime)
    result["model"] = cfg.model
    if cfg.released and runtime.is_main:
        from avprep.train.released import annotate
        from avprep.train.represent import data_ids
        annotate(result, data_ids(cfg.data_eval), cfg.released, cfg.json)
    if cfg.json and runtime.is_main:
        outputs.write_json(cfg.json, result)
    return result


def load_finetuned(model: torch.nn.Module, path: PathLike) -> None:
    """Load a fine-tuned checkpoint (a file in either key layout, or a model-zoo name) into
    ``model``; every key must match and every weight be finite (a NaN checkpoint is an input
    error, not scores of nan)."""
    source = resolve(path)
    state = read_state_dict(source)
    check_finite(state, source)
    load_state(model, state, source=os.fspath(source))
