"""The manifests: counts from the model zoo, fields, names, and how the folder is found."""

from __future__ import annotations

import re
import shutil
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from avprep.errors import InputError
from avprep.manifests import (dataset_facts, groups, load_manifest, manifest_dir, resolve,
                              resources)
from helpers import ROOT

RESOURCES_MD = ROOT.parent / "shared" / "resources.md"


def _zoo_rows():
    """(section, name, url) of every row of the zoo table in resources.md."""
    rows = []
    for line in RESOURCES_MD.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[2].startswith("https://"):
            rows.append((cells[0], cells[1], cells[2]))
    return rows


def test_found_in_checkout():
    assert manifest_dir() == ROOT / "manifests"


def test_found_through_environment(tmp_path, monkeypatch):
    copy = tmp_path / "m"
    shutil.copytree(ROOT / "manifests", copy)
    monkeypatch.setenv("AVPREP_MANIFESTS", str(copy))
    assert manifest_dir() == copy


def test_model_zoo_counts():
    models = load_manifest("models")["models"]
    by_group = Counter(m["group"] for m in models)
    assert by_group == {"pretrained": 4, "ablation": 11, "finetuned": 8, "initialization": 1}
    assert len({m["url"] for m in models}) == len(models) == 24
    assert len({m["name"] for m in models}) == 24
    assert len({m["file"] for m in models}) == 24


def test_model_fields():
    for m in load_manifest("models")["models"]:
        assert m["url"].startswith("https://www.dropbox.com/") and m["url"].endswith("?dl=1")
        assert m["file"] == re.search(r"/([^/?]+)\?dl=1$", m["url"]).group(1)
        if m["group"] == "finetuned":
            assert m["metric"] in ("mAP", "accuracy")
            assert m["modality"] in ("audio-visual", "audio", "visual")
            assert m["label_dim"] == (527 if m["metric"] == "mAP" else 309)
            assert isinstance(m["value"], float)
        elif m["group"] == "initialization":
            assert m["name"] == "in-initial" and m["file"] == "ori_mae_11.pth"
            assert m["url"] in RESOURCES_MD.read_text()  # the URL the published scripts fetch
        else:
            assert m["batch_size"] in (48, 108, 120, 256)
            assert m["lambda_c"] in (0.001, 0.01, 0.1)
            assert f"{round(m['masking_ratio'] * 100)}%" in m["masking"]
    main = {m["name"]: m for m in load_manifest("models")["models"] if m["group"] == "pretrained"}
    assert main["cav-mae-scale++"]["batch_size"] == 256
    assert main["cav-mae-base-nonorm"]["norm_pix_loss"] is False


def test_every_zoo_row_is_described():
    rows = _zoo_rows()
    models = [m for m in load_manifest("models")["models"] if m["group"] != "initialization"]
    datasets = [f for d in ("audioset", "vggsound") for f in load_manifest(d)["files"]
                if f["kind"] != "segments"]
    urls = {m["url"] for m in models} | {f["url"] for f in datasets}
    assert {url for _, _, url in rows} == urls
    # each zoo row's section is listed by the model with that URL
    by_url = {m["url"]: m for m in models}
    for section, _name, url in rows:
        if url in by_url:
            assert section in by_url[url]["sections"], (section, url)
    model_rows = [r for r in rows if r[2] in by_url]
    assert len(model_rows) == 4 + 14 + 8  # 14 ablation rows, 3 of them CAV-MAE-Base again


@pytest.mark.parametrize("name, classes, lists", [("audioset", 527, 4), ("vggsound", 309, 3)])
def test_dataset_manifests(name, classes, lists):
    m = load_manifest(name)
    assert m["classes"] == classes
    kinds = Counter(f["kind"] for f in m["files"])
    assert kinds == {"labels": 1, "list": lists, "weights": 1,
                     "segments": {"audioset": 3, "vggsound": 1}[name]}
    for f in m["files"]:
        if f["kind"] == "segments":
            continue
        assert f["name"].startswith(name) and f["url"].endswith(f"/{f['file']}?dl=1")
        if f["kind"] != "weights":
            assert f["classes"] == classes
    weights = next(f for f in m["files"] if f["kind"] == "weights")
    target = next(f for f in m["files"] if f["name"] == weights["weights_for"])
    assert weights["entries"] == target["entries"]


def test_released_entry_counts_match_spec():
    entries = {f["file"]: f.get("entries") for d in ("audioset", "vggsound")
               for f in load_manifest(d)["files"]}
    assert entries["audioset_2m_cleaned.json"] == 1_772_023
    assert entries["audioset_20k_cleaned.json"] == 18_691
    assert entries["audioset_eval_cleaned.json"] == 17_249
    assert entries["vgg_train_cleaned.json"] == 183_727
    assert entries["vgg_test_cleaned.json"] == 15_446


def test_groups_and_resolve():
    g = groups()
    assert len(g["audioset-lists"]) == 6 and len(g["vggsound-lists"]) == 5
    assert len(g["pretrained"]) == 4 and len(g["ablation"]) == 11 and len(g["finetuned"]) == 8
    picked = resolve(["audioset-lists", "audioset-2m", "cav-mae-base",
                      "cav-mae-base-unstructured"])
    assert [r.name for r in picked][:6] == g["audioset-lists"]
    assert len(picked) == 7  # duplicates and the alias collapse
    assert resources()["cav-mae-base-unstructured"].file == "cav-mae-base.pth"
    assert g["audioset-segments"] == ["audioset-segments-eval", "audioset-segments-balanced",
                                      "audioset-segments-unbalanced"]
    assert [r.file for r in resolve(["audioset-segments", "vggsound-csv"])] == [
        "eval_segments.csv", "balanced_train_segments.csv", "unbalanced_train_segments.csv",
        "vggsound.csv"]
    with pytest.raises(InputError, match="unknown resource 'nope'"):
        resolve(["nope"])
    with pytest.raises(InputError):
        load_manifest("imagenet")


def test_manifests_parse_with_stdlib_only():
    for path in sorted((ROOT / "manifests").glob("*.toml")):
        with open(path, "rb") as fh:
            assert tomllib.load(fh)


@pytest.mark.parametrize("name", ["audioset", "vggsound"])
def test_dataset_facts_are_the_manifests(name):
    """What preparation reads: every list in file order, the label CSV, the weighted training list."""
    facts = dataset_facts(name)
    files = load_manifest(name)["files"]
    assert list(facts.splits) == [f["file"][:-len(".json")] for f in files if f["kind"] == "list"]
    assert facts.label_csv == next(f["file"] for f in files if f["kind"] == "labels")
    weights = next(f for f in files if f["kind"] == "weights")
    train = next(f for f in files if f["name"] == weights["weights_for"])
    assert (facts.train_split + ".json", facts.train_weights) == (train["file"], weights["file"])
    assert facts.fetch_group in groups() and facts.id_scheme == name


def test_dataset_facts_without_train_split_or_with_a_wrong_one(tmp_path, monkeypatch):
    copy = tmp_path / "m"
    shutil.copytree(ROOT / "manifests", copy)
    monkeypatch.setenv("AVPREP_MANIFESTS", str(copy))
    path = copy / "vggsound.toml"
    text = path.read_text()
    path.write_text(re.sub(r"(?m)^train_split = .*$", "", text))  # older manifests lack it
    assert dataset_facts("vggsound").train_split == "vgg_train_cleaned"
    path.write_text(text.replace('train_split = "vggsound-train"', 'train_split = "vgg-nope"'))
    with pytest.raises(InputError, match="train_split = 'vgg-nope' names no list"):
        dataset_facts("vggsound")
    path.write_text('splits = ["vggsound-test"]\n' + text)
    with pytest.raises(InputError, match="is not one of the splits"):
        dataset_facts("vggsound")


def test_segment_sources_match_resources_md():
    """Every segment-table URL of resources.md is a manifest entry of kind segments, and the
    segment counts in the manifest are the ones resources.md quotes from the headers."""
    text = RESOURCES_MD.read_text()
    section = text[text.index("Where each clip's 10-second segment lies"):]
    urls = set(re.findall(r"\| (https?://\S+\.csv) \|", section))
    entries = {f["url"]: f for d in ("audioset", "vggsound") for f in load_manifest(d)["files"]
               if f["kind"] == "segments"}
    assert urls == set(entries) and len(urls) == 4
    counts = {Path(u).name: int(n.replace(",", "")) for u, n in re.findall(
        r"\| (https?://\S+\.csv) \|.*?([\d,]+) segments in its header", section)}
    assert counts == {"eval_segments.csv": 20371, "balanced_train_segments.csv": 22160}
    for url, entry in entries.items():
        assert entry["file"] == Path(url).name
        assert entry.get("segments") == counts.get(entry["file"])
