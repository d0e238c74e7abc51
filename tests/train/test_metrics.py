"""Metrics against scikit-learn, scipy and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from avprep.train.metrics import (classification_metrics, d_prime, recall_at_k,
                                  retrieval_metrics, retrieval_ranks, scored_classes, similarity)


def _random_problem(seed: int, n: int = 40, classes: int = 7):
    rng = np.random.default_rng(seed)
    target = (rng.random((n, classes)) < 0.3).astype(np.float32)
    target[:, 2] = 0  # a class without any positive
    target[:, 4] = 1  # a class that is positive everywhere (AP defined, AUC not)
    output = rng.normal(size=(n, classes)) + 1.5 * target
    return output, target


def test_classification_metrics_match_sklearn_over_classes_with_positives():
    output, target = _random_problem(0)
    m = classification_metrics(output, target)
    scored = [k for k in range(target.shape[1]) if target[:, k].any()]
    assert 2 not in scored and len(scored) == 6
    ap = np.mean([average_precision_score(target[:, k], output[:, k]) for k in scored])
    auc = np.mean([roc_auc_score(target[:, k], output[:, k]) for k in scored if k != 4])
    assert m["mAP"] == pytest.approx(ap, abs=1e-12)
    assert m["AUC"] == pytest.approx(auc, abs=1e-12)
    assert m["d_prime"] == pytest.approx(norm.ppf(auc) * math.sqrt(2), abs=1e-12)
    acc = accuracy_score(np.argmax(target, 1), np.argmax(output, 1))
    assert m["acc"] == pytest.approx(acc)
    assert m["n_classes_scored"] == 6 and m["n_samples"] == 40


def test_metrics_ignore_monotonic_transform_and_accept_smoothed_labels():
    output, target = _random_problem(1)
    raw = classification_metrics(output, target)
    prob = classification_metrics(1 / (1 + np.exp(-output)), target)
    for key in ("mAP", "AUC", "d_prime", "acc"):
        assert prob[key] == pytest.approx(raw[key], abs=1e-12)
    smoothed = target * 0.9 + 0.1 / target.shape[1]  # label smoothing keeps positives > 0.5
    assert classification_metrics(output, smoothed)["mAP"] == pytest.approx(raw["mAP"])


def test_hand_computed_small_case():
    # one class, scores ranked: pos 0.9, neg 0.8, pos 0.3, neg 0.1
    output = np.array([[0.9], [0.8], [0.3], [0.1]])
    target = np.array([[1.0], [0.0], [1.0], [0.0]])
    m = classification_metrics(output, target)
    assert m["mAP"] == pytest.approx((1 / 1 + 2 / 3) / 2)  # precision at each positive
    assert m["AUC"] == pytest.approx(3 / 4)  # 3 of 4 (pos, neg) pairs ordered correctly
    assert m["acc"] == 1.0  # a single class: every arg-max agrees


def test_d_prime_values():
    assert d_prime(0.5) == pytest.approx(0.0, abs=1e-12)
    assert d_prime(norm.cdf(1 / math.sqrt(2))) == pytest.approx(1.0, abs=1e-9)
    assert d_prime(1.0) == math.inf
    assert math.isnan(d_prime(float("nan")))


def test_no_positive_anywhere_gives_nan_not_zero():
    m = classification_metrics(np.zeros((3, 2)), np.zeros((3, 2)))
    assert math.isnan(m["mAP"]) and math.isnan(m["AUC"]) and m["n_classes_scored"] == 0
    assert scored_classes(np.array([[0, 1], [0, 0.95]])).tolist() == [1]


def test_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        classification_metrics(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2-D"):
        classification_metrics(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="square"):
        recall_at_k(np.zeros((2, 3)))


def test_retrieval_ranks_hand_computed():
    sim = np.array([[0.9, 0.1, 0.2],    # true match best: rank 0
                    [0.5, 0.4, 0.6],    # two candidates above: rank 2
                    [0.1, 0.7, 0.3]])   # one above: rank 1
    assert retrieval_ranks(sim).tolist() == [0, 2, 1]
    r = recall_at_k(sim, ks=(1, 2, 5))
    assert r == {"R@1": pytest.approx(1 / 3), "R@2": pytest.approx(2 / 3), "R@5": 1.0, "MR": 2.0}
    # ties count in the query's favour
    assert retrieval_ranks(np.array([[0.5, 0.5], [0.5, 0.5]])).tolist() == [0, 0]


def test_retrieval_metrics_both_directions():
    rng = np.random.default_rng(3)
    n = 30
    audio = rng.normal(size=(n, 8))
    video = audio + 0.05 * rng.normal(size=(n, 8))
    m = retrieval_metrics(audio, video)
    assert m["a2v_R@1"] == 1.0 and m["v2a_R@1"] == 1.0 and m["a2v_MR"] == 1.0
    # pair audio i with video (i+1) mod n: the true pair is now unrelated
    shuffled = retrieval_metrics(audio, np.roll(video, 1, axis=0))
    assert shuffled["a2v_R@1"] < 0.2 and shuffled["v2a_R@10"] < 1.0
    # direction matters: v2a ranks audio candidates for each video query
    sim = similarity(audio, np.roll(video, 1, axis=0))
    assert shuffled["v2a_R@5"] == pytest.approx(np.mean(retrieval_ranks(sim.T) < 5))
    assert shuffled["a2v_R@5"] == pytest.approx(np.mean(retrieval_ranks(sim) < 5))
    # cosine similarity is scale-free
    assert retrieval_metrics(3 * audio, video) == m


def test_blockwise_ranks_equal_full_matrix_ranks():
    from avprep.train.metrics import paired_ranks

    rng = np.random.default_rng(5)
    a, v = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    full = retrieval_ranks(similarity(a, v))
    assert paired_ranks(a, v, chunk=7).tolist() == full.tolist()
    assert paired_ranks(v, a, chunk=50).tolist() == retrieval_ranks(similarity(a, v).T).tolist()
