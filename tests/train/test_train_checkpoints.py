"""Checkpoints of a training run: none runs code, errors exit as documented, the disk use is
said up front, the best model is a link, a fine-tuned head of another class count is replaced.

A crafted file whose unpickling would create a marker file is put where each loading path of
``avprep train`` and ``avprep eval`` reads a checkpoint: every one refuses it (exit 2, one line)
and the marker never appears. The runs are tiny models on the fixture clips (``test_train``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from avprep.cli import main
from avprep.models import build
from helpers import LABEL_CSV
from helpers.train import TINY, make_clips


class _TouchOnLoad:
    """Unpickling this calls ``Path.touch(marker)``: what a checkpoint that runs code does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def plant(path: Path, marker: Path, like: dict) -> None:
    """Replace ``path`` with ``like`` plus an entry that creates ``marker`` when unpickled."""
    if path.exists():
        path.unlink()  # a hard-linked best model must not write through to its epoch file
    torch.save({**like, "payload": _TouchOnLoad(marker)}, path)


@pytest.fixture(scope="module")
def exps(tmp_path_factory):
    """One finished 1-epoch tiny pretraining and fine-tuning (with --wa True)."""
    root = tmp_path_factory.mktemp("safety")
    lists = make_clips(root / "data")
    common = ["--data-train", str(lists["train"]), "--data-val", str(lists["val"]),
              "--label-csv", str(LABEL_CSV), *TINY, "--target_length", "256", "--n-epochs", "1"]
    pre, ft = root / "pre", root / "ft"
    out = {}
    ft_base = ["train", "finetune", *common, "--skip_frame_agg", "True"]
    ft_args = [*ft_base, "--pretrain_path", str(pre / "models" / "audio_model.1.pth")]
    for name, args in (("pre", ["train", "pretrain", *common, "--exp-dir", str(pre)]),
                       ("ft", [*ft_args, "--exp-dir", str(ft), "--wa", "True"])):
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            assert main(args) == 0
        out[name] = printed.getvalue()
    return {"root": root, "lists": lists, "common": common, "pre": pre, "ft": ft,
            "ft_base": ft_base, "ft_args": ft_args, "stdout": out}


def _copy(exps, name: str, dest: str) -> Path:
    out = exps["root"] / dest
    shutil.copytree(exps[name], out)
    return out


def _refused(code: int, capsys, marker: Path) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert not marker.exists()
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_the_planted_file_runs_code_when_loaded_unsafely(tmp_path):
    marker = tmp_path / "marker"
    plant(tmp_path / "x.pth", marker, {"a": torch.zeros(1)})
    torch.load(tmp_path / "x.pth", weights_only=False)
    assert marker.exists()  # so the refusals below are of a live payload


def test_resume_states_load_safely_and_an_evil_one_is_refused(exps, capsys, tmp_path):
    marker = tmp_path / "marker"
    for kind, args in (("pre", ["train", "pretrain", *exps["common"]]),
                       ("ft", exps["ft_args"])):
        state = torch.load(exps[kind] / "resume.pth", weights_only=True)  # plain values only
        assert state["epoch"] == 1 and state["rng"][0]["numpy"]["keys"].dtype == torch.int64
        exp = _copy(exps, kind, f"{kind}-evil-resume")
        plant(exp / "resume.pth", marker, {"kind": state["kind"], "epoch": 1})
        capsys.readouterr()
        code = main([*args, "--exp-dir", str(exp), "--n-epochs", "2", "--resume"])
        line = _refused(code, capsys, marker)
        assert "resume.pth" in line and "refused" in line and "getattr" in line


def test_the_resume_state_holds_only_what_a_resume_reads(exps):
    # every field written is read back by avprep.train.resume.load (the rng per process)
    read = {"kind", "epoch", "global_step", "best_epoch", "best", "model", "optimizer",
            "scheduler", "scaler", "rng"}
    for kind, best_epoch in (("pre", 1), ("ft", 1)):
        state = torch.load(exps[kind] / "resume.pth", weights_only=True)
        assert set(state) == read, kind
        assert state["best_epoch"] == best_epoch and state["global_step"] >= 1


def test_a_resume_state_of_an_earlier_version_gets_a_clear_message(exps, capsys):
    exp = _copy(exps, "pre", "pre-old-resume")
    state = torch.load(exp / "resume.pth", weights_only=True)
    state["rng"][0]["numpy"] = np.random.get_state()  # what earlier versions stored
    torch.save(state, exp / "resume.pth")
    capsys.readouterr()
    code = main(["train", "pretrain", *exps["common"], "--exp-dir", str(exp), "--n-epochs", "2",
                 "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "earlier avprep version" in err and "--pretrain_path" in err


def test_weight_averaging_and_the_best_model_refuse_an_evil_checkpoint(exps, capsys, tmp_path):
    marker = tmp_path / "marker"
    weights = torch.load(exps["ft"] / "models" / "audio_model.1.pth", weights_only=True)
    # --wa True: the epochs averaged (a resume with nothing left to train goes to the final load)
    exp = _copy(exps, "ft", "ft-evil-epoch")
    plant(exp / "models" / "audio_model.1.pth", marker, weights)
    code = main([*exps["ft_args"], "--exp-dir", str(exp), "--wa", "True", "--resume"])
    assert "audio_model.1.pth" in _refused(code, capsys, marker)
    # --wa False: the best model
    exp = _copy(exps, "ft", "ft-evil-best")
    plant(exp / "models" / "best_audio_model.pth", marker, weights)
    code = main([*exps["ft_args"], "--exp-dir", str(exp), "--wa", "False", "--resume"])
    assert "best_audio_model.pth" in _refused(code, capsys, marker)
    # the untouched copy of the same run passes that final load
    exp = _copy(exps, "ft", "ft-clean")
    assert main([*exps["ft_args"], "--exp-dir", str(exp), "--wa", "False", "--resume"]) == 0


def test_eval_pretrain_path_and_zoo_names_refuse_an_evil_checkpoint(exps, capsys, tmp_path,
                                                                    monkeypatch):
    from avprep.models import zoo

    marker = tmp_path / "marker"
    weights = torch.load(exps["ft"] / "models" / "audio_model.1.pth", weights_only=True)
    evil = tmp_path / "evil.pth"
    plant(evil, marker, weights)
    eval_args = ["eval", "--data-eval", str(exps["lists"]["val"]), "--label-csv",
                 str(LABEL_CSV), "--model-size", "tiny", "-w", "0", "--device", "cpu",
                 "--target_length", "256"]
    capsys.readouterr()
    assert "evil.pth" in _refused(main([*eval_args, "--model", str(evil)]), capsys, marker)
    for kind, args in (("pretrain", ["train", "pretrain", *exps["common"]]),
                       ("finetune", exps["ft_base"])):
        exp = tmp_path / f"{kind}-evil-init"
        code = main([*args, "--exp-dir", str(exp), "--pretrain_path", str(evil)])
        assert "evil.pth" in _refused(code, capsys, marker)
        assert not exp.exists()  # inputs are checked before the folder is made
    # a model-zoo name whose cached file is the crafted one; no server is reachable
    monkeypatch.setenv("AVPREP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AVPREP_FETCH_BASE_URL", "http://127.0.0.1:9")
    entry = zoo.find("cav-mae-ft-as2m-51.2", zoo.zoo_entries())
    cached = zoo.default_cache_dir() / entry.filename
    assert tmp_path in cached.parents  # never plant anything in a real cache
    cached.parent.mkdir(parents=True)
    plant(cached, marker, weights)
    code = main([*eval_args, "--model", "cav-mae-ft-as2m-51.2"])
    assert _refused(code, capsys, marker)
    code = main([*exps["ft_base"], "--exp-dir", str(tmp_path / "zoo-init"),
                 "--pretrain_path", "cav-mae-ft-as2m-51.2"])
    assert _refused(code, capsys, marker)


# ----------------------------------------------------------------------------- exit codes

def test_a_nan_checkpoint_in_eval_is_an_input_error(exps, capsys, tmp_path):
    state = torch.load(exps["ft"] / "models" / "audio_model.1.pth", weights_only=True)
    state["module.mlp_head.1.weight"][0, 0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    capsys.readouterr()
    code = main(["eval", "--data-eval", str(exps["lists"]["val"]), "--label-csv",
                 str(LABEL_CSV), "--model", str(path), "--model-size", "tiny", "-w", "0",
                 "--device", "cpu", "--target_length", "256"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "nan.pth" in err and "mlp_head.1.weight" in err and "NaN" in err


@pytest.mark.parametrize("change, named", [
    (["--model-size", "base"], "--model-size tiny -> base"),
    (["--lr", "0.01"], "--lr 0.001 -> 0.01"),
    (["--target_length", "512"], "--target-length 256 -> 512"),
])
def test_resume_refuses_an_option_it_cannot_continue_with(exps, capsys, change, named):
    exp = _copy(exps, "pre", f"pre-change-{change[0].strip('-')}")
    before = sorted(p.name for p in exp.rglob("*"))
    capsys.readouterr()
    code = main(["train", "pretrain", *exps["common"], "--exp-dir", str(exp), "--n-epochs", "2",
                 "--resume", *change])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert named in err and "args.json" in err
    assert sorted(p.name for p in exp.rglob("*")) == before  # nothing written


def test_resume_with_changed_options_it_can_take(exps):
    exp = _copy(exps, "pre", "pre-more-epochs")
    code = main(["train", "pretrain", *exps["common"], "--exp-dir", str(exp), "--resume",
                 "--mixup", "0.5", "--data-eval", str(exps["lists"]["train"])])
    assert code == 0
    assert json.loads((exp / "args.resumed.json").read_text())["mixup"] == 0.5


def test_finetune_with_an_unusable_pretrain_path_leaves_no_folder(exps, capsys, tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    for path in (junk, tmp_path / "missing.pth"):
        exp = tmp_path / f"ft-{path.stem}"
        capsys.readouterr()
        code = main([*exps["ft_base"], "--exp-dir", str(exp), "--pretrain_path", str(path)])
        err = capsys.readouterr().err
        assert code == 2 and path.name in err
        assert not exp.exists()


def test_fetch_into_a_file_and_debug_keep_exit_code_2(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["fetch", "cav-mae-base", "--dest", str(target)]) == 2
    err = capsys.readouterr().err
    assert "a-file" in err and "folder" in err and len(err.strip().splitlines()) == 1
    assert target.read_text() == "x"
    assert main(["--debug", "fetch", "cav-mae-base", "--dest", str(target)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("avprep fetch: error:")


def test_debug_keeps_the_internal_error_code(monkeypatch, capsys):
    import avprep.cli.fetch as fetch_cli

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(fetch_cli, "_fetch", broken)
    assert main(["fetch", "--list"]) == 3
    assert main(["--debug", "fetch", "--list"]) == 3
    err = capsys.readouterr().err
    assert err.count("internal error: ZeroDivisionError") == 2 and err.count("Traceback") == 1


# ----------------------------------------------------------------------------- disk use

def test_the_best_model_is_a_hard_link_that_loads_as_released(exps):
    for name, kind, extra in (("pre", "cavmae", {}), ("ft", "cavmae_ft", {"label_dim": 527})):
        best = exps[name] / "models" / "best_audio_model.pth"
        epoch = exps[name] / "models" / "audio_model.1.pth"
        assert os.path.samefile(best, epoch) and os.stat(best).st_nlink == 2
        model = torch.nn.DataParallel(build(kind, size="tiny", audio_length=256, **extra))
        model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True),
                              strict=True)  # the original's way of reading it


def test_the_disk_estimate_is_printed_first_and_matches_the_files(exps):
    from avprep.train import checkpointing as ckpt

    for name, kind, extra in (("pre", "cavmae", {}), ("ft", "cavmae_ft", {"label_dim": 527})):
        model = build(kind, size="tiny", audio_length=256, **extra)
        estimate = ckpt.disk_estimate(model, 1, True, averaged=name == "ft")
        lines = exps["stdout"][name].splitlines()
        assert lines[0] == estimate.summary(exps[name])
        assert "hard link" in lines[0] and "resume.pth" in lines[0]
        epoch = os.path.getsize(exps[name] / "models" / "audio_model.1.pth")
        resume = os.path.getsize(exps[name] / "resume.pth")
        assert abs(estimate.model_bytes - epoch) / epoch < 0.03
        assert abs(estimate.resume_bytes - resume) / resume < 0.08
    # without epoch models the best model is a file of its own, and the estimate says so
    alone = ckpt.disk_estimate(model, 5, False)
    assert alone.total_bytes == alone.model_bytes + 2 * alone.resume_bytes
    assert "best_audio_model.pth" in alone.summary("x") and "hard link" not in alone.summary("x")


# ----------------------------------------------------------------------------- another head

def _five_class_labels(path: Path) -> Path:
    rows = ["index,mid,display_name"] + [
        f'{i},{mid},"class {i}"' for i, mid in
        enumerate(["/m/09x0r", "/m/04rlf", "/m/0bt9lr", "/m/0jbk", "/m/068hy"])]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_finetuned_head_of_another_class_count_needs_ft_reinit_head(exps, capsys, tmp_path):
    labels = _five_class_labels(tmp_path / "five.csv")
    source = exps["ft"] / "models" / "audio_model.1.pth"  # a 527-class fine-tuned model
    args = ["train", "finetune", "--data-train", str(exps["lists"]["train"]), "--data-val",
            str(exps["lists"]["val"]), "--label-csv", str(labels), "--n_class", "5", *TINY,
            "--target_length", "256", "--n-epochs", "1", "--skip_frame_agg", "True",
            "--pretrain_path", str(source)]
    capsys.readouterr()
    exp = tmp_path / "refused"
    assert main([*args, "--exp-dir", str(exp)]) == 2
    err = capsys.readouterr().err
    assert "527 classes, the model 5" in err and "--ft-reinit-head" in err
    assert len(err.strip().splitlines()) == 1 and not exp.exists()
    exp = tmp_path / "reinit"
    assert main([*args, "--exp-dir", str(exp), "--ft-reinit-head"]) == 0
    assert "re-initialized the classification head: the checkpoint's has 527 classes, the " \
        "model 5 (--n_class) (4 keys; see init.json)" in capsys.readouterr().out
    init = json.loads((exp / "init.json").read_text())
    head = ["module.mlp_head.0.bias", "module.mlp_head.0.weight", "module.mlp_head.1.bias",
            "module.mlp_head.1.weight"]
    assert init["reinitialized"] == head and sorted(init["new"]) == head
    encoder = [k for k in torch.load(source, weights_only=True) if "mlp_head" not in k]
    assert sorted(init["loaded"]) == sorted(encoder)
    final = torch.load(exp / "models" / "audio_model.1.pth", weights_only=True)
    assert final["module.mlp_head.1.weight"].shape == (5, 32)


def test_ft_reinit_head_keeps_a_head_that_fits(exps):
    from avprep.train import initialize

    source = exps["ft"] / "models" / "audio_model.1.pth"
    model = build("cavmae_ft", size="tiny", label_dim=527, audio_length=256)
    report = initialize.load_init(model, str(source), "finetune", reinit_head=True)
    assert report["reinitialized"] == [] and report["new"] == []
    torch.testing.assert_close(model.state_dict()["mlp_head.1.weight"],
                               torch.load(source, weights_only=True)["module.mlp_head.1.weight"],
                               rtol=0, atol=0)
