"""``scripts/slurm_extract.sbatch`` run the way SLURM runs an array job (its environment variables,
one process per task): the tasks' outputs together equal one plain run's, and their failure logs,
concatenated, equal its log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from avprep.cli import main
from avprep.media.log import read_failures
from avprep.synth import make_clip
from helpers import ROOT

SCRIPT = ROOT / "scripts" / "slurm_extract.sbatch"
AVPREP = Path(sys.executable).with_name("avprep")
CLIP = dict(width=160, height=120, duration=2)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    for i, name in enumerate(["a", "b c", "-d", "é", "f"]):
        make_clip(folder / f"{name}.mp4", tone=300 + 40 * i, **CLIP)
    make_clip(folder / "silent.mp4", acodec=None, **CLIP)
    (folder / "broken.mp4").write_bytes(b"\x00" * 4000)
    return folder


def files(out: Path) -> dict:
    return {str(p.relative_to(out)): p.read_bytes()
            for sub in ("A", "F") for p in sorted((out / sub).rglob("*")) if p.is_file()}


def array_task(videos: Path, out: Path, task: int, count: int,
               outputs: tuple = ()) -> subprocess.CompletedProcess:
    env = dict(os.environ, SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_COUNT=str(count),
               SLURM_CPUS_PER_TASK="1", AVPREP=str(AVPREP), LOGDIR=str(out / "logs"),
               AVPREP_PROGRESS="0")
    outputs = outputs or (str(out / "A"), str(out / "F"))
    return subprocess.run(["bash", str(SCRIPT), str(videos), *outputs],
                          env=env, capture_output=True, text=True, timeout=300)


def test_array_tasks_together_equal_one_run_and_their_logs_merge(videos, tmp_path):
    single = tmp_path / "single"
    code = main(["extract", str(videos), "--audio-dir", str(single / "A"), "--frame-dir",
                 str(single / "F"), "--log", str(single / "log.jsonl"), "--workers", "1"])
    assert code == 1
    out = tmp_path / "array"
    runs = [array_task(videos, out, task, 3) for task in range(3)]
    for run in runs:
        assert run.returncode in (0, 1), run.stderr
        assert "avprep extract:" in run.stderr
    assert {run.returncode for run in runs} == {0, 1}  # the two failures fall in some shards only
    assert files(out) == files(single)
    logs = sorted((out / "logs").glob("extract-shard-*-of-3.jsonl"))
    assert [p.name for p in logs] == [f"extract-shard-{i}-of-3.jsonl" for i in range(3)]
    merged = tmp_path / "all.jsonl"
    merged.write_bytes(b"".join(p.read_bytes() for p in logs))  # cat logs/*.jsonl > all.jsonl
    key = lambda r: (r["id"], r["stage"])  # noqa: E731
    assert sorted(read_failures(merged), key=key) == sorted(read_failures(single / "log.jsonl"),
                                                           key=key)


def test_the_script_refuses_to_run_outside_an_array(videos, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    run = subprocess.run(["bash", str(SCRIPT), str(videos), str(tmp_path / "A"),
                          str(tmp_path / "F")], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "array job" in run.stderr
    assert not (tmp_path / "A").exists()


def test_array_tasks_into_one_pack_equal_one_run(videos, tmp_path):
    """With --pack DIR the tasks write disjoint shards of one pack; the last one to finish
    writes the index and manifest: the same files as one ``extract --pack`` run."""
    single = tmp_path / "single"
    assert main(["extract", str(videos), "--pack", str(single), "--shard-size", "2", "--fbank",
                 "--workers", "1"]) == 1
    out = tmp_path / "array"
    runs = [array_task(videos, out, task, 3, ("--pack", str(out / "pack"), "--shard-size", "2",
                                              "--fbank")) for task in range(3)]
    for task, run in enumerate(runs):
        assert run.returncode in (0, 1), run.stderr
        assert ("pack finished:" in run.stderr) == (task == 2), run.stderr
    packed = {str(p.relative_to(out / "pack")): p.read_bytes()
              for p in sorted((out / "pack").rglob("*")) if p.is_file()}
    assert packed == {str(p.relative_to(single)): p.read_bytes()
                      for p in sorted(single.rglob("*")) if p.is_file()}
    logs = sorted((out / "logs").glob("extract-shard-*-of-3.jsonl"))
    key = lambda r: (r["id"], r["stage"])  # noqa: E731
    merged = [r for p in logs for r in read_failures(p)]
    assert sorted(merged, key=key) == sorted(
        read_failures(tmp_path / "single.extract-failures.jsonl"), key=key)
