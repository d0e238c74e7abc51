"""Architecture of the models against the original's state-dict listing, counts and tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avprep.constants import SIZES
from avprep.models import CAVMAE, CAVMAEFT, build, size_config
from avprep.models.pos_embed import sincos_1d, sincos_2d


def read_keys(path):
    rows = []
    for line in path.read_text().splitlines():
        name, shape, dtype = line.split("\t")
        rows.append((name, tuple(json.loads(shape)), dtype))
    return rows


def listing(model):
    return [(k, tuple(v.shape), str(v.dtype).replace("torch.", ""))
            for k, v in model.state_dict().items()]


def test_full_size_models_match_the_original_listing(ref):
    """Both full-size models, wrapped in DataParallel, have exactly the original's keys, order,
    shapes, dtypes, parameter counts and fixed tables, and load their own state strictly."""
    info = json.loads((ref / "model_info.json").read_text())
    torch.manual_seed(0)
    pre = torch.nn.DataParallel(CAVMAE(modality_specific_depth=11, norm_pix_loss=True,
                                       tr_pos=False))
    assert listing(pre) == read_keys(ref / "cavmae_keys.tsv")
    sd = pre.state_dict()
    assert len(sd) == info["cavmae"]["n_keys"]
    assert sum(v.numel() for v in sd.values()) == info["cavmae"]["n_params_state_dict"]
    params = dict(pre.named_parameters())
    assert sum(p.numel() for p in params.values() if p.requires_grad) == \
        info["cavmae"]["n_params_trainable"]
    assert sorted(k for k, p in params.items() if not p.requires_grad) == \
        sorted(info["cavmae"]["frozen"])
    for name in ("pos_embed_a", "pos_embed_v", "decoder_pos_embed_a", "decoder_pos_embed_v"):
        table = np.load(ref / f"cavmae_{name}.npy")
        np.testing.assert_array_equal(sd[f"module.{name}"].numpy(), table)  # exact
    pre.module.load_state_dict({k[7:]: v for k, v in sd.items()}, strict=True)
    del pre, sd, params

    ft = torch.nn.DataParallel(CAVMAEFT(label_dim=527, modality_specific_depth=11))
    assert listing(ft) == read_keys(ref / "cavmae_ft_keys.tsv")
    sd = ft.state_dict()
    assert len(sd) == info["cavmae_ft"]["n_keys"]
    assert sum(v.numel() for v in sd.values()) == info["cavmae_ft"]["n_params_state_dict"]
    assert sum(p.numel() for p in ft.parameters() if p.requires_grad) == \
        info["cavmae_ft"]["n_params_trainable"]
    assert sum(p.numel() for p in ft.parameters() if not p.requires_grad) == \
        info["cavmae_ft"]["n_params_frozen"]


def test_forward_outputs_have_the_original_shapes(ref):
    """At full token counts (1024 x 128 fbank, 224 x 224 image; tiny width to stay fast) the
    training forward gives the original 8 outputs with their shapes, dtypes and mask counts,
    and the fine-tuning forward gives [batch, classes]."""
    info = json.loads((ref / "model_info.json").read_text())
    spec = info["cavmae_forward"]
    batch = 2
    a = torch.randn(batch, 1024, 128)
    v = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        out = build("cavmae", "tiny", norm_pix_loss=True)(a, v)
        logits = build("cavmae_ft", "tiny", label_dim=527)(a, v, "multimodal")
    assert len(out) == spec["n_outputs"]
    for tensor, want in zip(out, spec["outputs"]):
        assert list(tensor.shape) == want["shape"], want["name"]
        assert str(tensor.dtype).replace("torch.", "") == want["dtype"], want["name"]
    assert out[5].sum(dim=1).tolist() == spec["mask_a_ones_per_sample"]
    assert out[6].sum(dim=1).tolist() == spec["mask_v_ones_per_sample"]
    assert list(logits.shape) == info["cavmae_ft_forward_multimodal_shape"]


def test_sincos_tables_equal_reference_files(ref):
    """The table function reproduces the reference tables exactly (row-major grid, column code
    first); the audio grid is 8 frequency rows by 64 time columns."""
    for name, (dim, rows, cols) in {"pos_embed_a": (768, 8, 64), "pos_embed_v": (768, 14, 14),
                                    "decoder_pos_embed_a": (512, 8, 64),
                                    "decoder_pos_embed_v": (512, 14, 14)}.items():
        table = np.load(ref / f"cavmae_{name}.npy")[0]
        ours = sincos_2d(dim, rows, cols).astype(np.float32)
        np.testing.assert_array_equal(ours, table)
    # the second half encodes the row: token 64 (row 1, column 0) against a 1-D code of 1
    t = sincos_2d(16, 8, 64)
    np.testing.assert_allclose(t[64, 8:], sincos_1d(8, np.array([1.0]))[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(t[64, :8], sincos_1d(8, np.array([0.0]))[0], rtol=0, atol=1e-15)


def test_named_sizes_build_the_stated_layers():
    """``tiny`` is embed 32, 2 heads, 1+1 blocks, decoder 32 wide and 2 deep; ``base`` is the
    original ViT-Base; keyword arguments override a size."""
    assert size_config("cavmae", "base") == dict(
        embed_dim=768, num_heads=12, modality_specific_depth=11, shared_depth=None,
        decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)
    tiny = build("cavmae", "tiny")
    assert tiny.modality_a.shape[-1] == 32 and tiny.mask_token.shape[-1] == 32
    assert tiny.blocks_a[0].attn.num_heads == 2
    assert len(tiny.blocks_a) == len(tiny.blocks_v) == len(tiny.blocks_u) == 1
    assert len(tiny.decoder_blocks) == 2
    assert tiny.decoder_blocks[0].attn.num_heads == SIZES["tiny"]["decoder_num_heads"]
    ft = build("cavmae_ft", "tiny", label_dim=7, audio_length=512)
    assert ft.mlp_head[1].out_features == 7 and ft.pos_embed_a.shape[1] == 8 * 32
    assert not any(k.startswith("decoder") for k in ft.state_dict())
    with pytest.raises(ValueError, match="label_dim"):
        build("cavmae_ft", "tiny")
    with pytest.raises(ValueError, match="size"):
        build("cavmae", "huge")


def test_seeded_builds_are_identical_and_initialized_as_documented():
    """Same seed, same weights; LayerNorms 1/0, Linear biases 0, tokens ~ N(0, 0.02)."""
    torch.manual_seed(3)
    m1 = build("cavmae", "tiny", embed_dim=64, decoder_embed_dim=64)
    torch.manual_seed(3)
    m2 = build("cavmae", "tiny", embed_dim=64, decoder_embed_dim=64)
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k
    blk = m1.blocks_a[0]
    assert torch.equal(blk.norm1_a.weight, torch.ones(64))
    assert torch.equal(blk.attn.qkv.bias, torch.zeros(192))
    assert blk.norm1.eps == 1e-5  # nn.LayerNorm default, as the original passes it
    assert 0.005 < m1.modality_a.std().item() < 0.04
    w = m1.patch_embed_v.proj.weight
    bound = (6 / (w[0].numel() + w.shape[0])) ** 0.5  # Xavier on the flattened [D, 3*16*16]
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.9 * bound
