"""avprep: prepare AudioSet and VGGSound for CAV-MAE, exactly as the released checkpoints expect.

Subpackages, in the order data flows through them:

- :mod:`avprep.lists`    released JSON lists, label CSVs, weight CSVs; ids; validation; coverage
- :mod:`avprep.fetch`    download released resources named in ``manifests/``, checked
  (:mod:`avprep.transfer`, :mod:`avprep.filecheck`); :mod:`avprep.cache_dir` the cache folder
- :mod:`avprep.download` the listed clips' segments from YouTube: paced, resumable, logged
- :mod:`avprep.media`    raw video -> 16 kHz wav + 10 frames, one clip or a whole folder, on an
  execution engine (:mod:`avprep.engines`: local processes or Ray)
- :mod:`avprep.features` Kaldi-compatible fbank, single clip and batched
- :mod:`avprep.store`    packed Arrow shards with random access
- :mod:`avprep.data`     Dataset (drop-in for the original loader), balanced samplers, dataset
  normalization statistics
- :mod:`avprep.models`   CAVMAE and CAVMAEFT, checkpoint loading, model zoo
- :mod:`avprep.train`    pretraining, fine-tuning and evaluation loops
"""

__version__ = "0.1.0"
