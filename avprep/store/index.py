"""Which clips a pack holds, as ``avprep build-list --pack`` asks: from the pack's index and
manifest alone, no shard opened."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence, Set, Tuple, Union

from avprep.layout import pack_ref, pack_wav_ref

PathLike = Union[str, "os.PathLike[str]"]


class PackIndex:
    """The ids a pack folder holds with every frame (its index, less the entries its manifest
    lists as packed with frames missing), and where a list entry points for them
    (:func:`avprep.layout.pack_wav_ref`): what :func:`avprep.lists.build.build_list` asks of its
    ``media``."""

    def __init__(self, folder: PathLike):
        from avprep.store.reader import open_store

        self.folder = Path(folder)
        with open_store(folder) as store:
            lacking = {item["video_id"] for item in store.manifest.incomplete}
            self._complete = set(store.video_ids) - lacking

    def has_media(self, video_id: str) -> bool:
        """Whether the pack holds ``video_id`` with every frame."""
        return video_id in self._complete

    def ids(self) -> Set[str]:
        """Every id the pack holds with every frame."""
        return set(self._complete)

    def media_paths(self, ids: Sequence[str]) -> Tuple[List[str], List[str]]:
        """The ``wav`` and ``video_path`` of list entries with these ids: into the pack."""
        return ([pack_wav_ref(self.folder, vid) for vid in ids],
                [pack_ref(self.folder)] * len(ids))


__all__ = ["PackIndex"]
