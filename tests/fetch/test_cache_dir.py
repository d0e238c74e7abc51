"""One cache folder: one variable and one default for list caches, model-zoo checkpoints and
released files, and ``avprep cache --path|--info|--clear``."""

from __future__ import annotations

from pathlib import Path

import torch

from avprep.cache_dir import cache_path, cache_root, clear, usage
from avprep.cli import main
from avprep.fetch import LOCK_NAME, fetch_one
from avprep.lists import jsonlist, read_labels, read_list, write_list
from avprep.lists import cache as list_cache
from avprep.synth.lists import synthetic_list
from avprep.manifests import Resource
from avprep.models import zoo
from helpers import SAMPLES

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"


def test_one_variable_and_one_default_for_every_part(tmp_path, monkeypatch):
    monkeypatch.setenv("AVPREP_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("AVPREP_CACHE_DIR", str(tmp_path / "old"))  # no longer read
    assert cache_root() == tmp_path / "mine"
    assert list_cache.default_cache_dir() == tmp_path / "mine" / "lists"
    assert zoo.default_cache_dir() == tmp_path / "mine" / "models"
    monkeypatch.delenv("AVPREP_CACHE")
    assert list_cache.default_cache_dir() == tmp_path / "xdg" / "avprep" / "lists"
    assert zoo.default_cache_dir() == tmp_path / "xdg" / "avprep" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "avprep"
    assert zoo.default_cache_dir() == cache_path("models") == cache_root() / "models"


def _populate(root: Path, monkeypatch) -> dict:
    """A cache with one list copy, one zoo checkpoint, one released file and foreign files."""
    monkeypatch.setattr(jsonlist, "CACHE_MIN_BYTES", 0)
    src = root.parent / "list.json"
    write_list(src, synthetic_list(50, read_labels(LABEL_CSV)))
    read_list(src)
    ckpt = root.parent / "served.pth"
    torch.save({"module.w": torch.zeros(750)}, ckpt)
    fetch_one(Resource("m", ckpt.as_uri(), "m.pth", "checkpoint", "models"),
              cache_path("models"))
    fetch_one(Resource("audioset-labels", LABEL_CSV.as_uri(), "class_labels_indices.csv",
                       "labels", "audioset", {"classes": 527}),
              cache_path("released") / "audioset-lists")
    foreign = [root / "notes.txt", root / "models" / "my-own.pth", root / "lists" / "keep.md"]
    for path in foreign:
        path.write_text("not avprep's")
    return {"foreign": foreign, "arrow": list_cache.cache_file(src)}


def test_cache_info_and_clear_touch_only_what_avprep_stored(tmp_path, monkeypatch, capsys):
    root = tmp_path / "cache"
    monkeypatch.setenv("AVPREP_CACHE", str(root))
    made = _populate(root, monkeypatch)
    assert made["arrow"].parent == root / "lists" and made["arrow"].is_file()

    parts = {p.name: p for p in usage()}
    assert [f.name for f in parts["lists"].files] == [made["arrow"].name]
    assert sorted(f.name for f in parts["models"].files) == [LOCK_NAME, "m.pth"]
    assert sorted(f.name for f in parts["released"].files) == [
        "class_labels_indices.csv", LOCK_NAME]
    assert parts["released"].size == LABEL_CSV.stat().st_size + (
        root / "released" / "audioset-lists" / LOCK_NAME).stat().st_size

    assert main(["cache", "--path"]) == 0
    assert capsys.readouterr().out == f"{root}\n"
    assert main(["cache", "--info"]) == 0
    out = capsys.readouterr().out
    assert f"cache folder: {root}" in out
    assert "lists          1 files" in out and "models         2 files" in out
    assert "released       2 files" in out and "total          5 files" in out
    assert main(["cache"]) == 0 and capsys.readouterr().out == out  # --info is the default

    assert main(["cache", "--clear", "lists"]) == 0
    assert "removed lists          1 files" in capsys.readouterr().out
    assert not made["arrow"].exists() and (root / "models" / "m.pth").is_file()
    assert main(["cache", "--clear"]) == 0
    assert all(not p.files for p in usage())
    assert all(path.read_text() == "not avprep's" for path in made["foreign"])
    assert main(["cache", "--clear", "everything"]) == 2
    assert "name one of lists, models, released" in capsys.readouterr().err


def test_clear_api_returns_what_it_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("AVPREP_CACHE", str(tmp_path / "c"))
    assert [p.files for p in clear()] == [[], [], []]  # an absent cache is empty, not an error
    _populate(tmp_path / "c", monkeypatch)
    (removed,) = clear("models")
    assert removed.name == "models" and len(removed.files) == 2 and removed.size > 3000
    assert not (tmp_path / "c" / "models" / "m.pth").exists()
