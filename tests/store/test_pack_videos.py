"""``avprep extract --pack``: videos straight into a pack, equal column for column (and byte for
byte) to ``avprep pack`` of an extraction of the same videos; failures logged as extraction logs
them; resumable after SIGKILL; ``--shard i/N``; ``pack --verify``; ``unpack`` back to the files
``avprep extract`` writes; ``build-list --pack`` and the Dataset reading the list it writes.

The videos: the three real fixture clips, four clips made with ffmpeg (stereo 44.1 kHz, a 1 s
clip, portrait, VP9/Opus), one without an audio stream and one that is not a video at all; packed
two entries per shard.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import torch

from avprep.cli import main
from avprep.data import AVConfig, AVDataset
from avprep.errors import InputError, MediaError
from avprep.media.log import read_failures
from avprep.media.runner import find_inputs, run_extract
from avprep.store import open_store, pack, read_manifest, verify_store
from avprep.store.from_videos import pack_videos
from avprep.store.unpack import unpack
from avprep.synth import make_clip
from helpers import CLIPS, ROOT, SAMPLES

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
SIZE = 2

# runs only the extract command (the full CLI also loads every other command's modules)
RUNNER = """
import argparse, sys
from avprep.cli import extract
parser = argparse.ArgumentParser(prog="avprep")
extract.register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""


def files(folder: Path) -> dict:
    """relative path -> bytes of every file under ``folder`` (hidden ones included)."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def table(path: Path) -> pa.Table:
    with pa.memory_map(str(path), "r") as source:
        return pa.ipc.open_file(source).read_all()


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    for vid, path in CLIPS.items():
        shutil.copyfile(path, folder / path.name)
    make_clip(folder / "made_stereo.mp4", duration=3, width=320, height=240, tone=330)
    make_clip(folder / "made_short.mp4", duration=1, width=176, height=144, tone=500)
    make_clip(folder / "made_portrait.mp4", duration=2, width=180, height=320, tone=620,
              sample_rate=48000, channels=1)
    make_clip(folder / "made_vp9.webm", duration=2, vcodec="libvpx-vp9", acodec="libopus",
              sample_rate=48000, tone=700)
    make_clip(folder / "no_audio.mp4", duration=2, acodec=None)
    (folder / "not_a_video.mp4").write_bytes(os.urandom(3000))
    return folder


@pytest.fixture(scope="module")
def loose(videos, tmp_path_factory):
    """``avprep extract`` of the videos, and ``avprep pack`` of a list of every input in order."""
    root = tmp_path_factory.mktemp("loose")
    summary = run_extract(videos, root / "A", root / "F", log_path=root / "log.jsonl",
                          workers=0, show_progress=False)
    assert summary.written == 7 and summary.failed == 2
    entries = [{"video_id": Path(p).stem, "wav": str(root / "A" / f"{Path(p).stem}.wav"),
                "video_path": str(root / "F"), "labels": ""} for p in find_inputs(videos)]
    (root / "list.json").write_text(json.dumps({"data": entries}))
    pack(root / "list.json", root / "pack", shard_size=SIZE, fbank="float32")
    return root


@pytest.fixture(scope="module")
def direct(videos, tmp_path_factory):
    """``avprep extract --pack`` of the same videos."""
    out = tmp_path_factory.mktemp("direct") / "pack"
    code = main(["extract", str(videos), "--pack", str(out), "--fbank", "--shard-size",
                 str(SIZE), "--workers", "1"])
    return code, out


def test_pack_from_videos_equals_pack_of_extraction(loose, direct):
    code, out = direct
    assert code == 1  # two videos failed
    ours, theirs = read_manifest(out), read_manifest(loose / "pack")
    assert ours.rows == theirs.rows == 7 and ours.entries == theirs.entries == 9
    assert len(ours.shards) == 5
    for mine, other in zip(ours.shards, theirs.shards):
        a, b = table(out / mine.name), table(loose / "pack" / other.name)
        assert a.schema.equals(b.schema)
        assert a.num_rows == b.num_rows
        for name in a.column_names:
            assert a.column(name).equals(b.column(name)), (mine.name, name)
        assert mine.sha256 == other.sha256  # the same file, byte for byte
    assert table(out / "index.arrow").equals(table(loose / "pack" / "index.arrow"))
    assert [f.video_id for f in ours.failures] == [f.video_id for f in theirs.failures] == [
        "no_audio", "not_a_video"]
    assert ours.incomplete == [] and ours.fbank == "float32"


def test_failures_are_logged_as_extraction_logs_them(loose, direct):
    _, out = direct
    log = read_failures(out.parent / "pack.extract-failures.jsonl")
    assert sorted(log, key=str) == sorted(read_failures(loose / "log.jsonl"), key=str)
    assert {(r["id"], r["stage"]) for r in log} == {("no_audio", "audio"),
                                                    ("not_a_video", "open")}
    failures = {f.video_id: f.reason for f in read_manifest(out).failures}
    assert failures["no_audio"] == "audio: no audio stream"
    assert failures["not_a_video"].startswith("open: cannot open")


def test_verify_passes_and_names_a_damaged_shard(direct, tmp_path):
    _, out = direct
    assert verify_store(out).ok
    assert main(["pack", "--verify", str(out)]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shard = copy / "shard-00001.arrow"
    blob = bytearray(shard.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    shard.write_bytes(bytes(blob))
    report = verify_store(copy)
    assert not report.ok and "shard-00001.arrow" in report.problems[0]


def test_unpack_gives_the_files_extract_writes(loose, direct, tmp_path):
    _, out = direct
    assert main(["unpack", str(out), "--audio-dir", str(tmp_path / "A"), "--frame-dir",
                 str(tmp_path / "F")]) == 0
    assert files(tmp_path / "A") == files(loose / "A")
    # extraction also wrote the frames of the clip without audio, which a pack leaves out
    frames = {name: blob for name, blob in files(loose / "F").items()
              if not name.endswith("/no_audio.jpg")}
    assert files(tmp_path / "F") == frames and len(frames) == 7 * 10
    # a second run keeps what is complete and writes what is missing
    gone = tmp_path / "F" / "frame_3" / "made_short.jpg"
    gone.unlink()
    result = unpack(out, tmp_path / "A", tmp_path / "F")
    assert (result.written, result.skipped) == (1, 6)
    assert files(tmp_path / "F") == frames


def test_shards_of_n_runs_make_the_same_pack(videos, direct, tmp_path):
    _, out = direct
    mine = tmp_path / "pack"
    first = pack_videos(videos, mine, shard=(1, 2), shard_size=SIZE, fbank="float32")
    assert first.manifest is None and not (mine / "manifest.json").exists()
    assert (first.written, first.finished, first.shards) == (2, 2, 5)
    assert sorted(p.name for p in mine.glob("shard-*")) == ["shard-00001.arrow",
                                                            "shard-00003.arrow"]
    second = pack_videos(videos, mine, shard=(0, 2), shard_size=SIZE, fbank="float32")
    assert second.manifest is not None and second.written == 3
    assert files(mine) == files(out)
    logs = [read_failures(tmp_path / f"pack.extract-failures.shard-{i}-of-2.jsonl")
            for i in (0, 1)]
    whole = read_failures(out.parent / "pack.extract-failures.jsonl")
    assert sorted(logs[0] + logs[1], key=str) == sorted(whole, key=str)
    # shard 0 of 2 run again: its shards are kept, the pack is finished again, the same
    again = pack_videos(videos, mine, shard=(0, 2), shard_size=SIZE, fbank="float32")
    assert (again.written, again.reused) == (0, 3) and files(mine) == files(out)


def test_another_input_or_other_options_are_refused(videos, direct, tmp_path):
    _, out = direct
    with pytest.raises(InputError, match="shard_size differ"):
        pack_videos(videos, out, shard_size=3, fbank="float32")
    with pytest.raises(InputError, match="fbank differ"):
        pack_videos(videos, out, shard_size=SIZE)
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    for name in ("made_stereo.mp4", "made_short.mp4"):
        shutil.copyfile(videos / name, fewer / name)
    with pytest.raises(InputError, match="source_sha256"):
        pack_videos(fewer, out, shard_size=SIZE, fbank="float32")
    assert main(["extract", str(fewer), "--pack", str(out), "--fbank", "--shard-size",
                 str(SIZE)]) == 2


def test_cli_refuses_mixed_layouts(videos, tmp_path, capsys):
    assert main(["extract", str(videos), "--pack", str(tmp_path / "p"), "--audio-dir",
                 str(tmp_path / "A")]) == 2
    assert main(["extract", str(videos), "--audio-dir", str(tmp_path / "A"), "--frame-dir",
                 str(tmp_path / "F"), "--fbank"]) == 2
    assert "need --pack" in capsys.readouterr().err
    assert not (tmp_path / "p").exists() and not (tmp_path / "A").exists()


def test_killed_anywhere_then_resumed_equals_one_run(videos, direct, tmp_path):
    _, reference = direct
    out = tmp_path / "pack"
    args = [sys.executable, "-c", RUNNER, "extract", str(videos), "--pack", str(out), "--fbank",
            "--shard-size", str(SIZE), "--workers", "1"]
    env = dict(os.environ, AVPREP_PROGRESS="0")

    def records() -> int:
        return len(list((out / ".parts").glob("shard-*.json"))) if out.exists() else 0

    rng = random.Random(5)
    kills, kept = 0, {}
    for _attempt in range(6):
        seen = records()
        proc = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and records() <= seen and time.monotonic() < deadline:
            time.sleep(0.002)
        # right after a shard's record, inside the next shard's decoding or writing
        time.sleep(rng.choice([0, 0.005, rng.uniform(0, 0.3)]))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        if not kept:
            kept = {p.name: p.stat() for p in out.glob("shard-*.arrow")
                    if (out / ".parts" / f"{p.stem}.json").exists()}
        if proc.returncode is not None and proc.returncode >= 0:
            break
    assert kills >= 1 and kept
    assert not (out / "manifest.json").exists() or proc.returncode >= 0
    final = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 1, final.stderr
    assert files(out) == files(reference)
    for name, st in kept.items():  # shards finished before a kill were never written again
        now = (out / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert main(["pack", "--verify", str(out)]) == 0


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """A released list: the fixture clips and two made here with labels, one id not extracted."""
    folder = tmp_path_factory.mktemp("released")
    sample = json.loads((SAMPLES / "sample_json_as.json").read_text())["data"]
    labels = {e["video_id"]: e["labels"] for e in sample}
    entries = [{"video_id": vid, "wav": f"/authors/{vid}.wav", "video_path": "/authors/frames",
                "labels": labels.get(vid, "/m/09x0r")}
               for vid in ["made_stereo", "00W1lcxW-WU_40.000", "never_downloaded",
                           "KlsG1EnBEjc_000361", "no_audio", "made_vp9",
                           "Vp9OpusClip_20.000"]]
    path = folder / "released.json"
    path.write_text(json.dumps({"data": entries}))
    return path


def test_build_list_from_a_pack_and_the_dataset_reading_it(loose, direct, released, tmp_path):
    _, out = direct
    from_pack, from_files = tmp_path / "pack_list.json", tmp_path / "loose_list.json"
    assert main(["build-list", "--released", str(released), "--pack", str(out), "-o",
                 str(from_pack), "--labels", str(LABEL_CSV), "--weights-out",
                 str(tmp_path / "pw.csv")]) == 0
    assert main(["build-list", "--released", str(released), "--audio-dir", str(loose / "A"),
                 "--frame-dir", str(loose / "F"), "-o", str(from_files), "--labels",
                 str(LABEL_CSV), "--weights-out", str(tmp_path / "lw.csv")]) == 0
    kept = json.loads(from_pack.read_text())["data"]
    assert [e["video_id"] for e in kept] == [e["video_id"] for e in
                                             json.loads(from_files.read_text())["data"]] == [
        "made_stereo", "00W1lcxW-WU_40.000", "KlsG1EnBEjc_000361", "made_vp9",
        "Vp9OpusClip_20.000"]
    folder = os.path.abspath(out)
    assert all(e["video_path"] == f"pack://{folder}" and
               e["wav"] == f"pack://{folder}#{e['video_id']}" for e in kept)
    assert (tmp_path / "pw.csv").read_bytes() == (tmp_path / "lw.csv").read_bytes()

    config = AVConfig(mode="eval", freqm=0, timem=0, mixup=0.0)
    packed = AVDataset(from_pack, LABEL_CSV, config)
    files_ = AVDataset(from_files, LABEL_CSV, config)
    assert type(packed.source.clip(0)).__name__ == "PackClip"
    for i in range(len(files_)):
        a, b = packed[i], files_[i]
        assert a.video_id == b.video_id
        assert torch.equal(a.fbank, b.fbank) and torch.equal(a.image, b.image)
        assert torch.equal(a.label, b.label) and a.label.sum() > 0
    # with waveforms (no stored fbank used) and in DataLoader workers
    waves = AVDataset(from_pack, LABEL_CSV, AVConfig(mode="eval", batch_fbank=True))
    plain = AVDataset(from_files, LABEL_CSV, AVConfig(mode="eval", batch_fbank=True))
    assert torch.equal(waves[3].waveform, plain[3].waveform)
    loader = torch.utils.data.DataLoader(packed, batch_size=2, num_workers=2,
                                         multiprocessing_context="fork")
    got = torch.cat([batch.fbank for batch in loader])
    assert torch.equal(got, torch.stack([files_[i].fbank for i in range(len(files_))]))
    # the normalization statistics of the list read the pack too
    from avprep.data.stats import dataset_stats
    stats = dataset_stats(from_pack, batch_size=2)
    assert stats == dataset_stats(from_files, batch_size=2) and stats.clips == 5


def test_a_list_entry_the_pack_lacks_reads_as_missing(direct, tmp_path):
    _, out = direct
    folder = os.path.abspath(out)
    entries = [{"video_id": vid, "wav": f"pack://{folder}#{vid}",
                "video_path": f"pack://{folder}", "labels": "/m/09x0r"}
               for vid in ("made_short", "no_audio")]
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"data": entries}))
    strict = AVDataset(path, LABEL_CSV, AVConfig(mode="eval", strict=True))
    assert strict[0].video_id == "made_short"
    with pytest.raises(MediaError, match="no_audio"):
        strict[1]
    lenient = AVDataset(path, LABEL_CSV, AVConfig(mode="eval", strict=False))
    lenient[1]
    assert lenient.substitutions["audio_missing"] == 1
    assert lenient.substitutions["image_missing"] == 1
    entries[0]["wav"] = f"pack://{folder}#other"
    path.write_text(json.dumps({"data": entries}))
    with pytest.raises(InputError, match="does not point at entry"):
        AVDataset(path, LABEL_CSV)


def test_other_frame_sizes_are_recorded_and_other_counts_refused(videos, tmp_path):
    """--frame-size/--no-crop: the pack equals ``avprep pack`` of an extraction made so, records
    the spec as that pack does, and unpacks to the same files, the record included."""
    from avprep.framespec import FrameSpec, frame_spec_of

    few = tmp_path / "few"
    few.mkdir()
    for name in ("made_portrait.mp4", "made_stereo.mp4"):
        shutil.copyfile(videos / name, few / name)
    spec = FrameSpec(size=128, crop=False)
    loose = tmp_path / "loose"
    assert run_extract(few, loose / "A", loose / "F", workers=0, frame_spec=spec,
                       show_progress=False).written == 2
    entries = [{"video_id": Path(p).stem, "wav": str(loose / "A" / f"{Path(p).stem}.wav"),
                "video_path": str(loose / "F"), "labels": ""} for p in find_inputs(few)]
    (tmp_path / "list.json").write_text(json.dumps({"data": entries}))
    pack(tmp_path / "list.json", tmp_path / "from_list", shard_size=SIZE)
    assert main(["extract", str(few), "--pack", str(tmp_path / "direct"), "--shard-size",
                 str(SIZE), "--frame-size", "128", "--no-crop"]) == 0
    direct = tmp_path / "direct"
    assert frame_spec_of(direct) == spec == frame_spec_of(tmp_path / "from_list")
    assert read_manifest(direct).shards[0].sha256 == \
        read_manifest(tmp_path / "from_list").shards[0].sha256
    unpack(direct, tmp_path / "A", tmp_path / "F")
    assert files(tmp_path / "F") == files(loose / "F") and files(tmp_path / "A") == \
        files(loose / "A")
    assert main(["extract", str(few), "--pack", str(tmp_path / "p16"), "--frames", "16"]) == 2
    assert not (tmp_path / "p16").exists()
