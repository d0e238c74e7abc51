"""Sample-weight CSVs (one float per line, line i weighs entry i) and the released weight formula.

``count[c]`` is how many times class c appears in the list's label strings,
``label_weight[c] = 1000 / (count[c] + 0.01)`` and the weight of an entry is the float64 sum of
``label_weight`` over its labels, added in the order they are written, as the original
``gen_weight_file.py`` computes it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Union

import numpy as np

from avprep.atomic import atomic_path
from avprep.errors import FormatError
from avprep.lists.datalist import DataList
from avprep.lists.labels import LabelSet, class_indices, label_codes
from avprep.lists.textfile import read_text

PathLike = Union[str, "os.PathLike[str]"]

COUNT_OFFSET = 0.01
SCALE = 1000.0


def read_weights(path: PathLike) -> np.ndarray:
    """Read a weight CSV as float64; any number (also nan, inf, negative) is accepted as data.

    :class:`FormatError` names the first line that is not a single number.
    """
    path = Path(path)
    lines = read_text(path, "weight CSV", encoding="utf-8-sig").splitlines()
    try:
        return np.array(lines, dtype=np.float64).reshape(-1)
    except ValueError:
        pass
    for number, line in enumerate(lines, start=1):
        try:
            float(line)
        except ValueError:
            shown = line if len(line) <= 40 else line[:37] + "..."
            raise FormatError(f"line {number}: {shown!r} is not a number", path) from None
    raise FormatError("not a column of numbers", path)  # pragma: no cover - float() agrees


def weights_text(weights: np.ndarray) -> str:
    """``weights`` as numpy's ``savetxt`` default format writes them (``%.18e``, one a line)."""
    buf = io.BytesIO()
    np.savetxt(buf, np.asarray(weights, dtype=np.float64).reshape(-1))
    return buf.getvalue().decode("ascii")


def write_weights(path: PathLike, weights: np.ndarray) -> None:
    """Write a weight CSV atomically in numpy's ``savetxt`` default format."""
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    with atomic_path(path) as tmp:
        np.savetxt(tmp, weights)


def label_indices(data: DataList, labels: LabelSet):
    """``(flat, offsets)``: class index of every written label, and each entry's slice of them.

    Labels become indices by :func:`avprep.lists.labels.class_indices`'s rule: the first entry
    with a label not in ``labels`` (or an empty label string) raises its :class:`FormatError`
    (an :class:`InputError`), whose ``entry`` is the entry's index in ``data``.
    """
    entry, flat, _ = label_codes(data.arrow_column("labels"), labels)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(entry, minlength=len(data)))])
    if (flat < 0).any():
        bad = int(entry[np.flatnonzero(flat < 0)[0]])
        clip = data[bad]
        class_indices(clip.labels, labels.index, entry=bad, video_id=clip.video_id)
        raise AssertionError(f"entry {bad}: label_codes and class_indices disagree")
    return flat, offsets.astype(np.int64)


def class_counts(data: DataList, labels: LabelSet) -> np.ndarray:
    """How often each class is written in the list's labels (int64, label-set order)."""
    flat, _ = label_indices(data, labels)
    return np.bincount(flat, minlength=len(labels)).astype(np.int64)


def compute_weights(data: DataList, labels: LabelSet) -> np.ndarray:
    """The released class-balancing sample weights of ``data`` (float64, one per entry)."""
    flat, offsets = label_indices(data, labels)
    counts = np.bincount(flat, minlength=len(labels)).astype(np.float64)
    label_weight = SCALE / (counts + COUNT_OFFSET)
    n = len(data)
    lengths = np.diff(offsets)
    weights = np.zeros(n, dtype=np.float64)
    starts = offsets[:-1]
    for k in range(int(lengths.max()) if n else 0):
        rows = np.flatnonzero(lengths > k)
        weights[rows] += label_weight[flat[starts[rows] + k]]
    return weights
