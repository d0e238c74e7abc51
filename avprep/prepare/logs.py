"""Reading a preparation's run logs: the download logs and the extraction failure log.

What :mod:`avprep.lists.accounting` needs to account for each missing clip, read from the logs
that ``avprep download`` and ``avprep extract`` write.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, Optional, Sequence, Union

from avprep.download.log import read_download_log
from avprep.lists.accounting import (MissingAccount, account_missing, expand_log_paths,
                                     failures_by_id)
from avprep.media.log import read_failures

PathLike = Union[str, "os.PathLike[str]"]


def read_download_logs(patterns: Iterable[PathLike]) -> Dict[str, Dict[str, str]]:
    """``id -> record`` (its state) over several download logs (a run's shard logs): an id's
    record with the latest ``time`` wins, a later log winning a tie. See
    :func:`avprep.download.read_download_log` for one log."""
    state: Dict[str, Dict[str, str]] = {}
    for path in expand_log_paths(patterns):
        for video_id, record in read_download_log(path).items():
            old = state.get(video_id)
            if old is None or str(record.get("time", "")) >= str(old.get("time", "")):
                state[video_id] = record
    return state


def account_from_logs(missing: Sequence[str], download_logs: Sequence[PathLike],
                      extract_log: Optional[PathLike] = None) -> MissingAccount:
    """:func:`account_missing` with the state read from ``download_logs`` (paths or globs,
    :func:`read_download_logs`) and the failures from the extraction log ``extract_log``."""
    paths = expand_log_paths(download_logs)
    failures = (failures_by_id(read_failures(extract_log, latest=True))
                if extract_log is not None else {})
    return account_missing(missing, read_download_logs(paths), failures, paths, extract_log)
