"""``avprep embed``: the Arrow file, its token sequences, resuming (after a finished run and after
a kill), settings that must agree, failures, and ``avprep retrieval --embeddings`` giving the
recomputed result.

Data: ``test_train.make_clips`` (six clips from the real fixtures) plus, for the kill test, more
ids that reuse those media. Model: tiny CAVMAE with seeded random weights.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from avprep.cli import main
from avprep.models import build, save_state_dict
from avprep.train.embed import parts_dir, read_embeddings, read_table, read_tokens
from avprep.train.retrieval import compute_features
from helpers import ROOT
from helpers.train import make_clips

CPU = ["--device", "cpu", "-w", "0", "-b", "2"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("embed")
    lists = make_clips(root / "data")
    torch.manual_seed(0)
    save_state_dict(build("cavmae", size="tiny"), root / "pre.pth")
    entries = json.loads(lists["train"].read_text())["data"]
    return {"root": root, "list": lists["train"], "entries": entries, "model": root / "pre.pth"}


def write_list(path: Path, entries) -> Path:
    path.write_text(json.dumps({"data": list(entries)}))
    return path


def embed_args(setup, data: Path, out: Path, *extra) -> list:
    return ["embed", "--model", str(setup["model"]), "--data", str(data), "-o", str(out),
            *CPU, *extra]


@pytest.fixture(scope="module")
def full(setup):
    """One uninterrupted run over the six clips, with the token sequences."""
    out = setup["root"] / "full.arrow"
    assert main(embed_args(setup, setup["list"], out, "--tokens", "--chunk", "4")) == 0
    return out


def test_file_keyed_by_id_with_pooled_vectors_and_tokens(setup, full):
    emb = read_embeddings(full)
    assert emb.ids == [e["video_id"] for e in setup["entries"]]
    assert emb.audio.shape == (6, 32) and emb.video.shape == (6, 32)
    assert emb.meta["frame"] == 5 and emb.meta["tokens"] is True and emb.meta["pooling"] == "mean"
    ids, audio_tokens = read_tokens(full, "audio")
    _, video_tokens = read_tokens(full, "video")
    assert ids == emb.ids
    assert audio_tokens.shape == (6, 512, 32) and video_tokens.shape == (6, 196, 32)
    np.testing.assert_allclose(audio_tokens.mean(axis=1), emb.audio, rtol=0, atol=1e-6)
    np.testing.assert_allclose(video_tokens.mean(axis=1), emb.video, rtol=0, atol=1e-6)
    # the same vectors as computing them directly
    ref_ids, audio, video, failures = compute_features(setup["model"], setup["list"],
                                                       batch_size=2, num_workers=0,
                                                       device="cpu")
    assert ref_ids == emb.ids and not failures
    np.testing.assert_array_equal(audio, emb.audio)
    np.testing.assert_array_equal(video, emb.video)
    assert not parts_dir(full).exists()


def test_retrieval_from_embeddings_equals_recomputing(setup, full, tmp_path):
    recomputed = tmp_path / "recomputed.json"
    assert main(["retrieval", "--model", str(setup["model"]), "--data", str(setup["list"]),
                 "--json", str(recomputed), *CPU]) == 0
    stored = tmp_path / "stored.json"
    assert main(["retrieval", "--embeddings", str(full), "--json", str(stored)]) == 0
    a, b = json.loads(recomputed.read_text()), json.loads(stored.read_text())
    keys = [k for k in a if k.startswith(("a2v_", "v2a_"))]
    assert len(keys) == 10 and {k: b[k] for k in keys} == {k: a[k] for k in keys}
    assert b["n_clips"] == 6
    # restricted to and ordered by a list: the first three clips, reversed
    sub = write_list(tmp_path / "sub.json", setup["entries"][:3][::-1])
    emb = read_embeddings(full, [e["video_id"] for e in setup["entries"][:3][::-1]])
    assert main(["retrieval", "--embeddings", str(full), "--data", str(sub), "--json",
                 str(tmp_path / "sub_result.json")]) == 0
    assert json.loads((tmp_path / "sub_result.json").read_text())["n_clips"] == 3
    assert emb.ids == [e["video_id"] for e in setup["entries"][:3][::-1]]


def test_resume_skips_what_is_there_and_keeps_list_order(setup, full, tmp_path, capsys):
    out = tmp_path / "e.arrow"
    first = write_list(tmp_path / "first.json", setup["entries"][2:5])
    assert main(embed_args(setup, first, out, "--tokens")) == 0
    before = read_embeddings(out)
    assert before.ids == [e["video_id"] for e in setup["entries"][2:5]]
    capsys.readouterr()
    assert main(embed_args(setup, setup["list"], out, "--tokens", "--chunk", "2")) == 0
    assert "6 clips (3 new, 3 already there)" in capsys.readouterr().out
    after, ref = read_embeddings(out), read_embeddings(full)
    assert after.ids == ref.ids  # the list's order
    np.testing.assert_array_equal(after.audio, ref.audio)
    np.testing.assert_array_equal(after.video, ref.video)
    # a third run has nothing to do and leaves the file as it is
    stamp = out.stat().st_mtime_ns
    assert main(embed_args(setup, setup["list"], out, "--tokens")) == 0
    assert out.stat().st_mtime_ns == stamp


def test_other_settings_are_refused(setup, full, tmp_path, capsys):
    out = tmp_path / "e.arrow"
    shutil.copy(full, out)
    assert main(embed_args(setup, setup["list"], out, "--tokens", "--dtype", "float16")) == 2
    assert "dtype" in capsys.readouterr().err
    assert main(embed_args(setup, setup["list"], out)) == 2  # without --tokens
    assert read_embeddings(out).ids == read_embeddings(full).ids  # untouched


def test_failures_are_listed_and_retried(setup, tmp_path, capsys):
    entries = [dict(e) for e in setup["entries"][:3]]
    wav = entries[1]["wav"]
    entries[1]["wav"] = str(tmp_path / "later.wav")
    data = write_list(tmp_path / "d.json", entries)
    out = tmp_path / "e.arrow"
    assert main(embed_args(setup, data, out)) == 1
    err = capsys.readouterr().err
    assert entries[1]["video_id"] in err and "could not be read" in err
    assert read_embeddings(out).ids == [entries[0]["video_id"], entries[2]["video_id"]]
    shutil.copy(wav, tmp_path / "later.wav")  # the media appears: the next run adds it
    assert main(embed_args(setup, data, out)) == 0
    assert read_embeddings(out).ids == [e["video_id"] for e in entries]


def test_a_killed_run_loses_at_most_the_chunk_under_way(setup, full, tmp_path):
    # eight ids: the six clips and a copy of two of them under new ids (same media files)
    entries = list(setup["entries"])
    frames = Path(entries[0]["video_path"])
    for e in setup["entries"][:2]:
        vid = e["video_id"] + "-copy"
        for i in range(10):
            shutil.copy(frames / f"frame_{i}" / f"{e['video_id']}.jpg",
                        frames / f"frame_{i}" / f"{vid}.jpg")
        entries.append({**e, "video_id": vid})
    data = write_list(tmp_path / "eight.json", entries)
    out = tmp_path / "e.arrow"
    cmd = [sys.executable, "-m", "avprep", *embed_args(setup, data, out, "--chunk", "1")]
    env = dict(os.environ, AVPREP_PROGRESS="0")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    parts = parts_dir(out)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if len(list(parts.glob("part-*.arrow"))) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    done = sorted(parts.glob("part-*.arrow"))
    kept = [vid for p in done for vid in read_table(p)[0].column("video_id").to_pylist()]
    assert len(kept) == len(done) >= 2  # every finished chunk is kept, one clip each
    assert kept == [e["video_id"] for e in entries[:len(kept)]]
    assert main(embed_args(setup, data, out, "--chunk", "4")) == 0
    emb = read_embeddings(out)
    assert emb.ids == [e["video_id"] for e in entries]
    assert not parts.exists() and not list(tmp_path.glob("*.avprep-tmp-*"))
    ref = read_embeddings(full)
    np.testing.assert_array_equal(emb.audio[:6], ref.audio)
    np.testing.assert_array_equal(emb.audio[6:], ref.audio[:2])  # copies: the same media
