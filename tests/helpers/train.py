"""Tiny training runs: the clips and lists they train on, options, checkpoints, torchrun, and
the published egs/ fine-tuning call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import soundfile as sf
import torch
from PIL import Image, ImageOps

from avprep.models import build, save_state_dict
from helpers import REF, ROOT

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            "2", "-m", "avprep"]


TINY = ["--model-size", "tiny", "-w", "0", "-b", "3", "--device", "cpu"]


def make_clips(out: Path) -> dict:
    """Six clips (3 real, 3 variants) in the original layout, and train/val lists for them."""
    clips = json.loads((REF / "clips.json").read_text())
    audio, frames = out / "audio", out / "frames"
    audio.mkdir(parents=True)
    entries = []
    for variant in (False, True):
        for clip in clips:
            src = clip["video_id"]
            vid = f"{src}-mirror" if variant else src
            wav, rate = sf.read(REF / "audio" / f"{src}.wav", dtype="int16")
            sf.write(audio / f"{vid}.wav", wav[::-1] if variant else wav, rate, subtype="PCM_16")
            for i in range(10):
                img = Image.open(REF / "frames" / f"frame_{i}" / f"{src}.jpg")
                (frames / f"frame_{i}").mkdir(parents=True, exist_ok=True)
                (ImageOps.mirror(img) if variant else img).save(
                    frames / f"frame_{i}" / f"{vid}.jpg", quality=95)
            entries.append({"video_id": vid, "wav": str(audio / f"{vid}.wav"),
                            "video_path": str(frames) + "/", "labels": clip["labels"]})
    lists = {"train": out / "train.json", "val": out / "val.json"}
    lists["train"].write_text(json.dumps({"data": entries}, indent=1))
    lists["val"].write_text(json.dumps({"data": entries[:3]}, indent=1))
    return lists


def read_jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


def torchrun(args, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AVPREP_PROGRESS": "0", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    env.pop("WORLD_SIZE", None)
    return subprocess.run([*TORCHRUN, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)


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
