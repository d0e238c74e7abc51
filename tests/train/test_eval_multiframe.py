"""The frame-averaged evaluation reads each clip once: ``MultiFrameDataset`` and the evaluation
loop built on it give the same numbers as one eval-mode Dataset per frame, with the frames'
probabilities averaged by numpy and the metrics computed by scikit-learn directly (not by
avprep's evaluation or metrics code).

Data: the original pipeline's extracted fixture media (``ref/audio``, ``ref/frames``) of the three
real clips, plus two variants under new ids (audio reversed, frames mirrored), five clips in all so
that a batch of two leaves an incomplete last batch. Model: the tiny fine-tuning model with
527 classes and seeded random weights. Tolerance for logits and metrics: 1e-6; the data items
themselves must be equal bit for bit.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score
from torch.utils.data import DataLoader

from avprep.cli import main
from avprep.data import AudiosetDataset, MultiFrameDataset, MultiFrameSample
from avprep.errors import InputError, MediaError
from avprep.models import build, save_state_dict
from avprep.train import loaders
from avprep.train.config import EvalConfig, FinetuneConfig
from avprep.train.evaluate import evaluate_model, predict, predict_frames
from avprep.train.finetune import _final_evaluation
from avprep.train.runtime import setup_runtime
from helpers import LABEL_CSV
from helpers.train import make_clips

TOL = 1e-6
BATCH = 2
METRICS = ("mAP", "acc", "AUC", "d_prime")


def make_list(out: Path) -> Path:
    """A list of five clips in the original layout: the three real ones, two variants."""
    entries = json.loads(make_clips(out)["train"].read_text())["data"][:5]
    path = out / "eval.json"
    path.write_text(json.dumps({"data": entries}, indent=1))
    return path


def eval_config(**changes) -> EvalConfig:
    values = dict(data_eval="x", label_csv=str(LABEL_CSV), model="x", model_size="tiny",
                  batch_size=BATCH, num_workers=0, device="cpu")
    return EvalConfig(**{**values, **changes})


def frame_dataset(data: Path, frame: int, **conf) -> AudiosetDataset:
    """The per-frame eval Dataset the evaluation used to build once per frame."""
    return AudiosetDataset(str(data), {**loaders.audio_conf(eval_config(), "eval"),
                                       "frame_use": frame, **conf}, str(LABEL_CSV))


def sklearn_metrics(scores: np.ndarray, target: np.ndarray) -> dict:
    """mAP, AUC, d-prime and accuracy straight from scikit-learn's multi-label macro averages
    and scipy: over the classes with a positive (AUC: and a negative), as the published
    evaluation scores them."""
    truth = target > 0.5
    has_pos = truth.any(axis=0)
    both = has_pos & ~truth.all(axis=0)
    mean_ap = average_precision_score(truth[:, has_pos], scores[:, has_pos], average="macro")
    auc = roc_auc_score(truth[:, both], scores[:, both], average="macro")
    return {"mAP": float(mean_ap), "AUC": float(auc), "d_prime": float(norm.ppf(auc) * np.sqrt(2)),
            "acc": float(np.mean(scores.argmax(axis=1) == target.argmax(axis=1)))}


def per_frame_evaluation(model, data: Path, ftmode: str, skip, runtime) -> dict:
    """The evaluation worked out independently: one eval Dataset and one pass per frame, each
    frame's sigmoid and softmax probabilities computed and averaged over the frames with numpy,
    the metrics by :func:`sklearn_metrics`."""
    frames = [5] if skip or ftmode in ("audioonly", "missingaudioonly") else list(range(10))
    sigmoids, softmaxes, per_frame = [], [], []
    for frame in frames:
        loader = loaders.eval_loader(frame_dataset(data, frame), BATCH, 0, runtime)
        logits, target, _ = predict(model, loader, ftmode, runtime)
        x, target = logits.numpy().astype(np.float64), target.numpy()
        sigmoids.append(1.0 / (1.0 + np.exp(-x)))
        e = np.exp(x - x.max(axis=1, keepdims=True))
        softmaxes.append(e / e.sum(axis=1, keepdims=True))
        m = sklearn_metrics(x, target)
        per_frame.append({"frame": frame, "mAP": m["mAP"], "acc": m["acc"], "AUC": m["AUC"]})
    result = sklearn_metrics(np.mean(sigmoids, axis=0), target)
    result["acc"] = sklearn_metrics(np.mean(softmaxes, axis=0), target)["acc"]
    result.update({"frames": frames, "per_frame": per_frame})
    return result


def assert_close(ours, ref, what: str) -> None:
    if ref is None or (isinstance(ref, float) and math.isnan(ref)):
        assert ours is None or math.isnan(ours), what
    else:
        assert abs(ours - ref) <= TOL, f"{what}: {ours} vs {ref}"


def assert_same_result(ours: dict, ref: dict) -> None:
    assert ours["frames"] == ref["frames"]
    for key in METRICS:
        assert_close(ours[key], ref[key], key)
    assert [f["frame"] for f in ours["per_frame"]] == [f["frame"] for f in ref["per_frame"]]
    for a, b in zip(ours["per_frame"], ref["per_frame"]):
        for key in ("mAP", "acc", "AUC"):
            assert_close(a[key], b[key], f"frame {b['frame']} {key}")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_list(tmp_path_factory.mktemp("multiframe"))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build("cavmae_ft", size="tiny", label_dim=527)
    with torch.no_grad():  # a head large enough that frames and clips score visibly apart
        for p in m.mlp_head.parameters():
            p.normal_(0, 1.0)
    return m.eval()


@pytest.fixture(scope="module")
def runtime():
    return setup_runtime(False, "cpu")


def test_items_equal_per_frame_dataset_items(data):
    base = frame_dataset(data, 5)
    multi = MultiFrameDataset(base)
    assert len(multi) == len(base) == 5 and multi.frames == tuple(range(10))
    per_frame = [frame_dataset(data, f) for f in range(10)]
    for i in range(len(multi)):
        item = multi[i]
        assert isinstance(item, MultiFrameSample)
        fbank, images, label = item
        assert fbank.dtype == images.dtype == label.dtype == torch.float32
        assert tuple(fbank.shape) == (1024, 128) and tuple(images.shape) == (10, 3, 224, 224)
        for f, ds in enumerate(per_frame):
            f_fbank, f_image, f_label = ds[i]
            assert torch.equal(fbank, f_fbank) and torch.equal(label, f_label)
            assert torch.equal(images[f], f_image)
        # the frames are really different pictures
        assert (images[0] - images[9]).abs().max() > 0.1


def test_frame_subset_order_and_loader_batches(data):
    base = frame_dataset(data, 5)
    multi = MultiFrameDataset(base, frames=[7, 2])
    a7, a2 = frame_dataset(data, 7), frame_dataset(data, 2)
    loader = DataLoader(multi, batch_size=BATCH, num_workers=1)
    seen = 0
    for a, v, y in loader:
        assert a.shape[1:] == (1024, 128) and v.shape[1:] == (2, 3, 224, 224)
        for j in range(a.shape[0]):
            assert torch.equal(v[j, 0], a7[seen][1]) and torch.equal(v[j, 1], a2[seen][1])
            assert torch.equal(a[j], base[seen][0]) and torch.equal(y[j], base[seen][2])
            seen += 1
    assert seen == len(base) == 5


def test_predict_frames_equals_one_pass_per_frame(data, model, runtime):
    multi = MultiFrameDataset(frame_dataset(data, 5))
    loader = loaders.eval_loader(multi, BATCH, 0, runtime)
    assert len(loader) == 3  # 2 + 2 + 1 clips
    logits, target = predict_frames(model, loader, "multimodal", runtime)
    assert len(logits) == 10
    for f in range(10):
        ref, ref_target, _ = predict(model, loaders.eval_loader(frame_dataset(data, f), BATCH, 0,
                                                             runtime), "multimodal", runtime)
        assert logits[f].shape == ref.shape == (5, 527)
        assert (logits[f] - ref).abs().max() <= TOL
        assert torch.equal(target, ref_target)
    # the frames change the scores, so the comparison above could have failed
    assert (logits[0] - logits[9]).abs().max() > 1e-3


@pytest.mark.parametrize("ftmode,skip,frames", [
    ("multimodal", None, list(range(10))),
    ("videoonly", False, list(range(10))),
    ("audioonly", None, [5]),
    ("missingaudioonly", None, [5]),
    ("multimodal", True, [5]),
])
def test_evaluate_model_equals_per_frame_evaluation(data, model, runtime, ftmode, skip, frames):
    ours = evaluate_model(model, data, LABEL_CSV, eval_config(), ftmode, skip, runtime)
    assert ours["frames"] == frames and ours["n_samples"] == 5
    assert_same_result(ours, per_frame_evaluation(model, data, ftmode, skip, runtime))


def test_eval_command_and_final_evaluation_files(data, model, runtime, tmp_path, capsys):
    ref = per_frame_evaluation(model, data, "multimodal", None, runtime)
    exp = tmp_path / "exp"
    (exp / "models").mkdir(parents=True)
    save_state_dict(model, exp / "models" / "best_audio_model.pth")

    out = tmp_path / "eval.json"
    assert main(["eval", "--data-eval", str(data), "--label-csv", str(LABEL_CSV),
                 "--model", str(exp / "models" / "best_audio_model.pth"), "--model-size",
                 "tiny", "-b", str(BATCH), "-w", "0", "--device", "cpu",
                 "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert_same_result(written, ref)
    printed = json.loads(capsys.readouterr().out)
    for key in METRICS:
        assert_close(printed[key], ref[key], f"printed {key}")

    cfg = FinetuneConfig(data_train=str(data), data_val=str(data), label_csv=str(LABEL_CSV),
                         exp_dir=str(exp), model_size="tiny", batch_size=BATCH, num_workers=0,
                         device="cpu")
    fresh = build("cavmae_ft", size="tiny", label_dim=527)  # _final_evaluation loads the best
    _final_evaluation(fresh, cfg, runtime, exp, best_epoch=1)
    final = json.loads((exp / "final_eval.json").read_text())
    assert_same_result(final, ref)
    rows = np.loadtxt(exp / "mul_frame_res.csv", delimiter=",")
    expected = [f["mAP"] for f in ref["per_frame"]] + [ref["mAP"]]
    assert rows.shape == (11,) and np.abs(rows - np.array(expected)).max() <= TOL


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_amp_evaluation_equals_per_frame_evaluation(data, model):
    runtime = setup_runtime(None, "cuda")
    assert runtime.amp
    on_gpu = copy.deepcopy(model).to(runtime.device)
    for ftmode in ("multimodal", "audioonly"):
        ours = evaluate_model(on_gpu, data, LABEL_CSV, eval_config(device="cuda"), ftmode,
                              None, runtime)
        assert_same_result(ours, per_frame_evaluation(on_gpu, data, ftmode, None, runtime))


def copy_without(data: Path, tmp_path: Path, frame: int) -> tuple:
    """A copy of the list's media with frame ``frame`` of its second clip deleted."""
    root = tmp_path / "media"
    shutil.copytree(data.parent, root)
    entries = json.loads((root / "eval.json").read_text())["data"]
    for e in entries:
        e["wav"] = str(root / "audio" / Path(e["wav"]).name)
        e["video_path"] = str(root / "frames") + "/"
    path = root / "eval.json"
    path.write_text(json.dumps({"data": entries}))
    gone = root / "frames" / f"frame_{frame}" / f"{entries[1]['video_id']}.jpg"
    gone.unlink()
    return path, gone, entries[1]["video_id"]


def test_missing_frame_strict_and_lenient_as_per_frame(data, tmp_path):
    path, gone, video_id = copy_without(data, tmp_path, 7)
    strict = MultiFrameDataset(frame_dataset(path, 5))
    assert torch.equal(strict[0].images, MultiFrameDataset(frame_dataset(data, 5))[0].images)
    with pytest.raises(MediaError) as err:
        strict[1]
    assert video_id in str(err.value) and str(gone) in str(err.value)

    base = frame_dataset(path, 5, strict=False)
    lenient = MultiFrameDataset(base)
    item = lenient[1]
    for f in range(10):
        assert torch.equal(item.images[f], frame_dataset(path, f, strict=False)[1][1])
    assert torch.equal(item.images[7], item.images[6])  # the lower frame stands in
    assert base.substitutions["frame_lower"] == 1


@pytest.mark.parametrize("conf,frames,message", [
    ({"mode": "train"}, range(10), "eval-mode"),
    ({"mixup": 0.5}, range(10), "mixup"),
    ({"noise": True}, range(10), "noise"),
    ({"freqm": 8, "timem": 20}, range(10), "freqm, timem"),
    ({"batch_fbank": True}, range(10), "batch_fbank"),
    ({}, [3, 10], "[10]"),
    ({}, [], "at least one frame"),
])
def test_rejects_augmenting_datasets_and_bad_frames(data, conf, frames, message):
    with pytest.raises(InputError) as err:
        MultiFrameDataset(frame_dataset(data, 5, **conf), frames)
    assert message in str(err.value)


def test_rejects_other_datasets():
    with pytest.raises(InputError, match="wraps an AVDataset"):
        MultiFrameDataset([1, 2, 3])  # type: ignore[arg-type]
