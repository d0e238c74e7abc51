"""`make demo` runs offline end to end; the sample maker writes released-format files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from avprep.lists import compute_weights, read_labels, read_list, read_weights
from avprep.lists.ids import audioset_id, video_id_of, vggsound_id
from helpers import ROOT, STAMP



def offline_env() -> dict:
    """The environment with every network route closed: proxies to a closed port, no pip index."""
    dead = "http://127.0.0.1:9"
    return dict(os.environ, AVPREP_PROGRESS="0", http_proxy=dead, https_proxy=dead,
                HTTP_PROXY=dead, HTTPS_PROXY=dead, all_proxy=dead, no_proxy="",
                PIP_NO_INDEX="1")


def test_sample_maker_writes_downloads_and_released_files(tmp_path):
    for dataset, to_id in (("audioset", audioset_id), ("vggsound", vggsound_id)):
        out = tmp_path / dataset
        run = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_clips.py"),
                              str(out), "--dataset", dataset, "--clips", "3", "--missing", "2",
                              "--duration", "2"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        info = json.loads(run.stdout)
        names = sorted(p.name for p in (out / "videos").iterdir())
        assert len(names) == 4  # 3 clips and the broken download
        mapped = {to_id(video_id_of(n)) for n in names}
        assert set(info["present"]) | {info["broken"]} == mapped
        released = out / "released"
        labels = read_labels(released / info["labels"])
        train = read_list(released / info["train"], cache=False)
        evaluation = read_list(released / info["eval"], cache=False)
        named = set(train.video_id) | set(evaluation.video_id)
        assert set(info["nobody_has"]) <= named and set(info["present"]) <= named
        assert not set(info["nobody_has"]) & set(info["present"])
        assert all(w.startswith("/data/") for w in train.wav)  # the authors' paths, as released
        assert (read_weights(released / info["weights"])
                == compute_weights(train, labels)).all()


def test_make_demo_runs_offline_and_says_where_outputs_are(tmp_path):
    demo = tmp_path / "demo out"
    run = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "-o", STAMP, "demo",
                          f"DEMO_OUT={demo}"], capture_output=True, text=True, env=offline_env(),
                         timeout=400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    for step in ("== 1/4", "== 2/4", "== 3/4", "== 4/4", "== done"):
        assert step in out
    assert "batch of 4: fbank (4, 1024, 128), image (4, 3, 224, 224), label (4, 6)" in out
    assert "balanced sampler: first draws" in out
    lists = demo / "prepared" / "lists"
    train = read_list(lists / "audioset_2m_cleaned.json", cache=False)
    assert len(train) >= 2
    assert len(read_weights(lists / "audioset_2m_cleaned_weight.csv")) == len(train)
    assert (demo / "prepared" / "report" / "summary.txt").is_file()
    for stage in ("pretrain", "finetune"):
        assert (demo / "train" / stage / "models" / "audio_model.1.pth").is_file()
        metrics = [json.loads(line) for line in
                   (demo / "train" / stage / "metrics.jsonl").read_text().splitlines()]
        assert [m["epoch"] for m in metrics] == [1]
    assert str(demo / "train" / "finetune") in out
