"""CAV-MAE models in plain PyTorch, loadable from the released checkpoints.

- :class:`CAVMAE` (pretraining) and :class:`CAVMAEFT` (fine-tuning), with the original
  constructors, forwards and parameter names; ``CAVMAE(..., groups=G)`` computes a step's
  losses as the original's nn.DataParallel over G GPUs did (:func:`combine_replicas`);
- :func:`build` a model by kind and named size (``'base'``, ``'tiny'``);
- :func:`load` a checkpoint file or model-zoo name into a fitting model, with a :class:`LoadReport`;
- attention through SDPA or the explicit softmax (:func:`set_attention_impl`,
  :func:`attention_impl`, :func:`use_attention`).
"""

from .cav_mae import CAVMAE, combine_replicas, contrastive_loss, patchify, unpatchify
from .cav_mae_ft import CAVMAEFT
from .checkpoint import (CheckpointError, LoadReport, UnsafeCheckpointError, add_module,
                         check_finite, load_file, load_state, read_state_dict, safe_load,
                         save_state_dict, strip_module, unwrap)
from .factory import KINDS, build, size_config
from .loader import load, resolve
from .vit import attention_impl, get_attention_impl, set_attention_impl, use_attention
from .zoo import ZooEntry, zoo_entries

__all__ = [
    "CAVMAE", "CAVMAEFT", "CheckpointError", "KINDS", "LoadReport", "UnsafeCheckpointError",
    "ZooEntry", "add_module", "attention_impl", "build", "check_finite", "combine_replicas",
    "contrastive_loss",
    "get_attention_impl", "load", "load_file", "load_state", "patchify", "read_state_dict",
    "resolve", "safe_load", "save_state_dict", "set_attention_impl", "size_config", "strip_module",
    "unpatchify", "unwrap", "use_attention", "zoo_entries",
]
