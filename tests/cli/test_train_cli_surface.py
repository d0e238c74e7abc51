"""The options of ``avprep train pretrain``, ``train finetune`` and ``eval`` stay what they are:
every flag and accepted spelling, default, type, choices and help text, the full ``--help`` pages,
and what published egs/ command lines parse to, compared with a recording of them
(tests/cli/golden/train_cli.json; ``python tests/cli/test_train_cli_surface.py`` rewrites it after a
deliberate change)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Dict

from helpers.train import EGS_FT


GOLDEN = Path(__file__).resolve().parent / "golden" / "train_cli.json"
COMMANDS = {"pretrain": ["train", "pretrain"], "finetune": ["train", "finetune"], "eval": ["eval"]}

# Option lines of the published egs/ scripts (cav-mae/egs/audioset/run_cavmae_pretrain_scale++.sh,
# run_cavmae_ft_full.sh, egs/vggsound/run_cavmae_ft.sh) with their shell variables filled in and
# only the python call replaced, plus an eval call under the original spellings.
EGS = {
    "as_pretrain_scale++": """train pretrain --model cav-mae --dataset audioset
 --data-train tr.json --data-val te.json --exp-dir exp/pre --label-csv labels.csv --n_class 527
 --lr 5e-5 --n-epochs 25 --batch-size 48 --save_model True --mixup 0.0 --bal None
 --lrscheduler_start 10 --lrscheduler_decay 0.5 --lrscheduler_step 5 --dataset_mean -5.081
 --dataset_std 4.4849 --target_length 1024 --noise True --warmup True --lr_adapt False
 --norm_pix_loss True --pretrain_path IN-initial.pth --mae_loss_weight 1.0
 --contrast_loss_weight 0.01 --tr_pos False --masking_ratio 0.75 --mask_mode unstructured
 -w 16""",
    "as_finetune_full": EGS_FT,
    "vgg_finetune": """train finetune --model cav-mae-ft --dataset vggsound --data-train tr.json
 --data-val te.json --exp-dir exp/vgg --label-csv vgg_labels.csv --n_class 309 --lr 1e-4
 --n-epochs 10 -b 48 --save_model True --freqm 48 --timem 192 --mixup 0.5 --bal bal
 --weight_file weight --label_smooth 0.1 --lrscheduler_start 2 --lrscheduler_decay 0.5
 --lrscheduler_step 1 --dataset_mean -5.081 --dataset_std 4.4849 --target_length 1024
 --noise True --loss CE --metrics acc --warmup True --wa True --wa_start 3 --wa_end 10
 --lr_adapt False --pretrain_path cav-mae-scale++.pth --ftmode audioonly --freeze_base True
 --head_lr 10 --skip_frame_agg False --ft-reinit-head --allow-partial True""",
    "eval_original_spellings": """eval --data-eval te.json --label-csv labels.csv --n_class 527
 --model as-46.6.pth --model-size base --ftmode multimodal --dataset_mean -5.081
 --dataset_std 4.4849 --target_length 1024 -b 24 -w 4 --skip_frame_agg True --json out.json
 --amp False --device cpu""",
}


def _value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v]
    return getattr(v, "__name__", repr(v))


def _command_parser(parser: argparse.ArgumentParser, path) -> argparse.ArgumentParser:
    for name in path:
        sub = [a for a in parser._actions  # noqa: SLF001
               if isinstance(a, argparse._SubParsersAction)][0]  # noqa: SLF001
        parser = sub.choices[name]
    return parser


def surface() -> Dict[str, Any]:
    """Everything recorded: per command its actions and --help page, per egs line its values."""
    from avprep.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps --help to the terminal width
    parser = build_parser()
    out: Dict[str, Any] = {}
    for name, path in COMMANDS.items():
        command = _command_parser(parser, path)
        actions = []
        for a in command._actions:  # noqa: SLF001
            actions.append({key: _value(getattr(a, key)) for key in (
                "option_strings", "dest", "default", "type", "choices", "nargs", "const",
                "metavar", "help", "required")} | {"kind": type(a).__name__,
                                                    "hidden": sorted(getattr(a, "hidden_flags", ()))})
        out[name] = {"actions": actions, "help": command.format_help()}
    out["egs"] = {}
    for name, line in EGS.items():
        args = vars(parser.parse_args(shlex.split(line)))
        out["egs"][name] = {k: _value(v) for k, v in sorted(args.items()) if k != "handler"}
    return out


def test_train_and_eval_options_are_as_recorded(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = surface()
    for name in COMMANDS:
        flags = [a["option_strings"] for a in recorded[name]["actions"]]
        assert [a["option_strings"] for a in now[name]["actions"]] == flags, name
        for old, new in zip(recorded[name]["actions"], now[name]["actions"]):
            assert new == old, (name, old["dest"])
        assert now[name]["help"] == recorded[name]["help"], name
    assert now["egs"] == recorded["egs"]
    # the recording covers what it should: every spelling, the published values
    pretrain_flags = {f for a in recorded["pretrain"]["actions"] for f in a["option_strings"]}
    assert {"--labels", "--label-csv", "-b", "-w", "--num-workers", "--target_length",
            "--weight_file", "--masking_ratio", "--contrast-groups"} <= pretrain_flags
    assert recorded["egs"]["as_finetune_full"]["head_lr"] == 100.0
    assert recorded["egs"]["vgg_finetune"]["ft_reinit_head"] is True


if __name__ == "__main__":
    sys.path.insert(0, str(GOLDEN.parents[2]))
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(surface(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
