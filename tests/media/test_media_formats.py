"""Extraction across containers, codecs, channel counts, shapes, lengths and frame rates.

Clips are made with the packaged ffmpeg. The original method, rebuilt with its own tools
(:mod:`avprep.media.reference`: OpenCV seeks for frames, ffmpeg processes for audio), is the oracle:
- frames: byte-identical JPEGs wherever OpenCV can decode the clip, variable frame rates included;
- audio: within 1 LSB over the common length, ignoring the last 100 samples of the shorter (the
  packaged ffmpeg 9 trims AAC end padding, which the original's ffmpeg and the fixtures' reference
  did not, so its resampler flushes at a slightly earlier end); avprep's length exceeds it by at
  most one AAC frame at 16 kHz (1024 * 16000 / 44100 < 372 samples).
"""

from __future__ import annotations

import io
import subprocess
import wave

import numpy as np
import pytest
from PIL import Image

from avprep.media import extract_clip
from avprep.media.audio import read_pcm16
from avprep.media.reference import reference_audio, reference_frames
from avprep.synth import ffmpeg_exe, make_clip

SMALL = dict(width=160, height=120, duration=3)
_VFR = ("-vf", "select='lt(mod(n\\,7)\\,4)'", "-fps_mode", "vfr")
_GOP50 = ("-preset", "veryfast", "-g", "50")
# name -> (file extension, make_clip arguments, OpenCV is an exact oracle for the frames)
CASES = {
    "mp4_h264_aac_stereo": ("mp4", dict(), True),
    "mkv_h264_vorbis_mono": ("mkv", dict(acodec="libvorbis", channels=1), True),
    "webm_vp9_opus": ("webm", dict(vcodec="libvpx-vp9", acodec="libopus", sample_rate=48000,
                                   channels=1), True),
    "mov_h264_aac_5.1": ("mov", dict(channels=6), True),
    # packed (interleaved) 16-bit samples, three channels
    "mkv_h264_pcm_3ch": ("mkv", dict(acodec="pcm_s16le", channels=3), True),
    "mp4_portrait": ("mp4", dict(width=120, height=160), True),
    "mp4_short_2s": ("mp4", dict(duration=2), True),
    "mp4_long_12s": ("mp4", dict(duration=12, width=96, height=64), True),
    "mp4_odd_size_29.97": ("mp4", dict(width=162, height=122, fps=29.97), True),
    # OpenCV has no AV1 decoder here; the original could not read these at all
    "mp4_av1_aac": ("mp4", dict(vcodec="libsvtav1"), False),
    # the AVI muxer leaves a timestamp gap (one skipped frame) that OpenCV's seek numbering
    # counts as a frame, so later OpenCV frames sit one decoded frame earlier
    "avi_mpeg4_mp3": ("avi", dict(vcodec="mpeg4", acodec="libmp3lame"), True),
    # variable frame rate: frames dropped in an irregular pattern, timestamps kept
    "mp4_vfr": ("mp4", dict(extra_args=_VFR), True),
    # the same with B-frames and a keyframe every 2 s (seeks land on later keyframes)
    "mp4_vfr_gop50": ("mp4", dict(duration=8, extra_args=_GOP50 + _VFR), True),
    "mkv_vfr_gop50": ("mkv", dict(duration=8, extra_args=_GOP50 + _VFR), True),
    "mp4_jitter_gop25": ("mp4", dict(duration=6, extra_args=(
        "-g", "25", "-bf", "2", "-vf", "setpts='PTS+0.4*random(0)/TB/25'", "-fps_mode", "vfr")),
        True),
}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    src = tmp_path_factory.mktemp("clips")
    out = tmp_path_factory.mktemp("out")
    clips, results = {}, {}
    for name, (ext, kwargs, _exact) in CASES.items():
        args = dict(SMALL)
        args.update(kwargs)
        clips[name] = make_clip(src / f"{name}.{ext}", **args)
        results[name] = extract_clip(clips[name], out / "audio", out / "frames")
    return clips, results, out


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_are_valid(made, name):
    clips, results, out = made
    assert results[name].ok and results[name].audio == results[name].frames == "written"
    with wave.open(str(out / "audio" / f"{name}.wav")) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        duration = CASES[name][1].get("duration", SMALL["duration"])
        assert abs(wav.getnframes() - duration * 16000) < 0.1 * 16000
    jpegs = [(out / "frames" / f"frame_{i}" / f"{name}.jpg").read_bytes() for i in range(10)]
    for data in jpegs:
        image = Image.open(io.BytesIO(data))
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (224, 224))
    # the test pattern moves: the frames of a clip are different pictures, but for the slots
    # past the end of the video, which repeat the last earlier frame
    assert len(set(jpegs)) == 10 - results[name].filled_frames


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c[2]))
def test_frames_match_the_original_method(made, name):
    clips, results, out = made
    expected = reference_frames(clips[name])
    assert expected[0] is not None
    assert results[name].filled_frames == expected.count(None)
    last = None
    for i, data in enumerate(expected):
        # where OpenCV gave no frame the original wrote none and its loader read the next lower
        # frame: avprep writes that frame there
        last = data if data is not None else last
        assert (out / "frames" / f"frame_{i}" / f"{name}.jpg").read_bytes() == last, f"frame {i}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_audio_matches_the_original_method(made, name):
    clips, _, out = made
    ours = read_pcm16(out / "audio" / f"{name}.wav")[0][0].astype(np.int32)
    theirs = reference_audio(clips[name]).astype(np.int32)
    assert 0 <= len(ours) - len(theirs) < 372
    n = min(len(ours), len(theirs)) - 100
    assert np.abs(ours[:n] - theirs[:n]).max() <= 1


def test_multichannel_keeps_channel_0_not_a_downmix(made):
    clips, _, out = made
    ours = read_pcm16(out / "audio" / "mov_h264_aac_5.1.wav")[0][0].astype(np.float64)
    downmix = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(clips["mov_h264_aac_5.1"]), "-vn", "-ar", "16000",
         "-ac", "1", "-f", "s16le", "-"], check=True, capture_output=True).stdout
    downmix = np.frombuffer(downmix, dtype="<i2").astype(np.float64)
    n = min(len(ours), len(downmix)) - 100
    assert np.abs(ours[:n] - downmix[:n]).mean() > 500


def test_display_rotation_is_applied_as_opencv_does(tmp_path):
    base = make_clip(tmp_path / "base.mp4", **SMALL)
    rotated = tmp_path / "rotated.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-display_rotation", "90", "-i", str(base),
                    "-c", "copy", str(rotated)], check=True)
    extract_clip(base, None, tmp_path / "f")
    extract_clip(rotated, None, tmp_path / "f")
    expected = reference_frames(rotated)
    for i in range(10):
        ours = (tmp_path / "f" / f"frame_{i}" / "rotated.jpg").read_bytes()
        assert ours == expected[i]
        assert ours != (tmp_path / "f" / f"frame_{i}" / "base.jpg").read_bytes()


def test_video_shorter_than_its_schedule_repeats_the_last_frame(tmp_path):
    """A container whose duration promises more frames than the video holds (audio runs longer
    than the video): the original wrote no file past the end and its loader read the next lower
    frame; avprep writes that frame in the missing slots."""
    clip = make_clip(tmp_path / "short_video.mkv", width=160, height=120, duration=4,
                     extra_args=("-t", "4"))
    video_only = tmp_path / "v.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-an", "-t", "1.5",
                    "-c", "copy", str(video_only)], check=True)
    mixed = tmp_path / "mixed.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(video_only), "-i", str(clip),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(mixed)], check=True)
    result = extract_clip(mixed, tmp_path / "a", tmp_path / "f")
    assert result.ok and result.filled_frames > 0
    expected = reference_frames(mixed)
    assert expected.count(None) == result.filled_frames
    last = None
    for i in range(10):
        ours = (tmp_path / "f" / f"frame_{i}" / "mixed.jpg").read_bytes()
        if expected[i] is not None:
            assert ours == expected[i]
            last = ours
        else:
            assert ours == last
