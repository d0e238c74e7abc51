"""``avprep inspect-batch`` on a list of the real reference media."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import REF, SAMPLES



def _write_list(path, ids_labels):
    data = [{"video_id": vid, "wav": str(REF / "audio" / f"{vid}.wav"),
             "video_path": str(REF / "frames"), "labels": labels} for vid, labels in ids_labels]
    path.write_text(json.dumps({"data": data}))


def test_inspect_batch_prints_shapes_and_draws(tmp_path):
    clips = json.loads((REF / "clips.json").read_text())
    data = tmp_path / "list.json"
    _write_list(data, [(c["video_id"], c["labels"]) for c in clips])
    weights = tmp_path / "w.csv"
    weights.write_text("1.0\n0.0\n0.0\n")  # only row 0 can be drawn
    run = subprocess.run([sys.executable, "-m", "avprep", "inspect-batch", str(data),
                          "--label-csv", str(SAMPLES / "class_labels_indices_as.csv"),
                          "--weights", str(weights), "--batch-size", "2"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "batch of 2: fbank (2, 1024, 128), image (2, 3, 224, 224), label (2, 527)" in run.stdout
    assert "first draws [0, 0, 0]" in run.stdout


def test_inspect_batch_names_a_missing_clip(tmp_path):
    data = tmp_path / "list.json"
    _write_list(data, [("nope_clip_000001", "/m/09x0r")])
    run = subprocess.run([sys.executable, "-m", "avprep", "inspect-batch", str(data),
                          "--label-csv", str(SAMPLES / "class_labels_indices_as.csv")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "nope_clip_000001" in run.stderr and len(run.stderr.strip().splitlines()) == 1
