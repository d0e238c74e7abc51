"""Per-class coverage of a local list against a released one: counts, CSV, and a bar plot.

A local list is usually the released list cut to the clips a user could download; coverage says,
class by class, how many of the released entries the local list still has.
"""

from __future__ import annotations

import os
from typing import List, Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avprep.atomic import atomic_path
from avprep.lists.datalist import DataList
from avprep.lists.labels import LabelSet, label_codes

PathLike = Union[str, "os.PathLike[str]"]

COLUMNS = ("index", "mid", "display_name", "released", "local", "fraction")


def entry_class_pairs(data: DataList, labels: LabelSet):
    """``(entry, class)`` index arrays for every known label of every entry, each pair once.

    Labels not in ``labels`` are left out (validation reports them).
    """
    entry, cls, _ = label_codes(data.arrow_column("labels"), labels)
    known = cls >= 0
    entry, cls = entry[known], cls[known]
    keys, _ = unique_counts(entry * max(1, len(labels)) + cls)
    return keys // max(1, len(labels)), keys % max(1, len(labels))


def unique_counts(keys: np.ndarray):
    """Sorted distinct values of an int64 array and how often each occurs.

    A stable sort handles the nearly sorted keys made here (entry-major) in about linear time.
    """
    if keys.size == 0:
        return keys.astype(np.int64), np.zeros(0, dtype=np.int64)
    keys = np.sort(keys, kind="stable")
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    counts = np.diff(np.append(starts, keys.size))
    return keys[starts], counts


def class_entry_counts(data: DataList, labels: LabelSet) -> np.ndarray:
    """How many entries of ``data`` carry each class (int64, label-set order)."""
    _, cls = entry_class_pairs(data, labels)
    return np.bincount(cls, minlength=len(labels)).astype(np.int64)


def coverage(local: DataList, released: DataList, labels: LabelSet):
    """A pandas DataFrame, one row per class: released and local entry counts and their ratio.

    Columns: ``index, mid, display_name, released, local, fraction`` (``fraction`` is NaN for a
    class with no released entry). Only local entries whose id is in ``released`` count.
    """
    import pandas as pd

    in_released = pc.is_in(local.arrow_column("video_id"),
                           value_set=released.arrow_column("video_id"))
    kept = local.select(np.flatnonzero(in_released.to_numpy(zero_copy_only=False)))
    rel = class_entry_counts(released, labels)
    loc = class_entry_counts(kept, labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(rel > 0, loc / np.maximum(rel, 1), np.nan)
    return pd.DataFrame({"index": np.arange(len(labels)), "mid": labels.mids,
                         "display_name": labels.names, "released": rel, "local": loc,
                         "fraction": fraction})


def missing_ids(local: DataList, released: DataList) -> List[str]:
    """Ids of released entries that the local list lacks, in released order."""
    present = pc.is_in(released.arrow_column("video_id"),
                       value_set=local.arrow_column("video_id"))
    idx = np.flatnonzero(~present.to_numpy(zero_copy_only=False))
    return released.arrow_column("video_id").take(pa.array(idx, pa.int64())).to_pylist()


def write_coverage(df, csv_path: Optional[PathLike] = None, png_path: Optional[PathLike] = None,
                   title: str = "coverage") -> None:
    """Write a coverage table as CSV and/or as a PNG bar plot, each atomically."""
    if csv_path is not None:
        with atomic_path(csv_path) as tmp:
            df.to_csv(tmp, index=False, float_format="%.6f")
    if png_path is not None:
        _plot(df, png_path, title)


def _plot(df, png_path: PathLike, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    order = np.argsort(-df["released"].to_numpy(), kind="stable")
    released = df["released"].to_numpy()[order]
    local = df["local"].to_numpy()[order]
    x = np.arange(len(order))
    fig = Figure(figsize=(max(8.0, min(16.0, len(order) * 0.03)), 4.5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    width = 1.0 if len(order) > 60 else 0.8
    ax.bar(x, released, width=width, color="#c6dbef", label="released", linewidth=0)
    ax.bar(x, local, width=width, color="#2171b5", label="local", linewidth=0)
    if len(order) <= 60:
        ax.set_xticks(x)
        ax.set_xticklabels(df["display_name"].to_numpy()[order], rotation=90, fontsize=6)
    else:
        ax.set_xlabel(f"{len(order)} classes, most frequent first")
    positive = released[released > 0]
    if positive.size and positive.max() > 100 * positive.min():
        ax.set_yscale("log")
    total_rel, total_loc = int(released.sum()), int(local.sum())
    share = f"{100.0 * total_loc / total_rel:.1f}%" if total_rel else "n/a"
    ax.set_title(f"{title}: {total_loc} of {total_rel} class labels present ({share})")
    ax.set_ylabel("entries")
    ax.set_xlim(-1, len(order))
    ax.legend(loc="upper right")
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
