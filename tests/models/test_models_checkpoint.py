"""Loading checkpoints: released ``module.`` layout, pretraining -> fine-tuning, model-zoo names,
and loud failures. Checkpoints are written in tmp_path from the models themselves."""

from __future__ import annotations

import json

import pytest
import torch

from avprep.errors import FormatError, InputError
from avprep.models import (CAVMAE, CheckpointError, add_module, build, load, load_state,
                           read_state_dict, save_state_dict, strip_module, zoo_entries)

SMALL = dict(img_size=32, audio_length=64)
HEAD = ["mlp_head.0.weight", "mlp_head.0.bias", "mlp_head.1.weight", "mlp_head.1.bias"]


def pretrained(tmp_path, name="pre.pth", **kw):
    torch.manual_seed(0)
    model = build("cavmae", "tiny", **SMALL, **kw)
    with torch.no_grad():
        model.modality_a.add_(1.0)  # differs from any fresh build
    path = tmp_path / name
    save_state_dict(model, path)
    return model, path


def same_weights(a, b, keys=None):
    sa, sb = a.state_dict(), b.state_dict()
    for k in keys or sa:
        assert torch.equal(sa[k].cpu(), sb[k].cpu()), k


def test_round_trip_in_released_layout(tmp_path):
    """save_state_dict writes every key with ``module.``; load() rebuilds the same model (size,
    audio length, image size inferred) and reports every key loaded."""
    model, path = pretrained(tmp_path)
    raw = torch.load(path, weights_only=True)
    assert raw and all(k.startswith("module.") for k in raw)
    assert not any(path.parent.glob("*.avprep-tmp-*"))
    loaded, report = load(path, "cavmae")
    assert isinstance(loaded, CAVMAE) and loaded.pos_embed_a.shape == (1, 32, 32)
    same_weights(model, loaded)
    assert report.loaded == list(model.state_dict()) and report.new == []
    assert report.unexpected == []
    n_keys = len(model.state_dict())
    assert report.to_dict()["loaded"] == report.loaded
    assert report.summary().endswith(f"loaded {n_keys} keys, new 0, ignored 0")

    again, _ = load(path)  # kind taken from the checkpoint
    assert isinstance(again, CAVMAE)


def test_bare_and_nested_layouts_load_into_wrapped_and_bare_models(tmp_path):
    """Keys with or without ``module.``, a dict nested under ``state_dict``, and a DataParallel
    target all work."""
    model, path = pretrained(tmp_path)
    bare = strip_module(read_state_dict(path))
    assert add_module(bare).keys() == read_state_dict(path).keys()
    torch.save({"state_dict": bare, "epoch": 3}, tmp_path / "nested.pth")
    loaded, _ = load(tmp_path / "nested.pth", "cavmae")
    same_weights(model, loaded)

    target = torch.nn.DataParallel(build("cavmae", "tiny", **SMALL))
    report = load_state(target, add_module(bare))
    same_weights(model, target.module)
    assert len(report.loaded) == len(bare)


def test_pretrained_checkpoint_starts_a_finetuning_model(tmp_path):
    """The head is reported new, the decoder ignored, every encoder weight copied; the features
    equal the pretraining model's."""
    model, path = pretrained(tmp_path)
    ft, report = load(path, "cavmae_ft", label_dim=4)
    assert sorted(report.new) == sorted(HEAD)
    assert "mask_token" in report.unexpected
    assert all(k.startswith(("decoder_", "mask_token")) for k in report.unexpected)
    assert set(report.loaded) == set(ft.state_dict()) - set(HEAD)
    same_weights(model, ft, report.loaded)
    a, v = torch.randn(2, 64, 128), torch.randn(2, 3, 32, 32)
    for x, y in zip(model.forward_feat(a, v), ft.forward_feat(a, v)):
        assert torch.equal(x, y)
    assert ft(a, v, "multimodal").shape == (2, 4)

    with pytest.raises(CheckpointError, match="label_dim"):
        load(path, "cavmae_ft")


def test_finetuned_checkpoint_loads_with_its_classes(tmp_path):
    """A fine-tuning checkpoint gives back its number of classes and loads strictly."""
    torch.manual_seed(1)
    ft = build("cavmae_ft", "tiny", label_dim=6, **SMALL)
    save_state_dict(ft, tmp_path / "ft.pth")
    back, report = load(tmp_path / "ft.pth")
    assert back.mlp_head[1].out_features == 6 and report.new == [] == report.unexpected
    same_weights(ft, back)
    with pytest.raises(CheckpointError, match="missing .* decoder"):
        load(tmp_path / "ft.pth", "cavmae")


def test_broken_checkpoints_fail_loudly(tmp_path):
    """A missing encoder key, a stray key, a wrong shape, a damaged file, a missing file: each
    raises an error that names the file and the offending keys."""
    _, path = pretrained(tmp_path)
    state = read_state_dict(path)
    gone = dict(state)
    del gone["module.blocks_a.0.attn.qkv.weight"]
    torch.save(gone, tmp_path / "gone.pth")
    with pytest.raises(CheckpointError, match=r"missing 1 keys: blocks_a\.0\.attn\.qkv\.weight"):
        load(tmp_path / "gone.pth", "cavmae_ft", label_dim=3)
    with pytest.raises(CheckpointError, match="gone.pth"):
        load(tmp_path / "gone.pth", "cavmae")

    stray = dict(state, **{"module.extra.weight": torch.zeros(2)})
    torch.save(stray, tmp_path / "stray.pth")
    with pytest.raises(CheckpointError, match=r"unexpected 1 keys: extra\.weight"):
        load(tmp_path / "stray.pth", "cavmae")

    with pytest.raises(CheckpointError, match="pos_embed_a .*32.* vs model .*64"):
        load(path, "cavmae", audio_length=128)

    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pth: not a readable torch checkpoint"):
        load(tmp_path / "junk.pth", "cavmae")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="no state dict"):
        load(tmp_path / "list.pth", "cavmae")
    with pytest.raises(InputError, match="checkpoint file not found"):
        load(tmp_path / "nowhere" / "x.pth", "cavmae")
    assert InputError.exit_code == CheckpointError.exit_code == 2


def write_manifest(tmp_path):
    manifest = tmp_path / "models.json"
    manifest.write_text(json.dumps({"models": [
        {"name": "CAV-MAE-Scale++", "url": "https://example.org/s/abc/audio_model.21.pth?dl=1",
         "batch_size": 256},
        {"name": "CAV-MAE-Base", "url": "https://example.org/s/def/cav-mae-base.pth?dl=1"},
        {"name": "CAV-MAE-Base", "url": "https://example.org/s/def/cav-mae-base.pth?dl=1"},
        {"name": "as-2m ft", "url": "https://example.org/s/ghi/as-full-51.2.pth?dl=1"},
    ]}))
    return manifest


def test_model_zoo_names_resolve_to_cached_files(tmp_path):
    """A zoo name (manifest name, file name or stem, any case) loads the cached file; a name
    listed twice with one URL is one checkpoint; an unknown name or an uncached checkpoint is a
    clear error naming it."""
    manifest = write_manifest(tmp_path)
    entries = zoo_entries(manifest)
    assert [e.filename for e in entries][:2] == ["audio_model.21.pth", "cav-mae-base.pth"]
    assert entries[0].info == {"batch_size": 256}
    cache = tmp_path / "cache"
    model, _ = pretrained(cache, name="cav-mae-base.pth")
    for name in ("CAV-MAE-Base", "cav-mae-base", "CAV-MAE-BASE.pth"):
        loaded, report = load(name, "cavmae", cache_dir=cache, manifest=manifest)
        same_weights(model, loaded)
        assert report.source == str(cache / "cav-mae-base.pth")
    uncached = r"model 'as-2m ft' \(as-full-51.2.pth\) is not cached .*avprep fetch 'as-2m ft'"
    with pytest.raises(InputError, match=uncached):
        load("as-full-51.2", "cavmae_ft", cache_dir=cache, manifest=manifest, download=False)
    with pytest.raises(InputError, match="'cav-mae-huge' is neither a checkpoint file nor"):
        load("cav-mae-huge", "cavmae", cache_dir=cache, manifest=manifest)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "x"}]))
    with pytest.raises(InputError, match="entry 0: model entry needs a string name and url"):
        zoo_entries(bad)


def test_toml_manifest_and_unparsable_manifest(tmp_path):
    """A TOML manifest with [[models]] tables reads the same; a damaged one is a FormatError
    naming the file."""
    manifest = tmp_path / "models.toml"
    manifest.write_text('[[models]]\nname = "CAV-MAE-Base-50"\n'
                        'url = "https://example.org/s/x/50.pth?dl=1"\nlambda_c = 0.01\n')
    (entry,) = zoo_entries(manifest)
    assert (entry.name, entry.filename, entry.info) == ("CAV-MAE-Base-50", "50.pth",
                                                        {"lambda_c": 0.01})
    broken = tmp_path / "broken.json"
    broken.write_text('{"models": [')
    with pytest.raises(FormatError, match="broken.json: model manifest does not parse"):
        zoo_entries(broken)


def test_uncached_zoo_checkpoint_is_downloaded(tmp_path, monkeypatch):
    """An uncached zoo name is fetched into the cache (here from a file: URL) and loaded; a
    download that fails is an InputError naming the checkpoint and the reason."""
    monkeypatch.setenv("AVPREP_PROGRESS", "0")
    model, source = pretrained(tmp_path, name="served.pth")
    manifest = tmp_path / "zoo.json"
    manifest.write_text(json.dumps([
        {"name": "Served", "url": source.as_uri()},
        {"name": "Gone", "url": (tmp_path / "gone.pth").as_uri()}]))
    cache = tmp_path / "cache"
    loaded, report = load("served", "cavmae", cache_dir=cache, manifest=manifest)
    assert report.source == str(cache / "served.pth") and (cache / "served.pth").is_file()
    same_weights(model, loaded)
    with pytest.raises(InputError, match=r"model 'Gone' \(gone.pth\) .*download failed: "):
        load("gone", "cavmae", cache_dir=cache, manifest=manifest)
