"""Dataset, augmentations and samplers: how training code meets avprep.

- :class:`AudiosetDataset`: drop-in for the original CAV-MAE loader (``audio_conf`` dict, tuples).
- :class:`AVDataset` with :class:`AVConfig`: the typed interface (named-tuple samples).
- :class:`BalancedSampler`, :class:`DistributedBalancedSampler`: weight-proportional draws.
- :func:`collate_waveforms`, :class:`BatchFbank`: fbank per batch on the training device.
"""

from avprep.data.augment import AugmentPlan
from avprep.data.avdataset import AVDataset, AVSample, AVWaveSample
from avprep.data.batch import BatchFbank, WaveBatch, collate_waveforms
from avprep.data.config import AVConfig
from avprep.data.dataset import AudiosetDataset
from avprep.data.image import load_image
from avprep.data.samplers import BalancedSampler, DistributedBalancedSampler, load_weights

__all__ = [
    "AudiosetDataset", "AVDataset", "AVConfig", "AVSample", "AVWaveSample", "AugmentPlan",
    "BalancedSampler", "DistributedBalancedSampler", "load_weights",
    "BatchFbank", "WaveBatch", "collate_waveforms", "load_image",
]
