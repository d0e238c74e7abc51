"""Pretraining, fine-tuning and evaluation of CAV-MAE, with the original scripts' options.

- :func:`pretrain` with a :class:`PretrainConfig` (:mod:`avprep.train.pretrain`);
- :func:`finetune` with a :class:`FinetuneConfig` (:mod:`avprep.train.finetune`);
- :func:`evaluate` with an :class:`EvalConfig` (:mod:`avprep.train.evaluate`);
- metrics (mAP, AUC, d-prime, accuracy, retrieval R@k) in :mod:`avprep.train.metrics`.
"""

from avprep.train.config import EvalConfig, FinetuneConfig, PretrainConfig
from avprep.train.evaluate import evaluate
from avprep.train.finetune import finetune
from avprep.train.pretrain import pretrain

__all__ = ["EvalConfig", "FinetuneConfig", "PretrainConfig", "evaluate", "finetune", "pretrain"]
