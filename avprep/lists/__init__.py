"""The data-list contract: JSON lists, label CSVs, weight CSVs, ids, validation and coverage.

>>> from avprep.lists import read_list, read_labels, compute_weights
>>> data = read_list("audioset_20k_cleaned.json")            # doctest: +SKIP
>>> weights = compute_weights(data, read_labels("class_labels_indices.csv"))  # doctest: +SKIP

Names are imported on first use, so ``import avprep.lists.ids`` (what extraction workers need)
does not load the columnar readers.
"""

from __future__ import annotations

from avprep.lazy import lazy_exports

_EXPORTS = {
    "Entry": "avprep.lists.datalist", "DataList": "avprep.lists.datalist",
    "read_list": "avprep.lists.jsonlist", "write_list": "avprep.lists.jsonlist",
    "LabelSet": "avprep.lists.labels", "read_labels": "avprep.lists.labels",
    "write_labels": "avprep.lists.labels",
    "compute_weights": "avprep.lists.weights", "read_weights": "avprep.lists.weights",
    "write_weights": "avprep.lists.weights",
}

__all__ = [
    "Entry", "DataList", "read_list", "write_list", "LabelSet", "read_labels", "write_labels",
    "read_weights", "write_weights", "compute_weights",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
