"""Audio-visual retrieval with a CAV-MAE checkpoint, as the original ``src/retrieval.py`` scores it
(``avprep retrieval``).

Each clip gives one audio and one visual vector: the unmasked ``forward_feat`` tokens of the middle
frame (5) and the clip's fbank, mean-pooled over tokens (see :mod:`avprep.train.represent`).
Every query is compared with every candidate of the other modality by cosine similarity; the rank
of its own clip gives R@1, R@5, R@10 (shares of queries ranked within the top k) and MR (median
rank, 1-based), audio->visual (``a2v``: audio queries, visual candidates) and visual->audio
(``v2a``).

Ties: a query's rank is the number of candidates scoring strictly higher than its own clip, so a
candidate that ties the true one does not push it down. The original counts the same rank for
the first tied position but also adds one more entry per tied candidate (at the following ranks)
to the list it averages over, so with ties its recalls are lower and its denominators larger than
the number of queries. Without exact ties, which real features practically never have (identical
clips do), both give the same numbers; the count of queries with a tie is reported
(``a2v_tied``, ``v2a_tied``).

Anchors, CAV-MAE Scale+ as reported on the released retrieval subsets: visual->audio R@1 18.8
(AudioSet) and 14.8 (VGGSound), audio->visual R@1 15.1 and 12.8.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from avprep.errors import InputError
from avprep.train import outputs
from avprep.train.metrics import RECALL_AT, paired_ranks
from avprep.train.represent import (MIDDLE_FRAME, ClipDataset, clip_config, encode,
                                    load_encoder)
from avprep.train.runtime import setup_runtime

PathLike = Union[str, "os.PathLike[str]"]

#: published R@1 (percent) of CAV-MAE Scale+ on the released retrieval subsets
ANCHORS = {"audioset": {"v2a_R@1": 18.8, "a2v_R@1": 15.1},
           "vggsound": {"v2a_R@1": 14.8, "a2v_R@1": 12.8}}
DIRECTIONS = (("a2v", "audio->visual"), ("v2a", "visual->audio"))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def tied_queries(query: np.ndarray, candidates: np.ndarray, chunk: int = 1024) -> int:
    """How many queries have another candidate scoring exactly as high as their own clip."""
    q, c = _unit(query), _unit(candidates)
    n = 0
    for start in range(0, len(q), chunk):
        sim = q[start:start + chunk] @ c.T
        rows = np.arange(sim.shape[0])
        diag = sim[rows, start + rows][:, None]
        n += int(((sim == diag).sum(axis=1) > 1).sum())
    return n


def retrieval_scores(audio: np.ndarray, video: np.ndarray,
                     ks: Sequence[int] = RECALL_AT) -> Dict[str, float]:
    """``a2v_R@k``, ``a2v_MR``, ``a2v_tied`` and the same for ``v2a``, of paired vectors
    (row i of ``audio`` and of ``video`` are the same clip). Recalls are fractions (0-1)."""
    audio, video = np.asarray(audio), np.asarray(video)
    if audio.shape != video.shape or audio.ndim != 2 or len(audio) == 0:
        raise InputError(f"paired features of the same non-empty shape needed, got "
                         f"{audio.shape} and {video.shape}")
    out: Dict[str, float] = {}
    for prefix, (q, c) in (("a2v", (audio, video)), ("v2a", (video, audio))):
        ranks = paired_ranks(q, c)
        for k in ks:
            out[f"{prefix}_R@{k}"] = float(np.mean(ranks < k))
        out[f"{prefix}_MR"] = float(np.median(ranks) + 1)
        out[f"{prefix}_tied"] = tied_queries(q, c)
    return out


def compute_features(model: PathLike, data: PathLike, *, batch_size: int = 48,
                     num_workers: int = 4, mean: Optional[float] = None,
                     std: Optional[float] = None, frame: int = MIDDLE_FRAME,
                     amp: Optional[bool] = None, device: Optional[str] = None
                     ) -> Tuple[List[str], np.ndarray, np.ndarray, List[Tuple[str, str]]]:
    """Ids, pooled audio and visual vectors ``[n, D]`` of the clips of ``data`` that could be
    read, and the failures ``(video_id, reason)``."""
    net, _report = load_encoder(model)
    runtime = setup_runtime(amp, device)
    net = net.to(runtime.device)
    dataset = ClipDataset(data, clip_config(net, mean, std, frame))
    ids: List[str] = []
    audio, video, failures = [], [], []
    for batch in encode(net, dataset, batch_size, num_workers, runtime, desc="retrieval"):
        ids += batch.ids
        audio.append(batch.audio)
        video.append(batch.video)
        failures += batch.failures
    if not ids:
        return ids, np.zeros((0, 0)), np.zeros((0, 0)), failures
    return ids, torch.cat(audio).numpy(), torch.cat(video).numpy(), failures


def retrieval(model: Optional[PathLike] = None, data: Optional[PathLike] = None, *,
              embeddings: Optional[PathLike] = None, released: Optional[PathLike] = None,
              json_path: Optional[PathLike] = None, batch_size: int = 48, num_workers: int = 4,
              mean: Optional[float] = None, std: Optional[float] = None,
              amp: Optional[bool] = None, device: Optional[str] = None) -> Dict[str, Any]:
    """Score retrieval on ``data`` (a JSON list or pack) with checkpoint ``model``, or on the
    vectors of an ``embeddings`` file (``avprep embed``; restricted to and ordered by ``data``
    when given).

    Returns the :func:`retrieval_scores` plus ``n_clips``, ``failures`` (clips left out, with
    the reason) and, with ``released``, ``released`` (how many of its ids were scored; the ids
    scored are written beside ``json_path``). Writes the result to ``json_path`` when given.
    """
    if embeddings is None and (model is None or data is None):
        raise InputError("retrieval needs --model and --data, or --embeddings")
    failures: List[Tuple[str, str]] = []
    result: Dict[str, Any] = {}
    if embeddings is not None:
        from avprep.train.embed import read_embeddings
        from avprep.train.represent import data_ids

        wanted = data_ids(data) if data is not None else None
        if wanted is not None:
            wanted = list(dict.fromkeys(wanted))
        emb = read_embeddings(embeddings, wanted)
        ids, audio, video = emb.ids, emb.audio, emb.video
        result.update(embeddings=os.fspath(embeddings), model=emb.meta.get("model"),
                      frame=emb.meta.get("frame"))
    else:
        ids, audio, video, failures = compute_features(
            model, data, batch_size=batch_size, num_workers=num_workers, mean=mean, std=std,
            amp=amp, device=device)
        result.update(model=os.fspath(model), frame=MIDDLE_FRAME)
    if not ids:
        reasons = "; ".join(f"{v}: {r}" for v, r in failures[:3])
        raise InputError("no clip could be scored" + (f" ({reasons})" if reasons else ""),
                         data or embeddings)
    result.update(retrieval_scores(audio, video))
    result.update(data=None if data is None else os.fspath(data), n_clips=len(ids),
                  n_failed=len(failures),
                  failures=[{"video_id": v, "reason": r} for v, r in failures])
    if released is not None:
        from avprep.train.released import annotate
        annotate(result, ids, released, json_path)
    if json_path:
        outputs.write_json(Path(json_path), result)
    return result


def format_scores(result: Dict[str, Any]) -> List[str]:
    """The recalls as percentages, one line per direction, with the published anchors."""
    lines = []
    for prefix, name in DIRECTIONS:
        r = {k: result[f"{prefix}_{k}"] for k in ("R@1", "R@5", "R@10", "MR")}
        anchor = ", ".join(f"{ds} {a[prefix + '_R@1']}" for ds, a in ANCHORS.items())
        lines.append(f"{name}: R@1 {100 * r['R@1']:.1f}  R@5 {100 * r['R@5']:.1f}  "
                     f"R@10 {100 * r['R@10']:.1f}  MR {r['MR']:g}   "
                     f"(CAV-MAE Scale+ R@1: {anchor})")
    return lines
