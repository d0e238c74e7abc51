"""Dataset, augmentations and samplers: how training code meets avprep.

- :class:`AudiosetDataset`: drop-in for the original CAV-MAE loader (``audio_conf`` dict, tuples);
  reads a JSON list or a pack folder; strict about missing media unless ``strict`` is False.
- :class:`AVDataset` with :class:`AVConfig`: the typed interface (named-tuple samples).
- :class:`BalancedSampler`, :class:`DistributedBalancedSampler`: weight-proportional draws
  (each index a :class:`Draw` that carries its position, for fresh augmentations per draw).
- :func:`collate_waveforms`, :class:`BatchFbank`: the fbank made per batch on the training device.
- :class:`MultiFrameDataset`: eval items with one fbank and several frames (frame-averaged eval).

Typical use, with the fbank computed on the GPU::

    ds = AVDataset("train.json", "class_labels_indices.csv",
                   AVConfig(mixup=0.5, freqm=48, timem=192, noise=True, seed=0,
                            batch_fbank=True))
    sampler = BalancedSampler("train_weight.csv", data=ds)
    loader = DataLoader(ds, batch_size=48, sampler=sampler, num_workers=8,
                        collate_fn=collate_waveforms)
    to_fbank = BatchFbank(ds.config, device="cuda")
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        sampler.set_epoch(epoch)
        for batch in loader:
            fbank = to_fbank.batch(batch)          # [48, 1024, 128] on the GPU
            image, label = batch.image.cuda(), batch.label.cuda()
"""

from avprep.data.augment import AugmentPlan
from avprep.data.avdataset import AVDataset, AVSample, AVWaveSample
from avprep.data.batch import BatchFbank, WaveBatch, collate_waveforms
from avprep.data.config import AVConfig
from avprep.data.dataset import AudiosetDataset
from avprep.data.image import load_image
from avprep.data.multiframe import MultiFrameDataset, MultiFrameSample
from avprep.data.samplers import BalancedSampler, DistributedBalancedSampler, Draw, load_weights

__all__ = [
    "AudiosetDataset", "AVDataset", "AVConfig", "AVSample", "AVWaveSample", "AugmentPlan",
    "BalancedSampler", "DistributedBalancedSampler", "Draw", "load_weights",
    "BatchFbank", "WaveBatch", "collate_waveforms", "load_image",
    "MultiFrameDataset", "MultiFrameSample",
]
