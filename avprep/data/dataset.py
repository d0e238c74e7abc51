"""``AudiosetDataset``: a drop-in for the original CAV-MAE loader class of the same name.

Same constructor, same ``audio_conf`` keys, same ``(fbank, image, label)`` items with the same
numbers, from a JSON list or from a pack folder. Differences, all on purpose:
- wav files are read with libsndfile (``torchaudio.load`` needs extra packages in torchaudio 2.9);
- strict by default: a missing or unreadable file raises ``MediaError`` naming the id and the file,
  where the original silently substitutes; ``audio_conf['strict'] = False`` restores the
  substitutes, which are then counted (``dataset.substitutions``) and logged, never printed;
- a mixup partner's frame is read from the partner's own ``video_path``;
- with ``audio_conf['seed']`` set, the random choices depend only on (seed, epoch, index) and,
  for a balanced sampler's draw, its position in the epoch (repeats of a clip differ).
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Tuple, Union

import torch

from avprep.data.avdataset import AVDataset
from avprep.data.config import AVConfig

PathLike = Union[str, "os.PathLike[str]"]


class AudiosetDataset(AVDataset):
    """The original loader's interface over :class:`AVDataset`.

    ``dataset_json_file``: a JSON data list or a pack folder; ``audio_conf``: the original's dict
    (see :class:`AVConfig` for keys and defaults); ``label_csv``: the label CSV. ``ds[i]`` is
    ``(fbank [target_length, 128], image [3, 224, 224], label [classes])``, float32; in
    ``batch_fbank`` mode ``(waveform, image, label, aug)`` for :class:`avprep.data.BatchFbank`.
    """

    def __init__(self, dataset_json_file: PathLike, audio_conf: Optional[Mapping[str, Any]] = None,
                 label_csv: Optional[PathLike] = None):
        self.audio_conf = dict(audio_conf or {})
        super().__init__(dataset_json_file, label_csv, AVConfig.from_audio_conf(self.audio_conf))
        self.datapath = dataset_json_file

    @property
    def num_samples(self) -> int:
        """Number of samples (the original's attribute)."""
        return len(self)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, ...]:
        item = super().__getitem__(index)
        return tuple(item[:4]) if self.config.batch_fbank else tuple(item[:3])
