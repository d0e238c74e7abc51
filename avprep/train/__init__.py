"""Pretraining, fine-tuning and evaluation of CAV-MAE, with the original scripts' options.

- :mod:`avprep.train.pretrain`: ``pretrain(PretrainConfig(...))``, masked reconstruction plus
  audio-visual contrast;
- :mod:`avprep.train.finetune`: ``finetune(FinetuneConfig(...))``, a classifier from a pretrained
  checkpoint, then the final 10-frame evaluation;
- :mod:`avprep.train.evaluate`: ``evaluate(EvalConfig(...))``, a fine-tuned checkpoint on a list;
- :mod:`avprep.train.metrics`: mAP, AUC, d-prime, accuracy, retrieval R@k;
- :mod:`avprep.train.config`: the settings as plain values, under the original option names.
- what they share: :mod:`~avprep.train.runtime` (device, DDP, AMP), :mod:`~avprep.train.loaders`,
  :mod:`~avprep.train.optim`, :mod:`~avprep.train.initialize` (starting weights),
  :mod:`~avprep.train.outputs` (experiment folder, metrics, epoch files),
  :mod:`~avprep.train.resume` (``resume.pth``, :class:`~avprep.train.resume.TrainState`) and
  :mod:`~avprep.train.checkpointing` (models, weight averaging, disk use).

Only the configs are imported here, so ``avprep --help`` does not load torch.
"""

from avprep.train.config import EvalConfig, FinetuneConfig, PretrainConfig

__all__ = ["EvalConfig", "FinetuneConfig", "PretrainConfig"]
