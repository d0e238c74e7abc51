"""Evaluation metrics: mAP, AUC and d-prime (AudioSet), accuracy (VGGSound), retrieval R@k.

Classification metrics follow the published CAV-MAE evaluation: average precision and ROC AUC per
class from scikit-learn, averaged over classes; d-prime is computed from the mean AUC as
``sqrt(2) * Phi^-1(AUC)``; accuracy compares the arg-max of the scores with the arg-max of the
targets. A class with no positive example (common on small evaluation sets) has no defined AP or
AUC, so the averages are taken over the classes that have at least one positive (and, for AUC, at
least one negative).

Retrieval ranks every candidate of the other modality by cosine similarity; the rank of the true
pair is the number of candidates scored strictly higher, so ties count in the query's favour.
"""

from __future__ import annotations

import math
from typing import Dict, Sequence

import numpy as np

RECALL_AT = (1, 5, 10)


def _as_2d(name: str, x: object) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D [samples, classes], got shape {arr.shape}")
    return arr


def d_prime(auc: float) -> float:
    """Sensitivity index from an ROC AUC: ``sqrt(2) * norm.ppf(auc)`` (inf at 1, -inf at 0)."""
    from scipy.stats import norm

    if auc is None or not np.isfinite(auc):
        return float("nan")
    return float(norm.ppf(auc) * math.sqrt(2.0))


def scored_classes(target: np.ndarray) -> np.ndarray:
    """Indices of the classes that have at least one positive target (value > 0.5)."""
    target = _as_2d("target", target)
    return np.flatnonzero((target > 0.5).any(axis=0))


def classification_metrics(output: object, target: object) -> Dict[str, float]:
    """mAP, AUC, d_prime and acc of scores ``output`` against multi-hot ``target``.

    ``output`` and ``target`` are ``[samples, classes]``; scores may be logits or probabilities
    (every metric here depends only on their order within a class or a row). Targets above 0.5 are
    positives, so smoothed labels work too. Also returns how many classes were scored.
    """
    from sklearn import metrics as skm

    output, target = _as_2d("output", output), _as_2d("target", target)
    if output.shape != target.shape:
        raise ValueError(f"output shape {output.shape} != target shape {target.shape}")
    if output.shape[0] == 0:
        raise ValueError("no samples to evaluate")
    truth = target > 0.5
    aps, aucs = [], []
    for k in scored_classes(target):
        y = truth[:, k]
        aps.append(skm.average_precision_score(y, output[:, k]))
        if not y.all():
            aucs.append(skm.roc_auc_score(y, output[:, k]))
    mean_ap = float(np.mean(aps)) if aps else float("nan")
    mean_auc = float(np.mean(aucs)) if aucs else float("nan")
    acc = float(np.mean(np.argmax(output, axis=1) == np.argmax(target, axis=1)))
    return {"mAP": mean_ap, "AUC": mean_auc, "d_prime": d_prime(mean_auc), "acc": acc,
            "n_classes_scored": len(aps), "n_samples": int(output.shape[0])}


def similarity(query: object, candidates: object) -> np.ndarray:
    """Cosine similarity matrix ``[n_query, n_candidates]`` between two sets of row vectors."""
    q, c = _as_2d("query", query), _as_2d("candidates", candidates)
    return _unit_rows(q) @ _unit_rows(c).T


def retrieval_ranks(sim: object) -> np.ndarray:
    """0-based rank of the true match (the diagonal) in each row of a square similarity matrix."""
    sim = _as_2d("similarity", sim)
    if sim.shape[0] != sim.shape[1]:
        raise ValueError(f"similarity matrix must be square, got {sim.shape}")
    diag = np.diag(sim)[:, None]
    return (sim > diag).sum(axis=1)


def recall_at_k(sim: object, ks: Sequence[int] = RECALL_AT) -> Dict[str, float]:
    """``R@k`` (share of queries whose match ranks in the top k) and ``MR`` (median rank,
    1-based)."""
    return _recalls(retrieval_ranks(sim), ks)


def _recalls(ranks: np.ndarray, ks: Sequence[int]) -> Dict[str, float]:
    out = {f"R@{k}": float(np.mean(ranks < k)) for k in ks}
    out["MR"] = float(np.median(ranks) + 1)
    return out


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def paired_ranks(query: object, candidates: object, chunk: int = 1024) -> np.ndarray:
    """:func:`retrieval_ranks` of ``similarity(query, candidates)``, computed a block of rows at a
    time so that a large evaluation set never holds the full matrix."""
    q, c = _as_2d("query", query), _as_2d("candidates", candidates)
    if q.shape != c.shape:
        raise ValueError(f"paired features must have the same shape, got {q.shape} and {c.shape}")
    q, c = _unit_rows(q), _unit_rows(c)
    ranks = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), chunk):
        sim = q[start:start + chunk] @ c.T
        rows = np.arange(sim.shape[0])
        diag = sim[rows, start + rows][:, None]  # from the same product, so ties stay exact
        ranks[start:start + chunk] = (sim > diag).sum(axis=1)
    return ranks


def retrieval_metrics(audio_feat: object, video_feat: object,
                      ks: Sequence[int] = RECALL_AT) -> Dict[str, float]:
    """Audio->visual (``a2v_``) and visual->audio (``v2a_``) recalls of paired features.

    Row i of ``audio_feat`` and row i of ``video_feat`` come from the same clip. Returns
    ``R@k`` for each k and ``MR``, the median rank (1-based), per direction.
    """
    out = {}
    for prefix, (q, c) in (("a2v", (audio_feat, video_feat)), ("v2a", (video_feat, audio_feat))):
        for key, value in _recalls(paired_ranks(q, c), ks).items():
            out[f"{prefix}_{key}"] = value
    return out
