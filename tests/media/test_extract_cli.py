"""``avprep extract`` on a folder of good, awkward and broken clips: failures, resume, options."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from avprep.cli import main
from avprep.errors import InputError
from avprep.media.log import read_failures
from avprep.media.runner import default_log_path, find_inputs, plan_clips, shard_of
from avprep.synth import make_clip

CLIP = dict(width=160, height=120, duration=2)
GOOD = ["-dashStart1", "with space, comma", "naïve ünïcode", "plain"]


def _truncate(src: Path, dst: Path, share: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * share)])
    return dst


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    make_clip(folder / "-dashStart1.mp4", **CLIP)
    make_clip(folder / "with space, comma.webm", vcodec="libvpx-vp9", acodec="libopus",
              sample_rate=48000, **CLIP)
    make_clip(folder / "sub" / "naïve ünïcode.mkv", acodec="libvorbis", channels=1, **CLIP)
    make_clip(folder / "sub" / "plain.mov", **CLIP)
    make_clip(folder / "noaudio.mp4", acodec=None, **CLIP)
    make_clip(folder / "novideo.mp4", vcodec=None, **CLIP)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "garbage.mkv").write_bytes(os.urandom(20000))
    scratch = tmp_path_factory.mktemp("scratch")
    _truncate(make_clip(scratch / "a.mp4", **CLIP), folder / "truncated_moov_at_end.mp4")
    _truncate(make_clip(scratch / "b.mp4", extra_args=("-movflags", "+faststart"), **CLIP),
              folder / "truncated_faststart.mp4")
    _truncate(make_clip(scratch / "c.webm", vcodec="libvpx-vp9", acodec="libopus",
                        sample_rate=48000, **CLIP), folder / "truncated.webm")
    (folder / "notes.txt").write_text("not a video")
    return folder


def extract(*args) -> int:
    return main(["extract", *map(str, args)])


def tree(*folders: Path) -> dict:
    """relative path -> (bytes, mtime_ns) of every file under the folders."""
    out = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                stat = path.stat()
                out[str(path.relative_to(folder.parent))] = (path.read_bytes(), stat.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def first_run(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    log = out / "log.jsonl"
    code = extract(videos, "--audio-dir", out / "A", "--frame-dir", out / "F", "--log", log,
                   "--workers", 1)
    return out, log, code


def test_failures_are_logged_and_the_rest_written(first_run):
    out, log, code = first_run
    assert code == 1
    records = read_failures(log)
    for rec in records:
        assert set(rec) == {"id", "path", "stage", "reason"} and rec["reason"]
    stages = {(r["id"], r["stage"]) for r in records}
    assert stages == {
        ("noaudio", "audio"), ("novideo", "frames"), ("empty", "open"), ("garbage", "open"),
        ("truncated_moov_at_end", "open"),
        ("truncated_faststart", "audio"), ("truncated_faststart", "frames"),
        ("truncated", "audio"), ("truncated", "frames"),
    }
    wavs = sorted(p.name for p in (out / "A").iterdir())
    assert wavs == sorted(f"{i}.wav" for i in GOOD + ["novideo"])
    for i in range(10):
        names = sorted(p.name for p in (out / "F" / f"frame_{i}").iterdir())
        assert names == sorted(f"{v}.jpg" for v in GOOD + ["noaudio"])
    assert sorted(p.name for p in (out / "F").iterdir()) == [f"frame_{i}" for i in range(10)]


def test_rerun_rewrites_nothing_and_retries_only_failures(first_run, videos):
    out, log, _ = first_run
    before = tree(out / "A", out / "F")
    code = extract(videos, "--audio-dir", out / "A", "--frame-dir", out / "F", "--log", log,
                   "--workers", 0)
    assert code == 1
    assert tree(out / "A", out / "F") == before
    assert len(read_failures(log)) == 9  # the same failures, recorded again


def test_missing_outputs_and_stale_temps_are_repaired(first_run, videos, capsys):
    out, log, _ = first_run
    before = tree(out / "A", out / "F")
    (out / "A" / "plain.wav").unlink()
    (out / "F" / "frame_7" / "plain.jpg").unlink()
    stale = [out / "A" / ".plain.avprep-tmp-99999-deadbeef.wav",
             out / "F" / "frame_3" / ".plain.avprep-tmp-99999-deadbeef.jpg"]
    for path in stale:
        path.write_bytes(b"half")
    code = extract(videos, "--audio-dir", out / "A", "--frame-dir", out / "F", "--log", log,
                   "--workers", 0)
    assert code == 1
    assert "removed 2 stale temporary files" in capsys.readouterr().err
    after = tree(out / "A", out / "F")
    assert set(after) == set(before)
    for key, (data, mtime) in after.items():
        assert data == before[key][0]
        rewritten = key in ("A/plain.wav", "F/frame_7/plain.jpg")
        assert (mtime != before[key][1]) == rewritten, key


def test_list_file_with_one_clip_and_relative_path(videos, tmp_path):
    listing = tmp_path / "list.txt"
    shutil.copy(videos / "with space, comma.webm", tmp_path / "with space, comma.webm")
    listing.write_text("\nwith space, comma.webm\n\n", encoding="utf-8")
    code = extract(listing, "--audio-dir", tmp_path / "A", "--frame-dir", tmp_path / "F",
                   "--log", tmp_path / "log.jsonl", "--workers", 0)
    assert code == 0
    assert [p.name for p in (tmp_path / "A").iterdir()] == ["with space, comma.wav"]
    assert read_failures(tmp_path / "log.jsonl") == []


def test_missing_listed_file_is_a_failure_not_a_crash(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(str(tmp_path / "nope.mp4") + "\n")
    code = extract(listing, "--audio-dir", tmp_path / "A", "--frame-dir", tmp_path / "F",
                   "--log", tmp_path / "log.jsonl", "--workers", 0)
    assert code == 1
    [record] = read_failures(tmp_path / "log.jsonl")
    assert (record["id"], record["stage"]) == ("nope", "open")


def test_default_log_goes_beside_the_audio_folder(videos, tmp_path, monkeypatch):
    """Without --log the failures go beside the audio folder, named after it (beside the frame
    folder with --only frames; one log per shard), never into the current folder."""
    here = tmp_path / "current folder"
    here.mkdir()
    monkeypatch.chdir(here)
    two = tmp_path / "two"
    two.mkdir()
    shutil.copy(videos / "-dashStart1.mp4", two)
    shutil.copy(videos / "empty.mp4", two)
    out = tmp_path / "out"
    media = ["--audio-dir", out / "audio", "--frame-dir", out / "frames", "--workers", 0]
    assert extract(two, *media) == 1
    assert [r["id"] for r in read_failures(out / "audio.extract-failures.jsonl")] == ["empty"]
    for i in range(2):
        extract(two, *media, "--shard", f"{i}/2")
    shards = [read_failures(out / f"audio.extract-failures.shard-{i}-of-2.jsonl")
              for i in range(2)]
    assert sorted(r["id"] for records in shards for r in records) == ["empty"]
    assert extract(two, "--frame-dir", out / "frames", "--only", "frames", "--workers", 0) == 1
    assert [r["id"] for r in read_failures(out / "frames.extract-failures.jsonl")] == ["empty"]
    assert list(here.iterdir()) == []
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["-dashStart1.wav"]
    assert default_log_path("rel/audio/") == here / "rel" / "audio.extract-failures.jsonl"
    with pytest.raises(InputError, match="pass --log"):
        default_log_path("/")


def test_only_audio_and_only_frames(videos, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(videos / "-dashStart1.mp4", one)
    assert extract(one, "--audio-dir", tmp_path / "A", "--only", "audio",
                   "--log", tmp_path / "l1.jsonl", "--workers", 0) == 0
    assert [p.name for p in (tmp_path / "A").iterdir()] == ["-dashStart1.wav"]
    assert not (tmp_path / "F").exists()
    assert extract(one, "--frame-dir", tmp_path / "F", "--only", "frames",
                   "--log", tmp_path / "l2.jsonl", "--workers", 0) == 0
    assert len(list((tmp_path / "F").rglob("*.jpg"))) == 10
    assert [p.name for p in (tmp_path / "A").iterdir()] == ["-dashStart1.wav"]


def test_ids_mapping_unmappable_and_duplicates(videos, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ["Y--abcdefghi_30.000_40.000.mp4", "--abcdefghi_30.mp4", "not-an-id.mp4",
                 "KlsG1EnBEjc_361.000.mp4"]:
        shutil.copy(videos / "-dashStart1.mp4", src / name)
    log = tmp_path / "log.jsonl"
    code = extract(src, "--audio-dir", tmp_path / "A", "--frame-dir", tmp_path / "F",
                   "--ids", "audioset", "--log", log, "--workers", 0)
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "A").iterdir()) == ["--abcdefghi.wav",
                                                                   "KlsG1EnBEjc.wav"]
    records = {r["path"].rsplit("/", 1)[-1]: r for r in read_failures(log)}
    assert set(records) == {"Y--abcdefghi_30.000_40.000.mp4", "not-an-id.mp4"}
    # sorted input order: "--abcdefghi_30.mp4" comes first and keeps the id
    assert "duplicate" in records["Y--abcdefghi_30.000_40.000.mp4"]["reason"]
    assert records["not-an-id.mp4"]["stage"] == "id"
    code = extract(src, "--audio-dir", tmp_path / "V", "--only", "audio", "--ids", "vggsound",
                   "--log", log, "--workers", 0)
    assert "KlsG1EnBEjc_000361.wav" in [p.name for p in (tmp_path / "V").iterdir()]


def test_shards_partition_the_inputs(videos, tmp_path):
    paths = find_inputs(videos)
    everything = {t.video_id for t in plan_clips(paths, "a", "f").tasks}
    seen = []
    for i in range(3):
        ids = {t.video_id for t in plan_clips(paths, "a", "f", shard=(i, 3)).tasks}
        assert all(shard_of(v, 3) == i for v in ids)
        seen.append(ids)
    assert set().union(*seen) == everything and sum(map(len, seen)) == len(everything)
    # and through the CLI: the union of the shards' outputs is one run's outputs
    for i in range(2):
        extract(videos, "--audio-dir", tmp_path / "A", "--only", "audio", "--shard", f"{i}/2",
                "--log", tmp_path / f"log{i}.jsonl", "--workers", 0)
    wavs = {p.stem for p in (tmp_path / "A").iterdir()}
    assert wavs == set(GOOD + ["novideo"])
    logged = [r["id"] for i in range(2) for r in read_failures(tmp_path / f"log{i}.jsonl")]
    assert sorted(logged) == sorted(["noaudio", "empty", "garbage", "truncated_moov_at_end",
                                     "truncated_faststart", "truncated"])


def test_two_workers_write_what_one_process_writes(videos, tmp_path, first_run):
    out, _, _ = first_run
    code = extract(videos, "--audio-dir", tmp_path / "A", "--frame-dir", tmp_path / "F",
                   "--log", tmp_path / "log.jsonl", "--workers", 2)
    assert code == 1
    ours = {k: v[0] for k, v in tree(tmp_path / "A", tmp_path / "F").items()}
    theirs = {k: v[0] for k, v in tree(out / "A", out / "F").items()}
    assert ours == theirs


@pytest.mark.parametrize("args, message", [
    (["{missing}", "--audio-dir", "{t}/A", "--frame-dir", "{t}/F"], "no such file"),
    (["{empty}", "--audio-dir", "{t}/A", "--frame-dir", "{t}/F"], "no video files"),
    (["{videos}", "--audio-dir", "{t}/A", "--frame-dir", "{t}/F", "--shard", "2/2"], "0 <= i < N"),
    (["{videos}", "--audio-dir", "{t}/A", "--frame-dir", "{t}/F", "--log", "{t}/A/log.jsonl"],
     "outside"),
    (["{videos}", "--audio-dir", "{t}/A"], "--frame-dir is required"),
])
def test_unusable_input_exits_2(videos, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    fill = dict(missing=tmp_path / "missing", empty=tmp_path / "empty", videos=videos, t=tmp_path)
    code = main(["extract"] + [a.format(**fill) for a in args])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "A").exists() or not any((tmp_path / "A").iterdir())


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["extract", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "example:" in text and "--clip-timeout" in text and "default: 600" in text


def test_log_is_json_lines_with_unicode(first_run):
    _, log, _ = first_run
    for line in log.read_text(encoding="utf-8").splitlines():
        assert json.loads(line)["path"].startswith("/")


def test_a_single_video_file_as_input(videos, tmp_path):
    code = extract(videos / "sub" / "plain.mov", "--audio-dir", tmp_path / "A", "--frame-dir",
                   tmp_path / "F", "--log", tmp_path / "log.jsonl", "--workers", 0)
    assert code == 0
    assert [p.name for p in (tmp_path / "A").iterdir()] == ["plain.wav"]
    frames = sorted(p.relative_to(tmp_path / "F").as_posix()
                    for p in (tmp_path / "F").rglob("*.jpg"))
    assert frames == [f"frame_{i}/plain.jpg" for i in range(10)]


def test_an_id_that_cannot_name_a_file_is_a_failure(videos, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(videos / "sub" / "plain.mov", src / "back\\slash.mov")
    shutil.copy(videos / "sub" / "plain.mov", src / "fine.mov")
    code = extract(src, "--audio-dir", tmp_path / "A", "--frame-dir", tmp_path / "F",
                   "--log", tmp_path / "log.jsonl", "--workers", 0)
    assert code == 1
    [record] = read_failures(tmp_path / "log.jsonl")
    assert record["stage"] == "id" and "path separator" in record["reason"]
    assert [p.name for p in (tmp_path / "A").iterdir()] == ["fine.wav"]


def test_a_clip_that_hangs_is_stopped_by_the_clip_timeout(videos, tmp_path):
    """A named pipe nobody writes to blocks its reader forever, like a file on a stalled network
    mount: the worker is stopped after --clip-timeout and the run goes on."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(videos / "sub" / "plain.mov", src / "plain.mov")
    os.mkfifo(src / "stuck.mp4")
    log = tmp_path / "log.jsonl"
    code = extract(src, "--audio-dir", tmp_path / "A", "--frame-dir", tmp_path / "F",
                   "--log", log, "--workers", 1, "--clip-timeout", 2)
    assert code == 1
    [record] = read_failures(log)
    assert (record["id"], record["stage"]) == ("stuck", "worker")
    assert "timed out after 2 s" in record["reason"]
    assert [p.name for p in (tmp_path / "A").iterdir()] == ["plain.wav"]
