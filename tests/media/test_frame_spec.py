"""``extract --frames/--frame-size/--no-crop/--keep-clip`` on clips whose frames show their number.

Each synthesized frame carries its decoded frame number n in its brightness: the top half encodes
n // 16, the bottom half n % 16 (luma 22 + 13 * nibble, lossless H.264), so a written JPEG says
which decoded frame it is. The default settings must still write the original's bytes (ref/).
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from avprep.cli import main
from avprep.complete import scan_media
from avprep.errors import FormatError, InputError
from avprep.framespec import (DEFAULT_SPEC, SPEC_NAME, FrameSpec, claim_frame_spec,
                              frame_spec_of, write_frame_spec)
from avprep.layout import missing_frames
from avprep.media import extract_clip
from avprep.media.geometry import fit
from avprep.synth import make_clip
from helpers import CLIPS, REF
from helpers.media import FPS, HEIGHT, SECONDS, WIDTH, numbered_clip, shown_number

def extract(*args) -> int:
    return main(["extract", *map(str, args)])


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("numbered")
    numbered_clip(folder / "landscape.mp4")
    return folder


@pytest.fixture(scope="module")
def portrait(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("portrait")
    numbered_clip(folder / "portrait.mp4", width=240, height=320, seconds=2)
    return folder


def test_the_synthesized_frames_show_their_number(videos):
    with av.open(str(videos / "landscape.mp4")) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n in (0, 1, 17, 199, 239):
                path = videos / f"decoded_{n}.png"
                frame.to_image().save(path)
                assert shown_number(path) == n
                path.unlink()
    assert n == FPS * SECONDS - 1


@pytest.mark.parametrize("count", [16, 10, 7])
def test_frame_i_is_decoded_frame_int_i_total_over_n_minus_one(videos, tmp_path, count):
    frames = tmp_path / "frames"
    assert extract(videos, "--only", "frames", "--frame-dir", frames, "--frames", count,
                   "--workers", 0) == 0
    total = FPS * 10  # the first 10 s: min(frame count 240, int(fps * 10))
    shown = [shown_number(frames / f"frame_{i}" / "landscape.jpg") for i in range(count)]
    assert shown == [max(int(i * total / count) - 1, 0) for i in range(count)]
    assert not (frames / f"frame_{count}").exists()
    assert frame_spec_of(frames) == FrameSpec(count=count)
    assert (frames / SPEC_NAME).exists() == (count != 10)  # the default records nothing
    for i in range(count):
        assert Image.open(frames / f"frame_{i}" / "landscape.jpg").size == (224, 224)


@pytest.mark.parametrize("crop", [True, False])
def test_frame_size_and_no_crop(videos, portrait, tmp_path, crop):
    size = 112
    for folder, (w, h) in ((videos, (WIDTH, HEIGHT)), (portrait, (240, 320))):
        frames = tmp_path / folder.name
        flags = ["--no-crop"] if not crop else []
        assert extract(folder, "--only", "frames", "--frame-dir", frames, "--frames", 4,
                       "--frame-size", size, *flags, "--workers", 0) == 0
        short, long = min(w, h), max(w, h)
        kept_long = size if crop else int(size * long / short)
        expect = (kept_long, size) if w > h else (size, kept_long)
        vid = next(folder.glob("*.mp4")).stem
        for i in range(4):
            assert Image.open(frames / f"frame_{i}" / f"{vid}.jpg").size == expect
        assert json.loads((frames / SPEC_NAME).read_text())["crop"] is crop
        assert frame_spec_of(frames) == FrameSpec(count=4, size=size, crop=crop)
    # the uncropped frames still show the numbers the schedule picks
    frames = tmp_path / videos.name
    assert [shown_number(frames / f"frame_{i}" / "landscape.jpg") for i in range(4)] == \
        [max(int(i * 200 / 4) - 1, 0) for i in range(4)]


def test_geometry_is_shared_by_extraction_and_loader():
    from avprep.data import image as loader_image
    from avprep.media import frames as extract_frames

    assert loader_image.resized_size is extract_frames.resized_size
    assert fit(320, 240, 112, crop=False) == ((149, 112), None)
    assert fit(240, 320, 112).out_size == (112, 112)
    assert fit(320, 240, 224).box == (37, 0, 261, 224)
    # the loader cuts an uncropped frame as torchvision's Resize + CenterCrop would
    img = Image.new("RGB", (149, 112), (10, 200, 30))
    assert loader_image.resize_and_crop(img, 224).size == (224, 224)
    assert extract_frames.EXTRACT_FILTER != loader_image.LOADER_FILTER


def test_explicit_default_settings_write_the_reference_bytes(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for vid, path in CLIPS.items():
        (folder / path.name).symlink_to(path)
    frames = tmp_path / "frames"
    assert extract(folder, "--only", "frames", "--frame-dir", frames, "--frames", 10,
                   "--frame-size", 224, "--workers", 0) == 0
    assert not (frames / SPEC_NAME).exists()
    for vid in CLIPS:
        for i in range(10):
            ours = (frames / f"frame_{i}" / f"{vid}.jpg").read_bytes()
            assert ours == (REF / "frames" / f"frame_{i}" / f"{vid}.jpg").read_bytes(), (vid, i)


def _files(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_folder_of_other_frames_is_refused_not_mixed(videos, tmp_path, capsys):
    sixteen = tmp_path / "sixteen"
    assert extract(videos, "--only", "frames", "--frame-dir", sixteen, "--frames", 16,
                   "--workers", 0) == 0
    before = _files(sixteen)
    capsys.readouterr()
    for args in ([], ["--frames", 16, "--frame-size", 112], ["--frames", 16, "--no-crop"]):
        assert extract(videos, "--only", "frames", "--frame-dir", sixteen, *args,
                       "--workers", 0) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(sixteen) in err and "16 frames" in err
    assert _files(sixteen) == before
    # the same settings again: complete, nothing written
    assert extract(videos, "--only", "frames", "--frame-dir", sixteen, "--frames", 16,
                   "--workers", 0) == 0
    assert "0 written, 1 already complete" in capsys.readouterr().err
    # a folder of default frames (no record) takes no other frames either
    ten = tmp_path / "ten"
    assert extract(videos, "--only", "frames", "--frame-dir", ten, "--workers", 0) == 0
    with pytest.raises(InputError, match="10 frames"):
        extract_clip(videos / "landscape.mp4", None, ten, frame_spec=FrameSpec(count=16))
    assert not (ten / SPEC_NAME).exists() and not (ten / "frame_10").exists()


def test_completeness_counts_the_recorded_frames(videos, tmp_path):
    frames = tmp_path / "frames"
    assert extract(videos, "--only", "frames", "--frame-dir", frames, "--frames", 16,
                   "--workers", 0) == 0
    assert scan_media(None, frames).frames == {"landscape"}
    assert missing_frames(frames, "landscape") == []
    lost = frames / "frame_13" / "landscape.jpg"
    kept = lost.read_bytes()
    lost.unlink()
    assert scan_media(None, frames).frames == set()
    assert missing_frames(frames, "landscape") == [13]
    assert extract(videos, "--only", "frames", "--frame-dir", frames, "--frames", 16,
                   "--workers", 0) == 0
    assert lost.read_bytes() == kept


def test_frame_record_round_trip_and_damage(tmp_path):
    spec = FrameSpec(count=16, size=256, crop=False)
    write_frame_spec(tmp_path, spec)
    assert frame_spec_of(tmp_path) == spec
    assert frame_spec_of(tmp_path / "nothing here") == DEFAULT_SPEC
    claim_frame_spec(tmp_path, spec)  # the same settings are welcome
    (tmp_path / SPEC_NAME).write_text('{"format": "avprep-frames", "version": 1, "count": 0, '
                                      '"size": 224, "crop": true}')
    with pytest.raises(FormatError, match="frame count"):
        frame_spec_of(tmp_path)
    (tmp_path / SPEC_NAME).write_text("{not json")
    with pytest.raises(FormatError, match="damaged"):
        frame_spec_of(tmp_path)
    with pytest.raises(InputError):
        FrameSpec(count=0)
    with pytest.raises(InputError):
        FrameSpec(size=-3)


def _probe(path: Path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        keys = [p.pts for p in container.demux(video) if p.size and p.is_keyframe]
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = [f.to_image() for f in container.decode(video=0)]
        return (container.duration / 1e6, video.codec_context.name, video.width, video.height,
                len(container.streams.audio), len(keys), frames)


def test_keep_clip_copies_the_first_ten_seconds(videos, tmp_path, capsys):
    clips = tmp_path / "clips"
    assert extract(videos, "--only", "audio", "--audio-dir", tmp_path / "audio",
                   "--keep-clip", clips, "--workers", 0) == 0
    duration, codec, w, h, audio, keys, frames = _probe(clips / "landscape.mp4")
    assert abs(duration - 10.0) <= 0.1 and codec == "h264" and (w, h) == (WIDTH, HEIGHT)
    assert audio == 1 and len(frames) == FPS * 10
    # a copy: the frames are the source's, the last one frame 199
    frames[-1].save(tmp_path / "last.png")
    assert shown_number(tmp_path / "last.png") == FPS * 10 - 1
    assert [p.name for p in clips.iterdir()] == ["landscape.mp4"]  # no temporary left
    capsys.readouterr()
    assert extract(videos, "--only", "audio", "--audio-dir", tmp_path / "audio",
                   "--keep-clip", clips, "--workers", 0) == 0
    assert "1 already complete" in capsys.readouterr().err


def test_keep_clip_reencoded_with_a_gop_and_a_size(videos, tmp_path):
    clips = tmp_path / "clips"
    assert extract(videos, "--only", "frames", "--frame-dir", tmp_path / "frames",
                   "--keep-clip", clips, "--clip-gop", 8, "--clip-size", 100,
                   "--workers", 0) == 0
    duration, codec, w, h, audio, keys, frames = _probe(clips / "landscape.mp4")
    assert abs(duration - 10.0) <= 0.1 and codec == "h264" and h == 100
    assert abs(w - 100 * WIDTH / HEIGHT) <= 2 and w % 2 == 0
    assert len(frames) == FPS * 10 and keys == len(range(0, FPS * 10, 8))


def test_keep_clip_of_a_vp9_opus_webm(tmp_path):
    src = CLIPS["Vp9OpusClip_20.000"]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / src.name).symlink_to(src)
    clips = tmp_path / "clips"
    assert extract(folder, "--only", "audio", "--audio-dir", tmp_path / "audio",
                   "--keep-clip", clips, "--workers", 0) == 0
    duration, codec, *_ = _probe(clips / "Vp9OpusClip_20.000.mp4")
    assert codec == "vp9" and 0 < duration <= 10.1


def test_keep_clip_options_are_checked(videos, tmp_path, capsys):
    assert extract(videos, "--only", "audio", "--audio-dir", tmp_path / "a",
                   "--clip-gop", 8, "--workers", 0) == 2
    assert "--keep-clip" in capsys.readouterr().err
    assert extract(videos, "--only", "audio", "--audio-dir", tmp_path / "a",
                   "--keep-clip", tmp_path / "c", "--clip-size", 99, "--workers", 0) == 2
    assert "even" in capsys.readouterr().err
    # the folder of the input videos: a kept clip could replace its source
    assert extract(videos, "--only", "audio", "--audio-dir", tmp_path / "a",
                   "--keep-clip", videos, "--workers", 0) == 2
    assert "holds input videos" in capsys.readouterr().err


def test_validate_counts_the_recorded_frames(videos, tmp_path):
    from avprep.lists import read_labels, read_list
    from avprep.lists.validate import validate

    frames, audio = tmp_path / "frames", tmp_path / "audio"
    assert extract(videos, "--audio-dir", audio, "--frame-dir", frames, "--frames", 16,
                   "--workers", 0) == 0
    entry = {"video_id": "landscape", "wav": str(audio / "landscape.wav"),
             "video_path": str(frames), "labels": "/m/09x0r"}
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps({"data": [entry]}))
    labels = read_labels(CLIPS["00W1lcxW-WU_40.000"].parent / "class_labels_indices_as.csv")

    def missing() -> list:
        report = validate(read_list(listed), labels, files=True)
        return [kind for kind in report.problems if kind.endswith("_frames")]

    assert missing() == []
    (frames / "frame_14" / "landscape.jpg").unlink()  # beyond the default ten
    assert missing() == ["missing_frames"]
