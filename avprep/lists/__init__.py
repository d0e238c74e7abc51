"""The data-list contract: JSON lists, label CSVs, weight CSVs, ids, validation and coverage.

>>> from avprep.lists import read_list, read_labels, compute_weights
>>> data = read_list("audioset_20k_cleaned.json")            # doctest: +SKIP
>>> weights = compute_weights(data, read_labels("class_labels_indices.csv"))  # doctest: +SKIP
"""

from avprep.lists.datalist import DataList, Entry
from avprep.lists.jsonlist import read_list, write_list
from avprep.lists.labels import LabelSet, read_labels, write_labels
from avprep.lists.weights import compute_weights, read_weights, write_weights

__all__ = [
    "Entry", "DataList", "read_list", "write_list", "LabelSet", "read_labels", "write_labels",
    "read_weights", "write_weights", "compute_weights",
]
