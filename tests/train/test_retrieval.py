"""``avprep retrieval``: the recalls against an independent computation, ties, the command end to
end with tiny models on the real fixture clips (list and pack, pretrained and fine-tuned
checkpoints), failures, and ``--released`` coverage.

Data: the six clips of ``test_train.make_clips`` (the original pipeline's extracted media of the
three real fixture clips and a variant of each). Models: tiny CAVMAE / CAVMAEFT with seeded random
weights, saved in the released layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avprep.cli import main
from avprep.data import AudiosetDataset
from avprep.train.retrieval import ANCHORS, retrieval_scores
from helpers import LABEL_CSV
from helpers.train import make_clips, tiny_checkpoints

CPU = ["--device", "cpu", "-w", "0", "-b", "4"]


# ----------------------------------------------------------------------------- the metric

def cosine_matrix(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Cosine similarities one pair at a time (not the code under test's matrix product)."""
    out = np.empty((len(q), len(c)))
    for i in range(len(q)):
        for j in range(len(c)):
            out[i, j] = np.dot(q[i], c[j]) / (np.linalg.norm(q[i]) * np.linalg.norm(c[j]))
    return out


def argsort_ranks(sim: np.ndarray) -> np.ndarray:
    """0-based position of each row's own column in the row sorted by descending similarity."""
    order = np.argsort(-sim, axis=1, kind="stable")
    return np.array([int(np.flatnonzero(order[i] == i)[0]) for i in range(len(sim))])


def original_counting(sim: np.ndarray) -> dict:
    """The original's counting: one entry per position of the sorted row whose value equals the
    true pair's (so a tie adds entries), recalls over all entries."""
    entries = []
    for i in range(len(sim)):
        row = np.sort(-sim[i])
        entries += list(np.flatnonzero(row == -sim[i, i]))
    entries = np.array(entries)
    return {"R@1": np.mean(entries == 0), "R@5": np.mean(entries < 5),
            "R@10": np.mean(entries < 10), "MR": np.median(entries) + 1}


def expected(audio: np.ndarray, video: np.ndarray) -> dict:
    out = {}
    for prefix, (q, c) in (("a2v", (audio, video)), ("v2a", (video, audio))):
        ranks = argsort_ranks(cosine_matrix(q, c))
        for k in (1, 5, 10):
            out[f"{prefix}_R@{k}"] = float(np.mean(ranks < k))
        out[f"{prefix}_MR"] = float(np.median(ranks) + 1)
    return out


def test_recalls_equal_an_independent_ranking():
    rng = np.random.default_rng(3)
    n = 60
    video = rng.normal(size=(n, 8))
    audio = video + rng.normal(scale=1.5, size=(n, 8))  # paired, but noisily
    ours = retrieval_scores(audio, video)
    ref = expected(audio, video)
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key
    assert ours["a2v_tied"] == ours["v2a_tied"] == 0
    assert 0 < ours["a2v_R@1"] < ours["a2v_R@10"] < 1  # a case where the ranks spread
    assert ours["a2v_MR"] > 1 and ours["v2a_MR"] > 1
    for prefix in ("a2v", "v2a"):  # without ties the original's counting gives the same
        q, c = (audio, video) if prefix == "a2v" else (video, audio)
        orig = original_counting(cosine_matrix(q, c))
        for key in ("R@1", "R@5", "R@10", "MR"):
            assert ours[f"{prefix}_{key}"] == pytest.approx(orig[key], abs=1e-12)


def test_known_matrix():
    # audio i is the basis vector e_i; video j's similarity to audio i is then V[j, i] / |V[j]|
    video = np.array([[3.0, 1.0, 0.0, 0.0],    # clip 0: own audio scores highest
                      [2.0, 1.0, 0.0, 0.0],    # clip 1: audio 0 beats its own
                      [0.0, 3.0, 2.0, 1.0],    # clip 2: audio 1 beats it, then own
                      [1.0, 1.0, 1.0, 4.0]])   # clip 3: own first
    audio = np.eye(4)
    s = retrieval_scores(audio, video)
    # v2a ranks: 0, 1, 1, 0 -> R@1 1/2, MR median(0,1,1,0)+1 = 1.5
    assert s["v2a_R@1"] == 0.5 and s["v2a_R@5"] == 1.0 and s["v2a_MR"] == 1.5
    # a2v: audio i ranks video j by V[j, i] / |V[j]|; computed independently
    ref = expected(audio, video)
    assert s["a2v_R@1"] == ref["a2v_R@1"] and s["a2v_MR"] == ref["a2v_MR"]


def test_ties_count_in_the_querys_favour_and_are_reported():
    rng = np.random.default_rng(5)
    video = rng.normal(size=(12, 6))
    audio = video + rng.normal(scale=0.1, size=(12, 6))
    audio[1], video[1] = audio[0], video[0]  # clip 1 is a copy of clip 0
    s = retrieval_scores(audio, video)
    assert s["a2v_tied"] == 2 and s["v2a_tied"] == 2  # queries 0 and 1, each way
    sim = cosine_matrix(audio, video)
    strictly_higher = np.array([(sim[i] > sim[i, i]).sum() for i in range(12)])
    assert s["a2v_R@1"] == pytest.approx(np.mean(strictly_higher == 0))
    # the original's counting adds an entry per tied candidate, so it scores lower here
    orig = original_counting(sim)
    assert orig["R@1"] < s["a2v_R@1"]


def test_mismatched_features_are_refused():
    from avprep.errors import InputError
    with pytest.raises(InputError):
        retrieval_scores(np.zeros((3, 4)), np.zeros((2, 4)))


# ----------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrieval")
    lists = make_clips(root / "data")
    pre, ft = tiny_checkpoints(root)
    return {"root": root, "list": lists["train"], "pre": pre, "ft": ft}


def reference_features(model, data: Path):
    """Pooled forward_feat vectors through the drop-in loader at frame 5 (labels included)."""
    ds = AudiosetDataset(str(data), {"mode": "eval", "frame_use": 5}, str(LABEL_CSV))
    audio, video = [], []
    with torch.no_grad():
        for i in range(len(ds)):
            a, v, _ = ds[i]
            ta, tv = model.forward_feat(a[None], v[None])
            audio.append(ta.mean(dim=1)[0].numpy())
            video.append(tv.mean(dim=1)[0].numpy())
    return np.stack(audio), np.stack(video)


def run_json(args, out: Path) -> dict:
    assert main(["retrieval", *args, *CPU, "--json", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def pre_result(setup):
    """The command's result with the pretraining checkpoint on the list."""
    root = setup["root"]
    return run_json(["--model", str(root / "pre.pth"), "--data", str(setup["list"])],
                    root / "pre.json")


@pytest.mark.parametrize("kind", ["pre", "ft"])
def test_command_scores_the_clips_as_computed_independently(setup, kind, pre_result, capsys):
    root = setup["root"]
    if kind == "pre":
        result = pre_result
    else:
        result = run_json(["--model", str(root / "ft.pth"), "--data", str(setup["list"])],
                          root / "ft.json")
    ref = expected(*reference_features(setup[kind], setup["list"]))
    for key, value in ref.items():
        assert result[key] == pytest.approx(value, abs=1e-9), key
    assert result["n_clips"] == 6 and result["failures"] == [] and result["frame"] == 5
    if kind == "ft":
        err = capsys.readouterr().err
        assert "visual->audio: R@1" in err and f"{ANCHORS['audioset']['v2a_R@1']}" in err


def test_pack_gives_the_list_result(setup, pre_result):
    from avprep.store import pack

    root = setup["root"]
    pack(setup["list"], root / "pack", fbank="float32")
    from_list = pre_result
    from_pack = run_json(["--model", str(root / "pre.pth"), "--data", str(root / "pack")],
                         root / "pack.json")
    keys = [k for k in from_list if k.startswith(("a2v_", "v2a_"))]
    assert {k: from_pack[k] for k in keys} == pytest.approx({k: from_list[k] for k in keys})


def test_released_coverage_and_failures(setup, tmp_path, capsys):
    entries = json.loads(setup["list"].read_text())["data"]
    broken = [dict(e) for e in entries]
    broken[2]["wav"] = str(tmp_path / "gone.wav")  # this clip cannot be read
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"data": broken}))
    released = tmp_path / "released.json"
    gone = {"video_id": "AAAAAAAAAAA", "wav": "x.wav", "video_path": "x", "labels": "/m/09x0r"}
    released.write_text(json.dumps({"data": entries[:4] + [gone]}))
    out = tmp_path / "r.json"
    code = main(["retrieval", "--model", str(setup["root"] / "pre.pth"), "--data", str(data),
                 "--released", str(released), "--json", str(out), *CPU])
    assert code == 1  # scores written, one clip left out
    result = json.loads(out.read_text())
    assert result["n_clips"] == 5 and result["n_failed"] == 1
    assert result["failures"][0]["video_id"] == broken[2]["video_id"]
    cov = result["released"]
    # 5 released ids; of them clips 0, 1, 3 were scored (clip 2 failed, AAAAAAAAAAA is not here)
    assert cov["n_released"] == 5 and cov["n_scored_released"] == 3
    assert cov["percent"] == pytest.approx(60.0) and cov["n_scored_not_released"] == 2
    ids = (tmp_path / "r.scored_ids.txt").read_text().split()
    assert ids == [e["video_id"] for i, e in enumerate(broken) if i != 2]
    assert cov["ids_file"] == str(tmp_path / "r.scored_ids.txt")
    err = capsys.readouterr().err
    assert "scored 3 of 5 released ids (60.0%)" in err and broken[2]["video_id"] in err


def test_needs_a_model_and_data_or_embeddings(setup, capsys):
    assert main(["retrieval", "--data", str(setup["list"]), *CPU]) == 2
    assert "--embeddings" in capsys.readouterr().err


def test_help_gives_the_published_anchors(capsys):
    with pytest.raises(SystemExit) as done:
        main(["retrieval", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "visual->audio R@1 18.8 (AudioSet) / 14.8 (VGGSound); audio->visual R@1 15.1 / 12.8" \
        in text


def test_no_readable_clip_is_an_input_error(setup, tmp_path, capsys):
    data = tmp_path / "bad.json"
    data.write_text(json.dumps({"data": [{"video_id": "x", "wav": str(tmp_path / "x.wav"),
                                          "video_path": str(tmp_path), "labels": "/m/09x0r"}]}))
    assert main(["retrieval", "--model", str(setup["root"] / "pre.pth"), "--data", str(data),
                 *CPU]) == 2
    assert "no clip could be scored (x: " in capsys.readouterr().err
