"""Per-class coverage of a local list against a released one: counts, CSV, a plot, a summary.

A local list is usually the released list cut to the clips a user could download; coverage says,
class by class, how many of the released entries the local list still has, and so which classes
were lost. The CSV and the plot put the worst classes first: the lowest kept fraction, then the
most entries missing (:func:`worst_first`); :func:`class_summary` and :func:`format_classes`
name them in reports.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from avprep.atomic import atomic_path
from avprep.lists.datalist import DataList
from avprep.lists.labels import LabelSet, label_codes
from avprep.safetext import shown

PathLike = Union[str, "os.PathLike[str]"]

COLUMNS = ("index", "mid", "display_name", "released", "local", "fraction", "missing")
#: how many of the worst classes a summary names
WORST_NAMED = 5
#: how many of the worst classes the plot names
WORST_PLOTTED = 20


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
    """A pandas DataFrame, one row per class in index order: released and local entry counts.

    Columns: ``index, mid, display_name, released, local, fraction, missing``: ``fraction`` is the
    kept fraction ``local / released`` (NaN for a class with no released entry), ``missing`` the
    released entries of the class that the local list lacks. Only local entries whose id is in
    ``released`` count.
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
                         "fraction": fraction, "missing": rel - loc})


def worst_first(table) -> np.ndarray:
    """Row positions of a coverage table, worst class first: the lowest kept fraction, then the
    most entries missing, then the lowest index; classes with no released entry last."""
    fraction = table["fraction"].to_numpy(dtype=np.float64)
    missing = table["missing"].to_numpy(dtype=np.int64)
    index = table["index"].to_numpy(dtype=np.int64)
    # np.lexsort sorts by the last key first; NaN sorts after every number
    return np.lexsort((index, -missing, fraction))


def class_summary(table, worst: int = WORST_NAMED) -> Dict[str, object]:
    """JSON-ready: how many classes have released entries, how many lost every entry, half or
    more, or any, and the ``worst`` classes that lost entries, worst first
    (``{index, mid, display_name, released, local, fraction}`` each)."""
    has = table["released"].to_numpy() > 0
    fraction = table["fraction"].to_numpy(dtype=np.float64)
    lost = has & (fraction < 1)
    rows = [int(k) for k in worst_first(table) if lost[k]][:worst]
    return {
        "classes": int(has.sum()), "lost_all": int((has & (fraction == 0)).sum()),
        "lost_half": int((has & (fraction <= 0.5)).sum()), "lost_some": int(lost.sum()),
        "worst": [{"index": int(table["index"].iloc[k]), "mid": str(table["mid"].iloc[k]),
                   "display_name": str(table["display_name"].iloc[k]),
                   "released": int(table["released"].iloc[k]),
                   "local": int(table["local"].iloc[k]), "fraction": float(fraction[k])}
                  for k in rows]}


def format_classes(summary: Dict[str, object]) -> str:
    """A :func:`class_summary` as one line: ``classes: 527 with released entries; 3 lost every
    entry, 9 half or more, 40 some; worst: Speech 0 of 120 (0%), ...``."""
    text = f"classes: {summary['classes']} with released entries; "
    if not summary["lost_some"]:
        return text + "none lost any"
    text += (f"{summary['lost_all']} lost every entry, {summary['lost_half']} half or more, "
             f"{summary['lost_some']} some")
    worst = [f"{shown(w['display_name'], 80)} {w['local']} of {w['released']} "
             f"({100 * w['fraction']:.0f}%)" for w in summary["worst"]]
    return text + "; worst: " + ", ".join(worst)


def missing_ids(local: DataList, released: DataList) -> List[str]:
    """Ids of released entries that the local list lacks, in released order."""
    present = pc.is_in(released.arrow_column("video_id"),
                       value_set=local.arrow_column("video_id"))
    idx = np.flatnonzero(~present.to_numpy(zero_copy_only=False))
    return released.arrow_column("video_id").take(pa.array(idx, pa.int64())).to_pylist()


def write_coverage(df, csv_path: Optional[PathLike] = None, png_path: Optional[PathLike] = None,
                   title: str = "coverage") -> None:
    """Write a coverage table as CSV (its rows worst class first, :func:`worst_first`) and/or as
    a PNG plot of every class's kept fraction, each atomically."""
    if csv_path is not None:
        with atomic_path(csv_path) as tmp:
            df.iloc[worst_first(df)].to_csv(tmp, index=False, float_format="%.6f")
    if png_path is not None:
        _plot(df, png_path, title)


def _classes(count: int, what: str = "") -> str:
    return f"{count} {what}{'class' if count == 1 else 'classes'}"


def _lost_text(summary: Dict[str, object]) -> str:
    if not summary["lost_some"]:
        return f"{_classes(summary['classes'])}, none lost an entry"
    return (f"{_classes(summary['lost_all'])} lost every entry, {summary['lost_half']} half or "
            f"more, {summary['lost_some']} some (of {summary['classes']})")


def _plot(df, png_path: PathLike, title: str) -> None:
    """Left: every class's kept fraction, sorted, on a linear 0-1 axis; right: the worst
    classes by name, with their kept and released counts."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    order = [int(k) for k in worst_first(df) if df["released"].iloc[k] > 0]
    fraction = df["fraction"].to_numpy(dtype=np.float64)[order]
    released = df["released"].to_numpy()[order]
    local = df["local"].to_numpy()[order]
    names = df["display_name"].to_numpy()[order]
    summary = class_summary(df, worst=0)
    n = len(order)
    named = [k for k in range(min(n, WORST_PLOTTED)) if fraction[k] < 1]

    fig = Figure(figsize=(14.0, 6.0), dpi=100)
    grid = fig.add_gridspec(1, 2, width_ratios=(1.6, 1.0))
    ax = fig.add_subplot(grid[0, 0])
    x = np.arange(n)
    badly = fraction <= 0.5
    if n:
        ax.fill_between(x, fraction, step="mid", color="#9ecae1", linewidth=0)
        ax.step(x, fraction, where="mid", color="#2171b5", linewidth=0.8)
        ax.scatter(x[badly], fraction[badly], s=18, color="#cb181d", zorder=3,
                   label="kept half or less")
        median = float(np.median(fraction))
        ax.axhline(median, color="#525252", linestyle="--", linewidth=0.8)
        ax.text(0.45 * n, median + 0.012, f"median {100 * median:.0f}%", ha="center",
                va="bottom", fontsize=8, color="#525252")
        for row, k in enumerate(named[:WORST_NAMED] if n > 60 else []):  # names, arrows to dots
            ax.annotate(f"{shown(names[k], 40)} ({local[k]} of {released[k]})",
                        xy=(k, fraction[k]), xytext=(0.08 * n, 0.06 + 0.09 * row),
                        fontsize=8, va="center", color="#67000d",
                        arrowprops={"arrowstyle": "-", "color": "#cb181d", "linewidth": 0.6})
        if badly.any():
            ax.legend(loc="lower right", fontsize=8)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlim(-0.5, max(n, 1) - 0.5)
    ax.set_ylabel("kept fraction of the class's released entries")
    left_out = int((df["released"] == 0).sum())
    ax.set_xlabel(f"{n} classes, worst first" + (f" ({left_out} with no released entry left "
                                                  "out)" if left_out else ""))
    if 0 < n <= 60:
        ax.set_xticks(x)
        ax.set_xticklabels([shown(name, 40) for name in names], rotation=90,
                           fontsize=8 if n <= 20 else 6)
    ax.set_title(_lost_text(summary), fontsize=10)

    side = fig.add_subplot(grid[0, 1])
    if named:
        y = np.arange(len(named))
        kept = fraction[named]
        side.barh(y, kept, color="#2171b5", linewidth=0)
        side.barh(y, 1 - kept, left=kept, linewidth=0,
                  color=np.where(badly[named], "#cb181d", "#fd8d3c"))
        side.set_yticks(y)
        side.set_yticklabels([shown(names[k], 40) for k in named], fontsize=8)
        side.invert_yaxis()
        for row, k in enumerate(named):
            side.text(1.02, row, f"{local[k]} of {released[k]}", va="center", fontsize=7)
        side.set_xlim(0, 1.25)
        side.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
        side.set_xlabel("blue: kept; red: lost, more than half; orange: lost")
        side.set_title(f"the {_classes(len(named), 'worst ')}", fontsize=10)
    else:
        side.axis("off")
        side.text(0.5, 0.5, "no class lost an entry" if n else "no released entries",
                  ha="center", va="center", fontsize=11)
    fig.suptitle(f"{shown(title, 120)}: released entries kept, per class", fontsize=12)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
