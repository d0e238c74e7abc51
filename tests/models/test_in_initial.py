"""The ImageNet-initialized start (``--pretrain_path in-initial``) and partial initialization.

IN-initial (``ori_mae_11.pth``) cannot be downloaded here, so it is checked by keys and shapes:
the original's ``src/adapt_vmae_weights.py`` reads the ImageNet MAE ViT-B checkpoint (encoder and
decoder, the facebookresearch/mae layout) and fills a CAV-MAE pretraining model from it. Below,
``adapt`` follows those rules on that layout; the result is compared with the released model's key
list (``ref/cavmae_keys.tsv``) and loaded into avprep's pretraining model. The original's log of a
run from IN-initial (``egs/vggsound/training_logs/vgg_pr_from_IN.txt``) prints ``[] []`` for the
missing and unexpected keys of its ``load_state_dict(strict=False)`` into the DataParallel model:
the released file holds exactly the model's 647 keys in the ``module.`` layout.
"""

from __future__ import annotations

import json
import re
from typing import Dict, Tuple

import torch

from avprep.cli import main
from avprep.constants import SIZES
from avprep.models import add_module, build, load_state, resolve, save_state_dict
from avprep.train import initialize
from helpers import LABEL_CSV, REF
from helpers.train import TINY, make_clips

PATCH = 16
N_PATCHES = (224 // PATCH) ** 2


def mae_layout(embed: int, depth: int, dec_embed: int, dec_depth: int,
               mlp_ratio: int = 4) -> Dict[str, Tuple[int, ...]]:
    """Key -> shape of an ImageNet MAE checkpoint with its decoder (``mae_pretrain_*_full``)."""
    def block(prefix: str, d: int) -> Dict[str, Tuple[int, ...]]:
        h = d * mlp_ratio
        return {f"{prefix}.norm1.weight": (d,), f"{prefix}.norm1.bias": (d,),
                f"{prefix}.attn.qkv.weight": (3 * d, d), f"{prefix}.attn.qkv.bias": (3 * d,),
                f"{prefix}.attn.proj.weight": (d, d), f"{prefix}.attn.proj.bias": (d,),
                f"{prefix}.norm2.weight": (d,), f"{prefix}.norm2.bias": (d,),
                f"{prefix}.mlp.fc1.weight": (h, d), f"{prefix}.mlp.fc1.bias": (h,),
                f"{prefix}.mlp.fc2.weight": (d, h), f"{prefix}.mlp.fc2.bias": (d,)}

    out = {"cls_token": (1, 1, embed), "pos_embed": (1, N_PATCHES + 1, embed),
           "mask_token": (1, 1, dec_embed),
           "patch_embed.proj.weight": (embed, 3, PATCH, PATCH), "patch_embed.proj.bias": (embed,)}
    for i in range(depth):
        out.update(block(f"blocks.{i}", embed))
    out.update({"norm.weight": (embed,), "norm.bias": (embed,),
                "decoder_embed.weight": (dec_embed, embed), "decoder_embed.bias": (dec_embed,),
                "decoder_pos_embed": (1, N_PATCHES + 1, dec_embed)})
    for i in range(dec_depth):
        out.update(block(f"decoder_blocks.{i}", dec_embed))
    out.update({"decoder_norm.weight": (dec_embed,), "decoder_norm.bias": (dec_embed,),
                "decoder_pred.weight": (PATCH * PATCH * 3, dec_embed),
                "decoder_pred.bias": (PATCH * PATCH * 3,)})
    return out


def adapt(mae: Dict[str, torch.Tensor], model: Dict[str, torch.Tensor], specific: int
          ) -> Tuple[Dict[str, torch.Tensor], set]:
    """The adapter's output (the filled model's state dict) and the keys it took from ``mae``.

    Its steps: a fresh CAV-MAE; the MAE keys of the same name loaded non-strictly; MAE block i
    copied to both modality-specific blocks i (i < ``specific``) or to shared block
    i - ``specific``, whose per-modality norms also get the block's norms; the final norm to both
    modality norms; the class token to three new ``cls_token_*`` parameters; the positional
    embeddings without the class position to the visual ones; the patch embedding to the visual
    one and, summed over the colour channels, to the audio one; the decoder prediction to the
    visual one and its first p*p rows to the audio one.
    """
    out, taken = dict(model), set()

    def put(key: str, value: torch.Tensor) -> None:
        assert key in out and tuple(out[key].shape) == tuple(value.shape), key
        out[key] = value
        taken.add(key)

    for key, value in mae.items():
        if key in out:
            put(key, value)
    depth = len({k.split(".")[1] for k in mae if k.startswith("blocks.")})
    for i in range(depth):
        for key in [k for k in mae if k.startswith(f"blocks.{i}.")]:
            rest = key[len(f"blocks.{i}."):]
            if i < specific:
                put(f"blocks_a.{i}.{rest}", mae[key])
                put(f"blocks_v.{i}.{rest}", mae[key])
            else:
                put(f"blocks_u.{i - specific}.{rest}", mae[key])
        if i >= specific:
            for norm in ("norm1", "norm2"):
                for m in ("a", "v"):
                    for w in ("weight", "bias"):
                        put(f"blocks_u.{i - specific}.{norm}_{m}.{w}",
                            mae[f"blocks.{i}.{norm}.{w}"])
    for m in ("a", "v"):
        for w in ("weight", "bias"):
            put(f"norm_{m}.{w}", mae[f"norm.{w}"])
    for t in ("a", "v", "av"):
        out[f"cls_token_{t}"] = mae["cls_token"]  # new parameters the model does not have
    put("pos_embed_v", mae["pos_embed"][:, 1:])
    put("decoder_pos_embed_v", mae["decoder_pos_embed"][:, 1:])
    put("patch_embed_a.proj.weight", mae["patch_embed.proj.weight"].sum(dim=1, keepdim=True))
    put("patch_embed_a.proj.bias", mae["patch_embed.proj.bias"])
    put("patch_embed_v.proj.weight", mae["patch_embed.proj.weight"])
    put("patch_embed_v.proj.bias", mae["patch_embed.proj.bias"])
    put("decoder_pred_a.weight", mae["decoder_pred.weight"][:PATCH * PATCH])
    put("decoder_pred_a.bias", mae["decoder_pred.bias"][:PATCH * PATCH])
    put("decoder_pred_v.weight", mae["decoder_pred.weight"])
    put("decoder_pred_v.bias", mae["decoder_pred.bias"])
    return out, taken


#: What IN-initial leaves as a fresh CAV-MAE has it: the modality embeddings, the audio positional
#: embeddings, and the per-modality norms of blocks that never use them.
LEFT_AS_INITIALIZED = re.compile(
    r"^(modality_[av]|decoder_modality_[av]|pos_embed_a|decoder_pos_embed_a|"
    r"(blocks_[av]|decoder_blocks)\.\d+\.norm[12]_[av]\.(weight|bias))$")


def _ref_keys() -> Dict[str, Tuple[int, ...]]:
    rows = [line.split("\t") for line in (REF / "cavmae_keys.tsv").read_text().splitlines()]
    return {k: tuple(int(x) for x in re.findall(r"\d+", shape)) for k, shape, _ in rows}


def test_in_initial_keys_and_shapes_load_exactly_as_the_original_loads_them():
    base = SIZES["base"]
    with torch.device("meta"):  # shapes only: no memory for two ViT-B models
        model = build("cavmae", size="base")
    mae = {k: torch.empty(s, device="meta") for k, s in mae_layout(
        base["embed_dim"], 12, base["decoder_embed_dim"], base["decoder_depth"]).items()}
    adapted, taken = adapt(mae, model.state_dict(), base["modality_specific_depth"])

    # the adapter's output: every key of the released pretraining model, with its shape, plus
    # the three class tokens this model has no use for
    released = add_module({k: v for k, v in adapted.items() if not k.startswith("cls_token_")})
    assert {k: tuple(v.shape) for k, v in released.items()} == _ref_keys()
    assert sorted(set(adapted) - set(model.state_dict())) == [
        "cls_token_a", "cls_token_av", "cls_token_v"]
    left = sorted(k for k in model.state_dict() if k not in taken)
    assert left and all(LEFT_AS_INITIALIZED.match(k) for k in left)
    assert len(taken) == 647 - len(left) == 401

    # the released file (the 647 keys in the module. layout): every key loads, nothing missing
    # or unexpected, as the original's log shows ("[] []")
    report = load_state(model, released, ("",), ("",))
    assert sorted(report.loaded) == sorted(model.state_dict()) and len(report.loaded) == 647
    assert report.new == [] and report.unexpected == []
    # the adapter's output as it saves it (bare keys and the class tokens) loads the same weights
    report = load_state(model, adapted, ("",), ("",))
    assert len(report.loaded) == 647 and sorted(report.unexpected) == [
        "cls_token_a", "cls_token_av", "cls_token_v"]


def test_pretrain_path_in_initial_resolves_and_loads(tmp_path, monkeypatch):
    tiny = SIZES["tiny"]
    specific = tiny["modality_specific_depth"]
    torch.manual_seed(3)
    model = build("cavmae", size="tiny")
    mae = {k: torch.randn(s) for k, s in mae_layout(
        tiny["embed_dim"], specific + tiny["shared_depth"], tiny["decoder_embed_dim"],
        tiny["decoder_depth"]).items()}
    adapted, _ = adapt(mae, model.state_dict(), specific)
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    released = add_module({k: v for k, v in adapted.items() if not k.startswith("cls_token_")})
    torch.save(released, cache / "models" / "ori_mae_11.pth")
    monkeypatch.setenv("AVPREP_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    # the zoo name, and the name the published scripts save it under, find the cached file
    assert resolve("in-initial") == resolve("IN-initial.pth") == cache / "models" / "ori_mae_11.pth"

    fresh = build("cavmae", size="tiny")
    init = initialize.load_init(fresh, "in-initial", "pretrain")
    assert sorted(init["loaded"]) == sorted(released) and not init["new"] and not init["ignored"]
    state = fresh.state_dict()
    torch.testing.assert_close(state["blocks_v.0.attn.qkv.weight"], mae["blocks.0.attn.qkv.weight"])
    torch.testing.assert_close(state["blocks_u.0.norm1_a.weight"], mae["blocks.1.norm1.weight"])
    torch.testing.assert_close(state["patch_embed_a.proj.weight"],
                               mae["patch_embed.proj.weight"].sum(dim=1, keepdim=True))
    torch.testing.assert_close(state["decoder_pred_a.weight"], mae["decoder_pred.weight"][:256])


def test_finetuning_from_a_partial_checkpoint_needs_allow_partial(tmp_path, capsys):
    lists = make_clips(tmp_path / "data")
    pre = build("cavmae", size="tiny", audio_length=256)
    partial = tmp_path / "partial.pth"
    save_state_dict(pre, partial)
    state = torch.load(partial, weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith("module.blocks_u.")}, partial)
    args = ["train", "finetune", "--data-train", str(lists["train"]), "--data-val",
            str(lists["val"]), "--label-csv", str(LABEL_CSV), *TINY, "--target_length", "256",
            "--n-epochs", "1", "--skip_frame_agg", "True", "--pretrain_path", str(partial)]
    # strict by default: an error naming the file, the missing keys and the way out
    assert main([*args, "--exp-dir", str(tmp_path / "strict")]) == 2
    err = capsys.readouterr().err
    assert "partial.pth" in err and "missing" in err and "blocks_u.0" in err
    assert "--allow-partial" in err
    # allowed: it runs, says what was not loaded, and init.json lists it
    assert main([*args, "--exp-dir", str(tmp_path / "ok"), "--allow-partial"]) == 0
    out = capsys.readouterr().out
    assert "not in the checkpoint, left as initialized: " in out
    assert "blocks_u (" in out and "mlp_head (" in out
    init = json.loads((tmp_path / "ok" / "init.json").read_text())
    n_shared = sum(1 for k in build("cavmae_ft", size="tiny", label_dim=527).state_dict()
                   if k.startswith("blocks_u."))
    assert sum(k.startswith("module.blocks_u.") for k in init["new"]) == n_shared > 0
    assert not any(k.startswith("module.blocks_u.") for k in init["loaded"])
