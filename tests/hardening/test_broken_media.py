"""A corpus of broken and extreme media, made here with the packaged ffmpeg, through ``avprep
extract``: every clip is either extracted completely or recorded in the log with a reason and leaves
nothing behind; a hung decode is ended by ``--clip-timeout``; a worker's memory stays bounded.

The corpus (4 s sources at 160x120 unless said):
truncated mp4 (moov first) at 10/50/90 %, truncated mkv at 10/50/90 %, truncated mp4 with the moov
at the end (90 %), zero bytes, 50 kB of random bytes named .mp4, an mkv named .mp4 and a webm named
.avi (wrong extensions), audio only, video only, zero duration (headers, no packets), a single
frame, a one-hour clip at 32x32 and 1 fps, one 8K frame (7680x4320), an mp4 and an mkv with 4 kB
overwritten in the middle (corrupt packets), and a named pipe nobody writes to (a hung read).
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from PIL import Image

from avprep.cli import main
from avprep.layout import N_FRAMES, SAMPLE_RATE
from avprep.media import read_failures
from avprep.synth import make_clip
from helpers.tools import ffmpeg, overwrite, temporaries

HOUR = 3600
CLIP_TIMEOUT = 5  # seconds, for the hung read; the default is 600 (see extract --help)

#: outcome every clip must have: "ok" both outputs, "audio"/"frames" only that one, "failed" none
EXPECTED = {
    "trunc_mp4_10": "failed", "trunc_mp4_50": "failed", "trunc_mp4_90": "ok",
    "trunc_mkv_10": "failed", "trunc_mkv_50": "failed", "trunc_mkv_90": "ok",
    "trunc_moov_end_90": "failed", "zero_bytes": "failed", "random_bytes": "failed",
    "mkv_named_mp4": "ok", "webm_named_avi": "ok", "audio_only": "audio", "video_only": "frames",
    "zero_duration": "failed", "single_frame": "ok", "one_hour_32px": "ok", "frame_8k": "ok",
    "corrupt_middle_mp4": "ok", "corrupt_middle_mkv": "failed", "hung_pipe": "failed",
}


def make_corpus(folder: Path, sources: Path) -> None:
    """Write every clip of :data:`EXPECTED` into ``folder`` (about 3 s on 2 cores)."""
    folder.mkdir(parents=True)
    small = dict(width=160, height=120, fps=10)
    moov_first = make_clip(sources / "a.mp4", duration=4, extra_args=["-movflags", "+faststart"],
                           **small).read_bytes()
    mkv = make_clip(sources / "b.mkv", duration=4, tone=500, **small).read_bytes()
    moov_end = make_clip(sources / "c.mp4", duration=4, tone=600, **small).read_bytes()
    for share in (10, 50, 90):
        (folder / f"trunc_mp4_{share}.mp4").write_bytes(moov_first[:len(moov_first) * share // 100])
        (folder / f"trunc_mkv_{share}.mkv").write_bytes(mkv[:len(mkv) * share // 100])
    (folder / "trunc_moov_end_90.mp4").write_bytes(moov_end[:len(moov_end) * 9 // 10])
    (folder / "zero_bytes.mp4").write_bytes(b"")
    (folder / "random_bytes.mp4").write_bytes(random.Random(1).randbytes(50000))
    (folder / "mkv_named_mp4.mp4").write_bytes(mkv)
    make_clip(sources / "d.webm", duration=2, vcodec="libvpx-vp9", acodec="libopus",
              sample_rate=48000, **small).rename(folder / "webm_named_avi.avi")
    make_clip(folder / "audio_only.mp4", duration=2, vcodec=None)
    make_clip(folder / "video_only.mp4", duration=2, acodec=None, **small)
    make_clip(folder / "zero_duration.mp4", duration=1, extra_args=["-t", "0"], **small)
    make_clip(folder / "single_frame.mp4", duration=0.1, extra_args=["-frames:v", "1"], **small)
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=32x32:rate=1:duration={HOUR}",
           "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", str(HOUR),
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "16k",
           str(folder / "one_hour_32px.mp4"))
    make_clip(folder / "frame_8k.mp4", duration=0.1, width=7680, height=4320, fps=10,
              extra_args=["-frames:v", "1"])
    (folder / "corrupt_middle_mp4.mp4").write_bytes(moov_end)
    overwrite(folder / "corrupt_middle_mp4.mp4", 0.5, 4096, seed=7)
    (folder / "corrupt_middle_mkv.mkv").write_bytes(mkv)
    overwrite(folder / "corrupt_middle_mkv.mkv", 0.5, 4096, seed=7)
    os.mkfifo(folder / "hung_pipe.mp4")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The corpus and one ``avprep extract`` run over it with 2 workers."""
    root = tmp_path_factory.mktemp("broken")
    make_corpus(root / "videos", root / "sources")
    audio, frames, log = root / "A", root / "F", root / "log.jsonl"
    code = main(["extract", str(root / "videos"), "--audio-dir", str(audio), "--frame-dir",
                 str(frames), "--log", str(log), "--workers", "2",
                 "--clip-timeout", str(CLIP_TIMEOUT)])
    return {"root": root, "code": code, "audio": audio, "frames": frames,
            "log": read_failures(log)}


def outcome(audio: Path, frames: Path, video_id: str) -> str:
    has_wav = (audio / f"{video_id}.wav").is_file()
    n_frames = sum((frames / f"frame_{i}" / f"{video_id}.jpg").is_file() for i in range(N_FRAMES))
    assert n_frames in (0, N_FRAMES), f"{video_id}: a partial frame set ({n_frames})"
    return {(True, True): "ok", (True, False): "audio", (False, True): "frames",
            (False, False): "failed"}[(has_wav, n_frames == N_FRAMES)]


def test_every_clip_is_extracted_or_recorded_with_a_reason(extracted):
    assert extracted["code"] == 1  # some clips failed, the rest were written
    got = {vid: outcome(extracted["audio"], extracted["frames"], vid) for vid in EXPECTED}
    assert got == EXPECTED
    recorded = {}
    for record in extracted["log"]:
        assert set(record) == {"id", "path", "stage", "reason"} and record["reason"].strip()
        recorded.setdefault(record["id"], set()).add(record["stage"])
    for vid, state in EXPECTED.items():
        if state == "ok":
            assert vid not in recorded, vid
        elif state == "failed":
            assert recorded.get(vid), f"{vid} failed without a log record"
        else:  # one output missing: that stage, and only it, is recorded
            assert recorded.get(vid) == {"frames" if state == "audio" else "audio"}, vid
    reasons = {r["id"]: r["reason"] for r in extracted["log"]}
    assert "no video stream" in reasons["audio_only"]
    assert "no audio stream" in reasons["video_only"]
    assert "timed out after 5 s" in reasons["hung_pipe"]
    assert "truncated" in reasons["trunc_mkv_50"]
    assert not temporaries(extracted["audio"], extracted["frames"])


def test_extracted_outputs_are_whole(extracted):
    """Every wav is 16 kHz mono 16-bit, every frame a 224x224 JPEG that decodes to the end."""
    lengths = {}
    for vid, state in EXPECTED.items():
        if state in ("ok", "audio"):
            with wave.open(str(extracted["audio"] / f"{vid}.wav")) as w:
                assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == \
                    (SAMPLE_RATE, 1, 2)
                lengths[vid] = w.getnframes()
                assert len(w.readframes(w.getnframes())) == 2 * w.getnframes()
        if state in ("ok", "frames"):
            for i in range(N_FRAMES):
                data = (extracted["frames"] / f"frame_{i}" / f"{vid}.jpg").read_bytes()
                assert data.endswith(b"\xff\xd9")
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                    assert image.size == (224, 224)
    assert abs(lengths["one_hour_32px"] - HOUR * SAMPLE_RATE) <= SAMPLE_RATE
    # a single frame fills all ten slots (the image the original loader would read)
    jpegs = {(extracted["frames"] / f"frame_{i}" / "single_frame.jpg").read_bytes()
             for i in range(N_FRAMES)}
    assert len(jpegs) == 1


def test_rerun_retries_only_what_failed_and_rewrites_nothing(extracted):
    audio, frames = extracted["audio"], extracted["frames"]
    before = {p: p.stat().st_mtime_ns for p in [*audio.rglob("*"), *frames.rglob("*")]}
    log = extracted["root"] / "log2.jsonl"
    code = main(["extract", str(extracted["root"] / "videos"), "--audio-dir", str(audio),
                 "--frame-dir", str(frames), "--log", str(log), "--workers", "2",
                 "--clip-timeout", str(CLIP_TIMEOUT)])
    assert code == 1
    assert {p: p.stat().st_mtime_ns for p in [*audio.rglob("*"), *frames.rglob("*")]} == before
    assert {r["id"] for r in read_failures(log)} == {r["id"] for r in extracted["log"]}


WORKER = """
import sys
from avprep.media.clip import extract_clip

def peak_kib():
    # VmHWM: this process's peak resident memory (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))

before = peak_kib()
if sys.argv[1] != "-":
    extract_clip(sys.argv[1], sys.argv[2], sys.argv[3])
print(before, peak_kib())
"""


def peak_rss_mib(clip: str, out: Path) -> tuple:
    """(MiB after imports, peak MiB) of a process that extracts ``clip`` as a worker does."""
    res = subprocess.run([sys.executable, "-c", WORKER, clip, str(out / "A"), str(out / "F")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    before, peak = (int(v) / 1024 for v in res.stdout.split())
    return before, peak


def test_memory_per_worker_is_bounded(extracted, tmp_path):
    """Peak resident memory (VmHWM) of a process doing one worker's job. Measured on a 2-core
    Linux machine: 70 MiB after imports, 101 MiB for a 10 s 320x240 clip, 412 MiB for one 8K
    frame and 427 MiB for the one-hour clip (its 16 kHz audio is held in memory until the wav is
    written, about 115 MB of int16 plus the resampler's float buffers: memory grows with the
    audio's duration)."""
    videos = extracted["root"] / "videos"
    ten = make_clip(tmp_path / "ten_seconds.mp4", duration=10)
    base, _ = peak_rss_mib("-", tmp_path)
    _, normal = peak_rss_mib(str(ten), tmp_path / "n")
    _, huge_frame = peak_rss_mib(str(videos / "frame_8k.mp4"), tmp_path / "k")
    _, hour = peak_rss_mib(str(videos / "one_hour_32px.mp4"), tmp_path / "h")
    print(f"worker peak RSS: idle {base:.0f} MiB, 10 s clip {normal:.0f} MiB, "
          f"8K frame {huge_frame:.0f} MiB, 1 h clip {hour:.0f} MiB")
    assert normal < base + 150
    assert huge_frame < 800 and hour < 1024


def test_clip_timeout_default_is_stated(capsys):
    with pytest.raises(SystemExit):
        main(["extract", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--clip-timeout S" in text and "(default: 600;" in text
