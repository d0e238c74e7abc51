"""Preparation as one operation: :func:`prepare_dataset` and the summary of a run.

>>> from avprep.prepare import prepare_dataset
>>> result = prepare_dataset("audioset", "downloads/", "prepared/", lists="released/",
...                          workers=8)                                   # doctest: +SKIP
>>> print(result.text)                                                    # doctest: +SKIP

:mod:`avprep.prepare.dataset` holds the steps; :mod:`avprep.prepare.report` the run's summary
(``avprep prepare-report``); :mod:`avprep.prepare.logs` reads the run logs that account for each
missing clip.
"""

from avprep.prepare.dataset import EXTRACT_LOG, PrepareResult, prepare_dataset, released_files_dir
from avprep.prepare.report import (format_build, format_summary, summarize, unusable_build_notes,
                                   write_summary)

__all__ = [
    "prepare_dataset", "PrepareResult", "released_files_dir", "EXTRACT_LOG",
    "summarize", "format_summary", "write_summary", "format_build", "unusable_build_notes",
]
