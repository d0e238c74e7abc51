"""Dataset normalization statistics, defined as the original CAV-MAE recipe computes them.

The original recipe runs its loader with ``skip_norm`` (no normalization, no augmentation that
matters here), batches of ``batch_size`` clips in list order, and averages per-batch figures:

    F_i     = pad_or_cut(fbank_i, target_length)        un-normalized log-mel, [target_length, 128]
    batch b = clips b*B .. b*B + B - 1 (the last batch may be smaller)
    m_b     = mean of every element of the batch's F_i
    s_b     = sample standard deviation (n - 1) of every element of the batch's F_i
    mean    = average of m_b over batches,  std = average of s_b over batches

Zero padding rows count, as in the original. ``pooled_mean`` and ``pooled_std`` are the plain
mean and standard deviation over all elements of all clips, given alongside. Per-clip sums are
taken in float64 and combined exactly (Chan's pairwise update), so the result does not depend on
the number of workers.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from avprep.constants import TARGET_LENGTH
from avprep.errors import AvprepError
from avprep.features.normalize import pad_or_cut, wav_fbank
from avprep.progress import progress

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_BATCH_SIZE = 1000
CHUNK = 32

Moments = Tuple[int, float, float]  # element count, mean, sum of squared deviations


@dataclass
class NormStats:
    """Normalization statistics of a dataset (see the module docstring for the definition)."""

    mean: float
    std: float
    pooled_mean: float
    pooled_std: float
    clips: int
    batches: int
    batch_size: int
    target_length: int
    failures: List[Dict[str, object]] = field(default_factory=list)

    def to_json(self) -> Dict[str, object]:
        """The statistics as a JSON object, with the definition spelled out."""
        out = asdict(self)
        out["definition"] = ("mean and std are averages over consecutive batches of batch_size "
                             "clips of each batch's mean and sample std of all elements of the "
                             "un-normalized fbank padded or cut to target_length frames")
        return out


def combine(a: Moments, b: Moments) -> Moments:
    """Moments of the union of two sets of elements."""
    na, ma, qa = a
    nb, mb, qb = b
    n = na + nb
    if n == 0:
        return (0, 0.0, 0.0)
    delta = mb - ma
    return (n, ma + delta * nb / n, qa + qb + delta * delta * na * nb / n)


def fbank_moments(fb) -> Moments:
    """Moments of one padded fbank (tensor or array), in float64."""
    x = np.asarray(fb.numpy() if hasattr(fb, "numpy") else fb, dtype=np.float64)
    if x.size == 0:
        return (0, 0.0, 0.0)
    mean = float(x.mean())
    return (int(x.size), mean, float(((x - mean) ** 2).sum()))


def stats_from_moments(per_clip: Sequence[Moments], batch_size: int = DEFAULT_BATCH_SIZE,
                       target_length: int = TARGET_LENGTH,
                       failures: Optional[List[Dict[str, object]]] = None) -> NormStats:
    """Batch-averaged and pooled statistics from per-clip moments in list order."""
    if not per_clip:
        raise AvprepError("no clip could be read: no statistics")
    means, stds = [], []
    pooled: Moments = (0, 0.0, 0.0)
    for start in range(0, len(per_clip), batch_size):
        batch: Moments = (0, 0.0, 0.0)
        for moments in per_clip[start:start + batch_size]:
            batch = combine(batch, moments)
        n, m, q = batch
        means.append(m)
        stds.append(math.sqrt(q / (n - 1)) if n > 1 else 0.0)
        pooled = combine(pooled, batch)
    n, m, q = pooled
    return NormStats(mean=float(np.mean(means)), std=float(np.mean(stds)), pooled_mean=m,
                     pooled_std=math.sqrt(q / (n - 1)) if n > 1 else 0.0, clips=len(per_clip),
                     batches=len(means), batch_size=batch_size, target_length=target_length,
                     failures=list(failures or []))


def dataset_stats(source, target_length: int = TARGET_LENGTH,
                  batch_size: int = DEFAULT_BATCH_SIZE, workers: int = 1,
                  chunk: int = CHUNK) -> NormStats:
    """Normalization statistics of a data list (a DataList or JSON path) or a pack folder.

    Clips whose audio cannot be read are left out and listed in ``failures`` (entry, video id,
    reason); batches are formed over the clips that could be read, in list order. A pack made
    with ``--fbank`` uses its stored fbanks. ``workers`` processes each take ``chunk`` clips at
    a time.
    """
    jobs, total = _jobs(source, max(1, chunk))
    results: List[Tuple[int, str, object]] = []
    bar = progress(total=total, desc="stats", unit="clip")
    try:
        if workers <= 1 or len(jobs) <= 1:
            from avprep.features.kaldi import torch_threads

            with torch_threads(1):
                for job in jobs:
                    part = _run_chunk((job, target_length))
                    results.extend(part)
                    bar.update(len(part))
        else:
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, initializer=_worker_init) as pool:
                for part in pool.imap(_run_chunk, [(j, target_length) for j in jobs]):
                    results.extend(part)
                    bar.update(len(part))
    finally:
        bar.close()
        for store in _STORES.values():
            store.close()  # type: ignore[attr-defined]
        _STORES.clear()
    moments = [r[2] for r in results if isinstance(r[2], tuple)]
    failures = [{"entry": r[0], "video_id": r[1], "reason": r[2]} for r in results
                if isinstance(r[2], str)]
    return stats_from_moments(moments, batch_size, target_length, failures)


def _jobs(source, chunk: int) -> Tuple[List[tuple], int]:
    from avprep.lists import DataList, read_list

    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        from avprep.store import open_store

        n = len(open_store(source))
        folder = os.fspath(source)
        return [("pack", folder, list(range(i, min(i + chunk, n))))
                for i in range(0, n, chunk)], n
    from avprep.data.sources import PackRows

    path = None if isinstance(source, DataList) else os.fspath(source)
    data = source if isinstance(source, DataList) else read_list(source)
    ids, wavs = data.video_id, data.wav
    packs = PackRows.of(data, path)  # entries that point into a pack are read from it
    rows = [(i, ids[i], wavs[i]) + (packs.where(i) if packs is not None else (None, -1))
            for i in range(len(data))]
    return [("wav", rows[i:i + chunk]) for i in range(0, len(rows), chunk)], len(rows)


def _run_chunk(arg) -> List[Tuple[int, str, object]]:
    job, target_length = arg
    out: List[Tuple[int, str, object]] = []
    if job[0] == "pack":
        store = _open_store(job[1])
        for row in job[2]:
            rec = store[row]
            out.append((rec.list_index, rec.video_id,
                        fbank_moments(pad_or_cut(_record_fbank(rec), target_length))))
        return out
    for entry, video_id, wav, folder, row in job[1]:
        try:
            fb = wav_fbank(wav) if folder is None or row < 0 else _record_fbank(
                _open_store(folder)[row])
        except AvprepError as err:
            out.append((entry, video_id, str(err)))
            continue
        out.append((entry, video_id, fbank_moments(pad_or_cut(fb, target_length))))
    return out


def _record_fbank(rec):
    """A pack record's stored fbank, or the one of its waveform."""
    import torch
    from avprep.features.normalize import centred_fbank

    fb = rec.fbank
    return centred_fbank(rec.waveform(), rec.sample_rate) if fb is None else torch.from_numpy(fb)


_STORES: Dict[str, object] = {}


def _open_store(folder: str):
    """One open store per folder and process (its index is read once, not once per chunk)."""
    from avprep.store import open_store

    if folder not in _STORES:
        _STORES[folder] = open_store(folder)
    return _STORES[folder]


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)

