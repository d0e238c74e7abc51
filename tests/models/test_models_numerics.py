"""Numerics of the models against independent computations written out in the tests.

Small configurations keep these fast: embed 32, 2 heads, a 64 x 128 fbank (8 x 4 audio patches)
and 32 x 32 images (2 x 2 patches). References are computed in float64 from the formulas; the
float32 models must agree within 1e-5 (absolute, on values of order 1) unless a test says
otherwise.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avprep.models import (CAVMAE, CAVMAEFT, attention_impl, get_attention_impl,
                           set_attention_impl, use_attention)
from avprep.models.masking import random_masking_structured, random_masking_unstructured
from avprep.models.vit import Block

TOL = 1e-5
SMALL = dict(img_size=32, audio_length=64, embed_dim=32, modality_specific_depth=1, num_heads=2,
             shared_depth=1)


def randomize(model, seed=0):
    """Random values in every trainable tensor, so each LayerNorm and bias matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return model


def small_pre(**kw):
    torch.manual_seed(0)
    cfg = dict(SMALL, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
    cfg.update(kw)
    return randomize(CAVMAE(**cfg))


def small_ft(**kw):
    torch.manual_seed(0)
    cfg = dict(SMALL, label_dim=5)
    cfg.update(kw)
    return randomize(CAVMAEFT(**cfg), seed=1)


def inputs(batch=3, seed=0, length=64, img=32):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, length, 128, generator=gen), torch.randn(batch, 3, img, img,
                                                                       generator=gen)


# --- float64 references, written from the formulas ------------------------------------------

def d(t):
    return t.detach().double()


def ref_layer_norm(x, norm):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-5) * d(norm.weight) + d(norm.bias)


def ref_attention(x, attn):
    b, n, c = x.shape
    h = attn.num_heads
    qkv = x @ d(attn.qkv.weight).T + d(attn.qkv.bias)
    q, k, v = qkv[..., :c], qkv[..., c:2 * c], qkv[..., 2 * c:]
    out = torch.zeros_like(x)
    hd = c // h
    for head in range(h):
        sl = slice(head * hd, (head + 1) * hd)
        scores = q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(hd)
        weights = torch.exp(scores - scores.max(-1, keepdim=True).values)
        weights = weights / weights.sum(-1, keepdim=True)
        out[..., sl] = weights @ v[..., sl]
    return out @ d(attn.proj.weight).T + d(attn.proj.bias)


def ref_mlp(x, mlp):
    hidden = x @ d(mlp.fc1.weight).T + d(mlp.fc1.bias)
    hidden = 0.5 * hidden * (1 + torch.erf(hidden / math.sqrt(2)))
    return hidden @ d(mlp.fc2.weight).T + d(mlp.fc2.bias)


def ref_block(blk, x, modality=None):
    suffix = {None: "", "a": "_a", "v": "_v"}[modality]
    x = x + ref_attention(ref_layer_norm(x, getattr(blk, "norm1" + suffix)), blk.attn)
    return x + ref_mlp(ref_layer_norm(x, getattr(blk, "norm2" + suffix)), blk.mlp)


def ref_embed_audio(model, a):
    """Patch (f, t) of the 128 x T image ``a.T`` is token f * (T/16) + t."""
    img = d(a).transpose(1, 2)
    b, _, length = img.shape
    w = d(model.patch_embed_a.proj.weight).reshape(w_dim := model.modality_a.shape[-1], -1)
    toks = []
    for f in range(128 // 16):
        for t in range(length // 16):
            patch = img[:, f * 16:(f + 1) * 16, t * 16:(t + 1) * 16].reshape(b, -1)
            toks.append(patch @ w.T + d(model.patch_embed_a.proj.bias))
    x = torch.stack(toks, 1)
    assert x.shape[-1] == w_dim
    return x + d(model.pos_embed_a) + d(model.modality_a)


def ref_embed_video(model, v):
    v = d(v)
    b, c, size, _ = v.shape
    w = d(model.patch_embed_v.proj.weight).reshape(model.modality_v.shape[-1], -1)
    toks = []
    for i in range(size // 16):
        for j in range(size // 16):
            patch = v[:, :, i * 16:(i + 1) * 16, j * 16:(j + 1) * 16].reshape(b, -1)
            toks.append(patch @ w.T + d(model.patch_embed_v.proj.bias))
    return torch.stack(toks, 1) + d(model.pos_embed_v) + d(model.modality_v)


def ref_chain(blocks, x, modality=None):
    for blk in blocks:
        x = ref_block(blk, x, modality)
    return x


def ref_audio_feat(model, a):
    x = ref_chain(model.blocks_u, ref_chain(model.blocks_a, ref_embed_audio(model, a)), "a")
    return ref_layer_norm(x, model.norm_a)


def ref_video_feat(model, v):
    x = ref_chain(model.blocks_u, ref_chain(model.blocks_v, ref_embed_video(model, v)), "v")
    return ref_layer_norm(x, model.norm_v)


def ref_head(model, x):
    x = F.layer_norm(x, x.shape[-1:], d(model.mlp_head[0].weight), d(model.mlp_head[0].bias),
                     eps=1e-5)
    return x @ d(model.mlp_head[1].weight).T + d(model.mlp_head[1].bias)


def close(ours, ref, tol=TOL):
    assert ours.shape == ref.shape
    diff = (d(ours) - ref).abs().max().item()
    assert diff <= tol, f"max difference {diff:.3g} > {tol}"


# --- blocks and attention -------------------------------------------------------------------

@pytest.mark.parametrize("modality", [None, "a", "v"])
@pytest.mark.parametrize("impl", ["sdpa", "explicit"])
def test_block_matches_hand_computed_reference(modality, impl):
    """Pre-norm block with the chosen LayerNorm set: x + attn(norm1(x)), then + mlp(norm2(x))."""
    torch.manual_seed(0)
    blk = randomize(Block(32, 4, 4.0, qkv_bias=True))
    use_attention(blk, impl)
    x = torch.randn(2, 11, 32)
    close(blk(x, modality), ref_block(blk, d(x), modality))


def test_sdpa_and_explicit_attention_agree_and_switch_globally(monkeypatch):
    """SDPA and the explicit softmax give the same model outputs within 1e-5; the global switch,
    the context manager and the per-model setting each route attention as asked."""
    calls = []
    real = F.scaled_dot_product_attention

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    model = small_ft()
    a, v = inputs()
    assert get_attention_impl() == "sdpa"
    out_sdpa = model(a, v, "multimodal")
    n_blocks = 3
    assert len(calls) == n_blocks
    with attention_impl("explicit"):
        out_explicit = model(a, v, "multimodal")
    assert len(calls) == n_blocks and get_attention_impl() == "sdpa"
    close(out_sdpa, d(out_explicit))
    use_attention(model, "explicit")
    model(a, v, "multimodal")
    assert len(calls) == n_blocks
    use_attention(model, None)
    old = set_attention_impl("explicit")
    try:
        model(a, v, "multimodal")
        assert len(calls) == n_blocks
    finally:
        set_attention_impl(old)
    with pytest.raises(ValueError, match="attention"):
        set_attention_impl("flash")

    pre = small_pre()
    torch.manual_seed(5)
    random.seed(5)
    out1 = pre(a, v)
    with attention_impl("explicit"):
        torch.manual_seed(5)
        random.seed(5)
        out2 = pre(a, v)
    for x, y in zip(out1, out2):
        close(x, d(y))


# --- masking --------------------------------------------------------------------------------

@pytest.mark.parametrize("ratio", [0.75, 0.5, 0.3])
def test_unstructured_masking_counts_and_kept_tokens(ratio):
    """int(L * (1 - ratio)) tokens kept per sample, mask 1 on the others, kept tokens are the
    input tokens at mask 0, and ids_restore undoes the shuffle."""
    x = torch.randn(4, 40, 6, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(7)
    kept, mask, ids_restore = random_masking_unstructured(x, ratio)
    keep = int(40 * (1 - ratio))
    assert kept.shape == (4, keep, 6) and mask.dtype == torch.float32
    assert mask.sum(1).tolist() == [40.0 - keep] * 4
    for i in range(4):
        visible = x[i][mask[i] == 0]
        # same set of tokens (kept order is the shuffle order, not the input order)
        assert torch.equal(torch.sort(visible.sum(1)).values, torch.sort(kept[i].sum(1)).values)
        full = torch.cat([kept[i], torch.zeros(40 - keep, 6)])
        restored = full[ids_restore[i]]
        assert torch.equal(restored[mask[i] == 0], x[i][mask[i] == 0])
    torch.manual_seed(7)
    assert torch.equal(random_masking_unstructured(x, ratio)[1], mask)


@pytest.mark.parametrize("mode", ["time", "freq", "tf"])
def test_structured_masking_removes_whole_columns_or_rows(mode):
    """Time masking marks int(t * r) random time columns, frequency masking int(f * r) bands,
    time-frequency int(t * r * .7) columns and int(f * r * .7) bands, drawn with Python's random
    after one torch.rand per call; every removed token is a marked one, every unmarked token is
    kept, and each sample keeps int(L * (1 - r)) tokens."""
    t, f, ratio = 64, 8, 0.75
    x = torch.randn(3, t * f, 4, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    random.seed(2)
    kept, mask, _ = random_masking_structured(x, ratio, t=t, f=f, mode=mode)
    n_keep = int(t * f * (1 - ratio))
    assert mask.sum(1).tolist() == [t * f - n_keep] * 3 and kept.shape[1] == n_keep

    random.seed(2)
    marked = torch.zeros(3, f, t, dtype=torch.bool)
    n_t = int(t * ratio * 0.7) if mode == "tf" else int(t * ratio)
    n_f = int(f * ratio * 0.7) if mode == "tf" else int(f * ratio)
    if mode in ("time", "tf"):
        for i in range(3):
            marked[i, :, random.sample(range(t), n_t)] = True
    if mode in ("freq", "tf"):
        for i in range(3):
            marked[i, random.sample(range(f), n_f), :] = True
    marked = marked.reshape(3, t * f)
    removed = mask.bool()
    assert not (removed & ~marked).any()  # nothing unmarked is removed
    if mode == "tf":  # 33 columns and 4 bands mark 388 > 384 tokens: 4 marked ones stay
        assert (marked.sum(1) == 388).all()
        assert ((marked & ~removed).sum(1) == 4).all()
    else:
        assert torch.equal(removed, marked)
    torch.manual_seed(2)
    random.seed(2)
    assert torch.equal(random_masking_structured(x, ratio, t=t, f=f, mode=mode)[1], mask)


def test_masked_patches_do_not_reach_the_encoder():
    """With the same random state, changing the pixels of masked patches leaves the encoder
    outputs unchanged; changing a visible patch changes them."""
    model = small_pre()
    a, v = inputs(batch=2)

    def encode(a_in, v_in):
        torch.manual_seed(9)
        random.seed(9)
        return model.forward_encoder(a_in, v_in, 0.75, 0.5)

    x, mask_a, _, mask_v, _, ca, cv = encode(a, v)
    img_a = a.transpose(1, 2).clone()  # [B, 128, T]: token f * 4 + t
    a2, v2 = img_a.clone(), v.clone()
    for b in range(2):
        for k in torch.nonzero(mask_a[b]).flatten().tolist():
            fi, ti = divmod(k, 4)
            a2[b, fi * 16:(fi + 1) * 16, ti * 16:(ti + 1) * 16] += 5.0
        for k in torch.nonzero(mask_v[b]).flatten().tolist():
            i, j = divmod(k, 2)
            v2[b, :, i * 16:(i + 1) * 16, j * 16:(j + 1) * 16] -= 3.0
    out = encode(a2.transpose(1, 2), v2)
    assert torch.equal(out[1], mask_a) and torch.equal(out[3], mask_v)
    for before, after in zip((x, ca, cv), (out[0], out[5], out[6])):
        assert torch.equal(before, after)
    visible = int(torch.nonzero(mask_a[0] == 0)[0])
    fi, ti = divmod(visible, 4)
    a3 = img_a.clone()
    a3[0, fi * 16:(fi + 1) * 16, ti * 16:(ti + 1) * 16] += 5.0
    assert not torch.equal(encode(a3.transpose(1, 2), v)[0], x)


def test_structured_masking_in_the_model_uses_the_audio_grid():
    """forward_encoder with time masking on a 64-frame fbank masks whole time steps of the
    8 x 4 audio grid."""
    model = small_pre()
    a, v = inputs(batch=2)
    torch.manual_seed(0)
    random.seed(0)
    _, mask_a, *_ = model.forward_encoder(a, v, 0.75, 0.75, mask_mode="time")
    grid = mask_a.reshape(2, 8, 4)
    assert ((grid.sum(1) == 8).sum(1) == 3).all()  # int(4 * .75) whole columns
    with pytest.raises(ValueError, match="mask_mode"):
        model.forward_encoder(a, v, 0.75, 0.75, mask_mode="random")


# --- encoder, decoder and losses ------------------------------------------------------------

def test_forward_encoder_and_decoder_match_reference():
    """Encoder on the visible tokens and the decoder's unshuffle (mask token at removed
    positions), position and modality embeddings, blocks and prediction heads."""
    model = small_pre()
    a, v = inputs(batch=2)
    torch.manual_seed(4)
    random.seed(4)
    x, mask_a, ids_a, mask_v, ids_v, ca, cv = model.forward_encoder(a, v, 0.75, 0.5)
    emb_a, emb_v = ref_embed_audio(model, a), ref_embed_video(model, v)
    vis_a = torch.stack([emb_a[b][torch.argsort(ids_a[b])[:8]] for b in range(2)])
    vis_v = torch.stack([emb_v[b][torch.argsort(ids_v[b])[:2]] for b in range(2)])
    ra = ref_chain(model.blocks_a, vis_a)
    rv = ref_chain(model.blocks_v, vis_v)
    close(x, ref_layer_norm(ref_chain(model.blocks_u, torch.cat([ra, rv], 1)), model.norm))
    close(ca, ref_layer_norm(ref_chain(model.blocks_u, ra, "a"), model.norm_a))
    close(cv, ref_layer_norm(ref_chain(model.blocks_u, rv, "v"), model.norm_v))

    pred_a, pred_v = model.forward_decoder(x, mask_a, ids_a, mask_v, ids_v)
    lat = d(x) @ d(model.decoder_embed.weight).T + d(model.decoder_embed.bias)
    seqs = []
    for b in range(2):
        rows = []
        for n, ids, off in ((32, ids_a, 0), (4, ids_v, 8)):
            for k in range(n):
                rank = int(ids[b, k])
                keep = 8 if n == 32 else 2
                rows.append(lat[b, off + rank] if rank < keep else d(model.mask_token)[0, 0])
        seqs.append(torch.stack(rows))
    dec = torch.stack(seqs)
    dec = dec + torch.cat([d(model.decoder_pos_embed_a), d(model.decoder_pos_embed_v)], 1)
    dec = torch.cat([dec[:, :32] + d(model.decoder_modality_a),
                     dec[:, 32:] + d(model.decoder_modality_v)], 1)
    dec = ref_layer_norm(ref_chain(model.decoder_blocks, dec), model.decoder_norm)
    close(pred_a, dec[:, :32] @ d(model.decoder_pred_a.weight).T + d(model.decoder_pred_a.bias))
    close(pred_v, dec[:, 32:] @ d(model.decoder_pred_v.weight).T + d(model.decoder_pred_v.bias))
    assert pred_a.shape == (2, 32, 256) and pred_v.shape == (2, 4, 768)


def ref_info_nce(a, v, temperature=0.05):
    a = d(a) / d(a).norm(dim=1, keepdim=True)
    v = d(v) / d(v).norm(dim=1, keepdim=True)
    s = (a @ v.T).numpy() / temperature
    n = s.shape[0]
    loss = -np.mean([s[j, j] - np.log(np.exp(s[:, j]).sum()) for j in range(n)])
    acc = np.mean([np.argmax(s[:, j]) == j for j in range(n)])
    return loss, acc


def test_forward_contrastive_matches_direct_infonce():
    """Loss: mean over videos of -log softmax over audios of the matching score, scores cosine
    / 0.05; accuracy: share of videos whose best audio is their own; bi-directional averages the
    two directions."""
    model = small_pre()
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(6, 16, generator=gen)
    audio = base + 0.9 * torch.randn(6, 16, generator=gen)
    video = base + 0.9 * torch.randn(6, 16, generator=gen)
    video[2] = audio[4]  # makes video 2 pick audio 4 and breaks the symmetry of the directions
    loss, acc = model.forward_contrastive(audio, video)
    want_loss, want_acc = ref_info_nce(audio, video)
    assert abs(loss.item() - want_loss) <= 1e-4 * max(1, abs(want_loss))
    assert acc.item() == pytest.approx(want_acc, abs=1e-7) and 0 < want_acc < 1
    loss_b, acc_b = model.forward_contrastive(audio, video, bidirect_contrast=True)
    back_loss, back_acc = ref_info_nce(video, audio)
    assert abs(loss_b.item() - (want_loss + back_loss) / 2) <= 1e-4 * max(1, abs(want_loss))
    assert acc_b.item() == pytest.approx((want_acc + back_acc) / 2, abs=1e-7)
    assert back_loss != pytest.approx(want_loss)


@pytest.mark.parametrize("norm_pix", [False, True])
def test_forward_mae_loss_matches_direct_formula(norm_pix):
    """Mean over removed patches of the per-patch mean squared error; with norm_pix_loss each
    target patch is (patch - mean) / sqrt(unbiased var + 1e-6). Audio patch (f, t) is
    fbank.T[16f:16f+16, 16t:16t+16]; image patches are flattened as (row, column, channel)."""
    model = small_pre(norm_pix_loss=norm_pix)
    a, v = inputs(batch=2)
    gen = torch.Generator().manual_seed(3)
    pred_a = torch.randn(2, 32, 256, generator=gen)
    pred_v = torch.randn(2, 4, 768, generator=gen)
    mask_a = (torch.rand(2, 32, generator=gen) > 0.5).float()
    mask_v = torch.tensor([[1.0, 0, 1, 0], [0, 1, 1, 1]])

    def target(patch):
        patch = patch.reshape(-1).double()
        if norm_pix:
            patch = (patch - patch.mean()) / torch.sqrt(patch.var(unbiased=True) + 1e-6)
        return patch

    def mae(patches, pred, mask):
        num = den = 0.0
        for b in range(2):
            for k, patch in enumerate(patches[b]):
                if mask[b, k]:
                    num += ((d(pred[b, k]) - target(patch)) ** 2).mean().item()
                    den += 1
        return num / den

    img_a = a.transpose(1, 2)
    patches_a = [[img_a[b, f * 16:(f + 1) * 16, t * 16:(t + 1) * 16]
                  for f in range(8) for t in range(4)] for b in range(2)]
    patches_v = [[v[b, :, i * 16:(i + 1) * 16, j * 16:(j + 1) * 16].permute(1, 2, 0)
                  for i in range(2) for j in range(2)] for b in range(2)]
    got_a = model.forward_mae_loss(a, pred_a, mask_a, "a").item()
    got_v = model.forward_mae_loss(v, pred_v, mask_v, "v").item()
    assert got_a == pytest.approx(mae(patches_a, pred_a, mask_a), rel=1e-5)
    assert got_v == pytest.approx(mae(patches_v, pred_v, mask_v), rel=1e-5)


def test_training_forward_combines_its_parts():
    """The 8-tuple: loss = w_mae * (mae_a + mae_v) + w_c * nce, where the parts equal
    forward_inpaint's losses and forward_contrastive on the mean-pooled contrastive tokens under
    the same random state; a zero weight skips its part."""
    model = small_pre(norm_pix_loss=True)
    a, v = inputs(batch=3)

    def seeded(fn, *args, **kw):
        torch.manual_seed(11)
        random.seed(11)
        return fn(*args, **kw)

    loss, loss_mae, mae_a, mae_v, loss_c, mask_a, mask_v, c_acc = seeded(
        model, a, v, mae_loss_weight=0.7, contrast_loss_weight=0.05)
    _, _, m_a, m_v, l_a, l_v = seeded(model.forward_inpaint, a, v)
    enc = seeded(model.forward_encoder, a, v, 0.75, 0.75)
    nce, acc = model.forward_contrastive(enc[5].mean(1), enc[6].mean(1))
    assert torch.equal(m_a, mask_a) and torch.equal(m_v, mask_v)
    assert mae_a.item() == pytest.approx(l_a.item(), rel=1e-6)
    assert mae_v.item() == pytest.approx(l_v.item(), rel=1e-6)
    assert loss_mae.item() == pytest.approx(0.7 * (l_a + l_v).item(), rel=1e-6)
    assert loss_c.item() == pytest.approx(0.05 * nce.item(), rel=1e-6)
    assert c_acc.item() == acc.item()
    assert loss.item() == pytest.approx(loss_mae.item() + loss_c.item(), rel=1e-6)

    only_c = seeded(model, a, v, mae_loss_weight=0)
    assert only_c[1].item() == only_c[2].item() == only_c[3].item() == 0.0
    assert only_c[0].item() == pytest.approx(0.01 * nce.item(), rel=1e-6)
    only_mae = seeded(model, a, v, contrast_loss_weight=0)
    assert only_mae[4].item() == 0.0 and only_mae[7].item() == 0.0
    assert only_mae[0].item() == pytest.approx((l_a + l_v).item(), rel=1e-6)
    loss.backward()
    assert model.modality_a.grad is not None and model.pos_embed_a.grad is None


def test_contrastive_tokens_follow_the_original_with_two_shared_blocks():
    """With more than one shared block the original feeds each of them the modality-specific
    output (not chained) for the contrastive tokens; the last one's output is used."""
    model = small_pre(shared_depth=2)
    a, v = inputs(batch=2)
    torch.manual_seed(4)
    random.seed(4)
    _, _, ids_a, _, _, ca, _ = model.forward_encoder(a, v, 0.75, 0.5)
    emb_a = ref_embed_audio(model, a)
    vis_a = torch.stack([emb_a[b][torch.argsort(ids_a[b])[:8]] for b in range(2)])
    ra = ref_chain(model.blocks_a, vis_a)
    close(ca, ref_layer_norm(ref_block(model.blocks_u[1], ra, "a"), model.norm_a))


def test_pretraining_forward_feat_matches_reference():
    """forward_feat: all tokens of each modality through its blocks, then the shared blocks with
    its own norms."""
    model = small_pre(shared_depth=2)
    a, v = inputs(batch=2)
    fa, fv = model.forward_feat(a, v)
    close(fa, ref_audio_feat(model, a))
    close(fv, ref_video_feat(model, v))


# --- fine-tuning model ----------------------------------------------------------------------

def test_finetuning_modes_match_their_definitions():
    """multimodal: joint norms on the concatenated tokens; audioonly/videoonly: own norms;
    missing*only: mean of the pooled joint-norm and own-norm outputs; forward_feat modes."""
    model = small_ft(shared_depth=2)
    a, v = inputs(batch=3)
    ea = ref_chain(model.blocks_a, ref_embed_audio(model, a))
    ev = ref_chain(model.blocks_v, ref_embed_video(model, v))
    joint = ref_layer_norm(ref_chain(model.blocks_u, torch.cat([ea, ev], 1)), model.norm)
    close(model(a, v, "multimodal"), ref_head(model, joint.mean(1)))
    own_a = ref_audio_feat(model, a)
    own_v = ref_video_feat(model, v)
    close(model(a, None, "audioonly"), ref_head(model, own_a.mean(1)))
    close(model(None, v, "videoonly"), ref_head(model, own_v.mean(1)))
    joint_a = ref_layer_norm(ref_chain(model.blocks_u, ea), model.norm).mean(1)
    joint_v = ref_layer_norm(ref_chain(model.blocks_u, ev), model.norm).mean(1)
    close(model(a, None, "missingaudioonly"), ref_head(model, (joint_a + own_a.mean(1)) / 2))
    close(model(None, v, "missingvideoonly"), ref_head(model, (joint_v + own_v.mean(1)) / 2))
    fa, fv = model.forward_feat(a, v)
    close(fa, own_a)
    close(fv, own_v)
    assert torch.equal(model.forward_feat(a, None, mode="a"), fa)
    assert torch.equal(model.forward_feat(None, v, mode="v"), fv)
    for out in (model(a, v, m) for m in ("multimodal", "audioonly", "missingaudioonly")):
        assert out.shape == (3, 5)
    with pytest.raises(ValueError, match="mode"):
        model(a, v, "audio")
    with pytest.raises(ValueError, match="mode"):
        model.forward_feat(a, v, mode="x")


def test_finetuning_model_with_pretrained_weights_gives_the_same_features():
    """The encoder of both models is the same computation: copied weights, same features."""
    pre = small_pre()
    ft = small_ft()
    missing = ft.load_state_dict(pre.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["mlp_head.0.bias", "mlp_head.0.weight", "mlp_head.1.bias",
                               "mlp_head.1.weight"]
    a, v = inputs(batch=2)
    for x, y in zip(pre.forward_feat(a, v), ft.forward_feat(a, v)):
        assert torch.equal(x, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sdpa_matches_explicit_attention_on_cuda():
    """On the GPU (fused SDPA kernels) the pretraining forward agrees with the explicit softmax
    within 1e-4 in float32, and within 2e-2 under float16 autocast, at full token counts."""
    from avprep.models import build

    torch.manual_seed(0)
    model = build("cavmae", "tiny", embed_dim=128, num_heads=4, decoder_embed_dim=64,
                  decoder_num_heads=4).cuda()
    a, v = torch.randn(4, 1024, 128).cuda(), torch.randn(4, 3, 224, 224).cuda()
    for amp, tol in ((False, 1e-4), (True, 2e-2)):
        outs = {}
        for impl in ("sdpa", "explicit"):
            use_attention(model, impl)
            torch.manual_seed(1)
            random.seed(1)
            with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                outs[impl] = model.forward_inpaint(a, v)
        for x, y in zip(outs["sdpa"], outs["explicit"]):
            assert (x.float() - y.float()).abs().max().item() <= tol * max(1.0, y.abs().max())
