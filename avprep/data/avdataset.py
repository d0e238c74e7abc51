"""``AVDataset``: the typed Dataset for new code (a config object in, named tuples out)."""

from __future__ import annotations

import collections
import os
from typing import Dict, NamedTuple, Optional, Union

import torch
from torch.utils.data import Dataset

from avprep.data.builder import AUDIO_OK, SampleBuilder
from avprep.data.config import AVConfig
from avprep.data.sources import Source, open_source
from avprep.errors import InputError
from avprep.framespec import FrameSpec

PathLike = Union[str, "os.PathLike[str]"]


class AVSample(NamedTuple):
    """One sample: fbank ``[target_length, bins]`` (``[audio_window, bins]`` with an audio
    window), image ``[3, res, res]``, label ``[classes]`` (all float32), its list index and video
    id."""

    fbank: torch.Tensor
    image: torch.Tensor
    label: torch.Tensor
    index: int
    video_id: str


class AVWaveSample(NamedTuple):
    """A sample in batch-fbank mode: the mean-removed (and mixed) waveform ``[samples]`` in place of
    the fbank, plus the fbank-side augmentation choices ``aug`` (float64 ``[8]``) that
    :class:`avprep.data.BatchFbank` applies."""

    waveform: torch.Tensor
    image: torch.Tensor
    label: torch.Tensor
    aug: torch.Tensor
    index: int
    video_id: str


def _label_index(label_csv: object) -> Dict[str, int]:
    if label_csv is None:
        raise InputError("a label CSV is needed to turn labels into class indices")
    if hasattr(label_csv, "index") and hasattr(label_csv, "mids"):
        return dict(label_csv.index)  # type: ignore[attr-defined]
    from avprep.lists import read_labels
    return dict(read_labels(label_csv).index)  # type: ignore[arg-type]


class AVDataset(Dataset):
    """Samples of a JSON data list (path or ``DataList``) or of a pack folder.

    ``labels`` is the label CSV (path or ``LabelSet``); ``config`` an :class:`AVConfig`. Items are
    :class:`AVSample` (or :class:`AVWaveSample` with ``config.batch_fbank``). ``frames`` is how
    many frames per clip the data records (ten without a record); the frame is drawn from
    ``[0, config.total_frame)``, which is ``frames`` unless the config sets it. Call
    ``set_epoch(e)`` before each epoch when ``config.seed`` is set (with persistent workers, the
    epoch the workers were started with stays in use). ``substitutions`` counts, per kind, the
    substitutes used in lenient mode in this process.
    """

    def __init__(self, data: Union[PathLike, object], labels: Union[PathLike, object],
                 config: Optional[AVConfig] = None):
        config = config if config is not None else AVConfig()
        if config.batch_fbank and config.num_mel_bins != 128:
            raise InputError("batch_fbank computes 128 mel bins; set num_mel_bins to 128")
        if config.batch_fbank and config.audio_window is not None:
            raise InputError("audio_window slices the fbank in the loader: turn batch_fbank off")
        self.source: Source = open_source(data)
        if config.total_frame is None:
            config = config.replace(total_frame=self.frames)
        self.config = config
        self.label_index = _label_index(labels)
        self.builder = SampleBuilder(self.source, self.label_index, self.config)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.source)

    @property
    def frames(self) -> int:
        """Frames per clip the data records having (:attr:`frame_spec`)."""
        return self.frame_spec.count

    @property
    def frame_spec(self) -> FrameSpec:
        """How the data's frames were made (:class:`avprep.framespec.FrameSpec`)."""
        return self.source.frame_spec

    @property
    def label_num(self) -> int:
        """Number of classes."""
        return len(self.label_index)

    @property
    def substitutions(self) -> collections.Counter:
        """Substitutes used so far in this process, by kind (lenient mode)."""
        return self.builder.substitutions

    def set_epoch(self, epoch: int) -> None:
        """Use the random choices of epoch ``epoch`` (with a seed set)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> Union[AVSample, AVWaveSample]:
        position = getattr(index, "position", None)  # a balanced sampler's Draw
        index = int(index)
        b = self.builder
        clip, plan, partner = b.parts(index, self.epoch, position)
        image = b.image(clip, plan, partner)
        label = b.label(clip, plan, partner)
        if self.config.batch_fbank:
            audio = b.audio(clip, plan, partner, waveform_only=True)
            aug = plan.as_tensor()
            aug[7] = audio.status
            wave = audio.waveform if audio.status == AUDIO_OK else torch.zeros(0)
            return AVWaveSample(wave, image, label, aug, index, clip.video_id)
        return AVSample(b.fbank(clip, plan, partner), image, label, index, clip.video_id)
