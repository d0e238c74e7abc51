"""Pieces several test files share: the published egs/ fine-tuning call and tiny checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import torch

from avprep.models import build, save_state_dict

# An egs/ fine-tuning call (cav-mae/egs/audioset/run_cavmae_ft_full.sh) with only the python call
# replaced; the values are the published ones.
EGS_FT = """train finetune --model cav-mae-ft --dataset audioset --data-train tr.json
 --data-val te.json --exp-dir exp/ft --label-csv labels.csv --n_class 527 --lr 1e-5 --n-epochs 10
 --batch-size 48 --save_model True --freqm 48 --timem 192 --mixup 0.5 --bal bal
 --label_smooth 0.1 --lrscheduler_start 2 --lrscheduler_decay 0.5 --lrscheduler_step 1
 --dataset_mean -5.081 --dataset_std 4.4849 --target_length 1024 --noise True --loss BCE
 --metrics mAP --warmup True --wa True --wa_start 3 --wa_end 10 --lr_adapt False
 --pretrain_path cav-mae-scale++.pth --ftmode multimodal --freeze_base False --head_lr 100
 --num-workers 32"""


def tiny_checkpoints(root: Path) -> Tuple[torch.nn.Module, torch.nn.Module]:
    """A tiny pretraining model (seed 0) and a tiny 527-class fine-tuned one (seed 1), in eval
    mode, saved in the released layout as ``root/pre.pth`` and ``root/ft.pth``."""
    torch.manual_seed(0)
    pre = build("cavmae", size="tiny").eval()
    save_state_dict(pre, root / "pre.pth")
    torch.manual_seed(1)
    ft = build("cavmae_ft", size="tiny", label_dim=527).eval()
    save_state_dict(ft, root / "ft.pth")
    return pre, ft
