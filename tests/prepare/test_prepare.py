"""make prepare-audioset / prepare-vggsound, avprep prepare and prepare_dataset() on clips made
here, with released-format lists that also name clips nobody has: the make targets run as a user
runs them, through the avprep CLI."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from avprep import layout
from avprep.errors import InputError
from avprep.lists import compute_weights, read_labels, read_list, read_weights
from avprep.manifests import dataset_facts
from avprep.prepare import prepare_dataset
from avprep.synth import make_clip, make_samples
from helpers import ROOT, STAMP
from helpers.serve import serve_folder



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


def media_mtimes(out: Path) -> dict:
    """path -> mtime of every extracted file."""
    return {p: p.stat().st_mtime_ns for p in sorted((out / "audio").rglob("*"))
            + sorted((out / "frames").rglob("*")) if p.is_file()}


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


def test_prepare_audioset_end_to_end_and_rerun_adds_only_new_clips(tmp_path):
    info = make_samples(tmp_path / "samples", "audioset", clips=5, missing=4,
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


def test_prepare_vggsound_fetches_lists_and_keeps_released_weights(tmp_path):
    """Without LISTS the released files are fetched (from a mirror on 127.0.0.1 here)."""
    info = make_samples(tmp_path / "samples", "vggsound", clips=4, missing=3,
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


def test_unusable_input_fails_before_extracting(tmp_path):
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
    info = make_samples(tmp_path / "samples", "audioset", clips=2, missing=2,
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


def avprep(*args, env: Optional[dict] = None, cwd: Optional[Path] = None):
    """Run the ``avprep`` command (this interpreter's) as a user would."""
    env = dict(os.environ if env is None else env, AVPREP_PROGRESS="0")
    return subprocess.run([sys.executable, "-m", "avprep", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300, cwd=cwd)


def steps_by_hand(videos: Path, out: Path, lists: Path, capsys) -> str:
    """The steps ``make prepare-audioset`` ran as a shell pipeline before ``avprep prepare``
    existed, command by command (in this process, to save the start-ups), with that recipe's
    AudioSet facts; returns the last one's stdout (the summary)."""
    from avprep.cli import main

    labels, train = lists / "class_labels_indices.csv", "audioset_2m_cleaned"
    splits = [s for s in (train, "audioset_20k_cleaned", "audioset_eval_cleaned",
                          "audioset_eval_5_per_class_for_retrieval_cleaned")
              if (lists / f"{s}.json").is_file()]
    (out / "lists").mkdir(parents=True)
    (out / "report").mkdir()
    media = ["--audio-dir", out / "audio", "--frame-dir", out / "frames"]
    log = out / "report" / "extract_log.jsonl"

    def run(*args) -> int:
        return main([str(a) for a in args])

    assert run("extract", videos, *media, "--workers", 2, "--ids", "audioset", "--log", log) == 1
    for split in splits:
        extra = []
        if split == train:
            extra = ["--weights-out", out / "lists" / f"{split}_weight.csv"]
            if (lists / f"{split}_weight.csv").is_file():
                extra += ["--weights", lists / f"{split}_weight.csv"]
        assert run("build-list", "--released", lists / f"{split}.json", "--labels", labels,
                   *media, "-o", out / "lists" / f"{split}.json", "--report", out / "report",
                   *extra) == 0
    capsys.readouterr()
    assert run("prepare-report", out / "report", "--log", log, "--lists", out / "lists",
               *media, "--title", "prepare-audioset: done") == 0
    return capsys.readouterr().out


def files_of(folder: Path) -> dict:
    """relative path -> bytes of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_make_target_avprep_prepare_and_the_steps_by_hand_write_the_same_bytes(tmp_path, capsys):
    """The three ways give byte-identical media, lists, weights and report files. They run one
    after the other in the same OUT folder, as the lists hold absolute paths into it."""
    info = make_samples(tmp_path / "samples", "audioset", clips=3, missing=2,
                        duration=2.0, seed=5)
    videos, released = Path(info["videos"]), Path(info["released"])
    out = tmp_path / "out"
    outputs, summaries = {}, {}
    summaries["by hand"] = steps_by_hand(videos, out, released, capsys)
    outputs["by hand"] = files_of(out)
    shutil.rmtree(out)
    run = make_prepare("audioset", videos, out, released)
    assert run.returncode == 0, run.stdout + run.stderr
    outputs["make"], summaries["make"] = files_of(out), run.stdout
    shutil.rmtree(out)
    run = avprep("prepare", "audioset", "--videos", videos, "--out", out, "--lists", released,
                 "--workers", 2)
    assert run.returncode == 0, run.stdout + run.stderr
    outputs["avprep prepare"], summaries["avprep prepare"] = files_of(out), run.stdout

    reference = outputs["by hand"]
    assert {"lists/audioset_2m_cleaned_weight.csv", "report/summary.json",
            "report/extract_log.jsonl"} <= set(reference)
    assert sum(name.startswith("lists/") for name in reference) == len(info["lists"]) + 1
    for way in ("make", "avprep prepare"):
        assert sorted(outputs[way]) == sorted(reference), way
        differ = [name for name, data in reference.items() if outputs[way][name] != data]
        assert differ == [], way
        assert summaries[way].endswith(summaries["by hand"]), way


def test_prepare_dataset_in_python(tmp_path):
    """prepare_dataset() prepares the splits present, says what it does, returns the builds and
    the summary it wrote; unusable input raises before anything is extracted."""
    info = make_samples(tmp_path / "samples", "vggsound", clips=3, missing=2,
                        duration=2.0, seed=6)
    videos, released = Path(info["videos"]), Path(info["released"])
    facts = dataset_facts("vggsound")
    absent = facts.splits[-1] + ".json"  # a user who has not every released list
    (released / absent).unlink()
    info["lists"].remove(absent)
    out = tmp_path / "out"

    broken = tmp_path / "broken"
    shutil.copytree(released, broken)
    (broken / facts.label_csv).unlink()
    with pytest.raises(InputError, match="label CSV not found"):
        prepare_dataset("vggsound", videos, out, lists=broken, workers=0, clip_timeout=None)
    (broken / facts.train_weights).unlink()
    shutil.copy(released / facts.label_csv, broken / facts.label_csv)
    with pytest.raises(InputError, match="released weight file"):
        prepare_dataset("vggsound", videos, out, lists=broken, workers=0,
                        keep_released_weights=True, clip_timeout=None)
    with pytest.raises(InputError, match="videos folder not found"):
        prepare_dataset("vggsound", tmp_path / "no videos", out, lists=released)
    assert not out.exists()

    said, noted = [], []
    result = prepare_dataset("vggsound", videos, out, lists=released, workers=0,
                             keep_released_weights=True, clip_timeout=None, say=said.append,
                             note=noted.append)
    present = [s for s in facts.splits if (released / f"{s}.json").is_file()]
    assert list(result.builds) == present and absent[:-5] not in result.builds
    assert result.lists == {s: out / "lists" / f"{s}.json" for s in present}
    check_prepared(info, out, info["present"], keep_released_weights=True)
    assert result.builds[facts.train_split].weight_mode == "released"
    assert result.extraction.failed == 1 and result.extraction.written == len(info["present"])
    assert result.summary == json.loads((out / "report" / "summary.json").read_text())
    assert result.text == (out / "report" / "summary.txt").read_text()
    assert said[0].startswith("== extracting") and said[-1] == result.text.rstrip("\n")
    assert [line.split(":")[0] for line in said[1:-1]] == [f"{s}.json" for s in present]
    assert noted[0].startswith("avprep extract: ")

    again = prepare_dataset("vggsound", videos, out, lists=released, workers=0,
                            clip_timeout=None)
    assert again.extraction.skipped == len(info["present"]) and again.extraction.written == 0
    assert again.builds[facts.train_split].weight_mode == "recomputed"
    check_prepared(info, out, info["present"])


def test_prepare_into_a_pack_gives_the_same_lists_and_samples(tmp_path):
    """prepare --pack: the clips go into OUT/pack and nowhere else, the lists point into it, and
    the Dataset gives what it gives from the loose preparation: the same lists but for the
    paths, the same weights, the same samples."""
    import torch

    from avprep.cli import main
    from avprep.data import AVConfig, AVDataset

    info = make_samples(tmp_path / "samples", "audioset", clips=3, missing=2, duration=2.0,
                        seed=8)
    videos, released = Path(info["videos"]), Path(info["released"])
    loose, packed = tmp_path / "loose", tmp_path / "packed"
    prepare_dataset("audioset", videos, loose, lists=released, workers=0, clip_timeout=None)
    assert main(["prepare", "audioset", "--videos", str(videos), "--out", str(packed),
                 "--lists", str(released), "--workers", "0", "--pack", "--fbank"]) == 0
    assert not (packed / "audio").exists() and not (packed / "frames").exists()
    assert sorted(p.name for p in (packed / "pack").glob("shard-*")) == ["shard-00000.arrow"]
    assert main(["pack", "--verify", str(packed / "pack")]) == 0
    summary = json.loads((packed / "report" / "summary.json").read_text())
    assert summary["media"] == {"pack": str((packed / "pack").absolute()),
                                "complete_clips": len(info["present"])}
    failures = (packed / "report" / "extract_log.jsonl").read_text()
    assert failures == (loose / "report" / "extract_log.jsonl").read_text() != ""
    labels = released / "class_labels_indices.csv"
    config = AVConfig(mode="eval")
    for split in info["lists"]:
        a, b = read_list(loose / "lists" / split, cache=False), read_list(packed / "lists" / split,
                                                                          cache=False)
        assert a.video_id == b.video_id and a.labels == b.labels and len(a) > 0
        assert all(w.startswith("pack://") for w in b.wav)
        ours, theirs = AVDataset(packed / "lists" / split, labels, config), \
            AVDataset(loose / "lists" / split, labels, config)
        for i in range(len(a)):
            x, y = ours[i], theirs[i]
            assert torch.equal(x.fbank, y.fbank) and torch.equal(x.image, y.image)
            assert torch.equal(x.label, y.label)
    weights = info["weights"]
    assert (packed / "lists" / weights).read_bytes() == (loose / "lists" / weights).read_bytes()
