"""make prepare-audioset / prepare-vggsound on clips made here, with released-format lists that
also name clips nobody has: the make targets run as a user runs them, through the avprep CLI."""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from avprep import layout
from avprep.lists import compute_weights, read_labels, read_list, read_weights
from avprep.synth import make_clip
from conftest import ROOT

STAMP = ".venv/.avprep-installed"  # tests never (re)install: `make test` has done it


def load_sample_maker():
    """The demo's sample maker, ``scripts/make_sample_clips.py``, as a module."""
    spec = importlib.util.spec_from_file_location("make_sample_clips",
                                                  ROOT / "scripts" / "make_sample_clips.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_prepare(dataset: str, videos: Path, out: Path, lists: Optional[Path], *extra: str,
                 env: Optional[dict] = None):
    """Run ``make prepare-<dataset>`` from another folder, as a user would."""
    env = dict(os.environ if env is None else env, AVPREP_PROGRESS="0")
    cmd = ["make", "--no-print-directory", "-C", str(ROOT), "-o", STAMP, f"prepare-{dataset}",
           f"VIDEOS={videos}", f"OUT={out}", "WORKERS=2", *extra]
    if lists is not None:
        cmd.append(f"LISTS={lists}")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                          cwd=out.parent)


def sample_manifests(folder: Path, info: dict, dataset: str) -> Path:
    """A copy of manifests/ whose ``dataset`` entries describe the sample's released files
    (their classes and entries): fetch checks each file against its manifest entry."""
    shutil.copytree(ROOT / "manifests", folder)
    released = Path(info["released"])
    path = folder / f"{dataset}.toml"
    text = re.sub(r"(?m)^classes = \d+$",
                  f"classes = {len(read_labels(released / info['labels']))}", path.read_text())
    blocks = text.split("[[files]]")
    for i, block in enumerate(blocks[1:], start=1):
        file = released / re.search(r'(?m)^file = "([^"]+)"$', block).group(1)
        count = len(read_weights(file) if file.suffix == ".csv" else read_list(file, cache=False)) \
            if "entries = " in block else None
        blocks[i] = re.sub(r"(?m)^entries = \d+$", f"entries = {count}", block)
    path.write_text("[[files]]".join(blocks))
    return folder


@contextlib.contextmanager
def serve_folder(folder: Path):
    """A real HTTP server on 127.0.0.1 serving ``folder``; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def media_mtimes(out: Path) -> dict:
    """path -> mtime of every extracted file."""
    return {p: p.stat().st_mtime_ns for p in sorted((out / "audio").rglob("*"))
            + sorted((out / "frames").rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample_maker():
    return load_sample_maker()


def check_prepared(info: dict, out: Path, present: list, released: Optional[Path] = None,
                   keep_released_weights: bool = False) -> None:
    """Every released split became a local list of exactly the extracted clips, with a report."""
    released = Path(info["released"]) if released is None else released
    label_set = read_labels(released / info["labels"])
    assert sorted(p.name for p in (out / "lists").glob("*.json")) == sorted(info["lists"])
    for split in info["lists"]:
        rel = read_list(released / split, cache=False)
        local = read_list(out / "lists" / split, cache=False)
        expected = [vid for vid in rel.video_id if vid in present]
        assert local.video_id == expected, split
        assert local.labels == [e.labels for e in rel if e.video_id in present]
        for entry in local:
            assert entry.wav == str((out / "audio" / f"{entry.video_id}.wav").absolute())
            assert layout.has_media(out / "audio", entry.video_path, entry.video_id)
        stem = split[:-len(".json")]
        for suffix in ("_coverage.csv", "_coverage.png", "_missing_ids.txt", "_build.json"):
            assert (out / "report" / f"{stem}{suffix}").is_file(), stem + suffix
        missing = (out / "report" / f"{stem}_missing_ids.txt").read_text().split()
        assert missing == [vid for vid in rel.video_id if vid not in present]
    train = info["train"]
    local_train = read_list(out / "lists" / train, cache=False)
    w = read_weights(out / "lists" / info["weights"])
    assert len(w) == len(local_train)
    if keep_released_weights:
        rel_train = read_list(released / train, cache=False)
        rows = [i for i, vid in enumerate(rel_train.video_id) if vid in present]
        np.testing.assert_array_equal(w, read_weights(released / info["weights"])[rows])
    else:
        np.testing.assert_allclose(w, compute_weights(local_train, label_set), rtol=1e-15,
                                   atol=0)
    # the extraction failure is in the report, with its reason
    failures = [json.loads(line) for line in
                (out / "report" / "extract_log.jsonl").read_text().splitlines() if line.strip()]
    assert info["broken"] in {f["id"] for f in failures if f.get("reason")}
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["extraction"]["failed"] == len(failures) >= 1
    assert summary["media"]["complete_clips"] == len(present)
    assert [item["list"] + ".json" for item in summary["lists"]] == sorted(info["lists"])
    assert (out / "report" / "summary.txt").is_file()


def test_prepare_audioset_end_to_end_and_rerun_adds_only_new_clips(tmp_path, sample_maker):
    info = sample_maker.make_samples(tmp_path / "samples", "audioset", clips=5, missing=4,
                                     duration=4.0, seed=1)
    out = tmp_path / "prepared out"  # a space in the path, as users have
    videos, released = Path(info["videos"]), Path(info["released"])
    run = make_prepare("audioset", videos, out, released)
    assert run.returncode == 0, run.stdout + run.stderr
    check_prepared(info, out, info["present"])
    assert "prepare-audioset: done" in run.stdout
    # the media folders hold exactly the extracted clips: no broken leftovers, no temporaries
    assert sorted(p.stem for p in (out / "audio").iterdir()) == sorted(info["present"])

    # a user downloads one more clip that the lists name, and runs the same command again
    before = media_mtimes(out)
    new_id = info["nobody_has"][-1]
    make_clip(videos / f"Y{new_id}.mp4", duration=4.0, width=160, height=120)
    run = make_prepare("audioset", videos, out, released)
    assert run.returncode == 0, run.stdout + run.stderr
    after = media_mtimes(out)
    assert {p: after[p] for p in before} == before  # nothing already extracted was rewritten
    assert len(after) == len(before) + 1 + layout.N_FRAMES
    check_prepared(info, out, info["present"] + [new_id])


def test_prepare_vggsound_fetches_lists_and_keeps_released_weights(tmp_path, sample_maker):
    """Without LISTS the released files are fetched (from a mirror on 127.0.0.1 here)."""
    info = sample_maker.make_samples(tmp_path / "samples", "vggsound", clips=4, missing=3,
                                     duration=3.0, seed=2)
    out, cache = tmp_path / "out", tmp_path / "cache"
    manifests = sample_manifests(tmp_path / "manifests", info, "vggsound")
    with serve_folder(Path(info["released"])) as url:
        env = dict(os.environ, AVPREP_FETCH_BASE_URL=url, no_proxy="127.0.0.1",
                   NO_PROXY="127.0.0.1", AVPREP_CACHE=str(cache),
                   AVPREP_MANIFESTS=str(manifests))
        run = make_prepare("vggsound", Path(info["videos"]), out, None,
                           "KEEP_RELEASED_WEIGHTS=1", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    fetched = cache / "released" / "vggsound-lists"  # the released part of avprep's cache
    assert (fetched / "fetch-lock.json").is_file()
    for name in info["lists"] + [info["weights"], info["labels"]]:
        assert (fetched / name).read_bytes() == (Path(info["released"]) / name).read_bytes()
    assert all(len(vid) == 18 and vid[11] == "_" for vid in info["present"])
    check_prepared(info, out, info["present"], released=fetched, keep_released_weights=True)


def test_unusable_input_fails_before_extracting(tmp_path, sample_maker):
    videos = tmp_path / "videos"
    make_clip(videos / "abcdefghijk.mp4", duration=2.0, width=160, height=120)
    empty_lists = tmp_path / "lists"
    empty_lists.mkdir()
    out = tmp_path / "out"
    run = make_prepare("audioset", videos, out, empty_lists)
    assert run.returncode != 0
    assert "no released audioset list" in run.stderr
    assert not (out / "audio").exists()

    # a released weight file that does not match its list is an error, not a truncation
    info = sample_maker.make_samples(tmp_path / "samples", "audioset", clips=2, missing=2,
                                     broken=False, duration=2.0, seed=4)
    released = Path(info["released"])
    weights = released / "audioset_2m_cleaned_weight.csv"
    weights.write_text(weights.read_text() + "1.0\n")
    run = make_prepare("audioset", Path(info["videos"]), out, released)
    assert run.returncode != 0
    assert str(weights) in run.stderr and "rows" in run.stderr
    assert not (out / "lists" / "audioset_2m_cleaned.json").exists()

    run = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "-o", STAMP,
                          "prepare-vggsound"], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "usage: make prepare-vggsound VIDEOS=" in run.stderr
