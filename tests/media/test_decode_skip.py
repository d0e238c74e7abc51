"""Frames nobody needs are left undecoded (H.264/HEVC non-reference frames): the ten frames must
come out byte-identical to decoding every frame, and a numbering surprise must fall back to it."""

from pathlib import Path

import av
import pytest

from avprep.layout import N_FRAMES
from avprep.media import decode as decode_mod
from avprep.media import probe
from avprep.media.clip import ClipTask, process_clip
from avprep.synth import make_clip

# x264's own defaults (3 B-frames, B-pyramid): many frames that nothing references
_BFRAMES = ("-preset", "medium")
CLIPS = {
    "bframes.mp4": dict(extra_args=_BFRAMES),
    "bframes.mkv": dict(extra_args=_BFRAMES),
    "bframes_gop25.mov": dict(extra_args=_BFRAMES + ("-g", "25")),
    "bframes_vfr.mp4": dict(extra_args=_BFRAMES + ("-vf", "select='lt(mod(n\\,7)\\,4)'",
                                                   "-fps_mode", "vfr")),
    "hevc.mp4": dict(vcodec="libx265", extra_args=("-preset", "fast", "-x265-params",
                                                   "log-level=none")),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    src = tmp_path_factory.mktemp("skipclips")
    made = {}
    for name, kwargs in CLIPS.items():
        args = dict(width=192, height=144, duration=6, fps=25)
        args.update(kwargs)
        made[name] = make_clip(src / name, **args)  # the packaged ffmpeg has x264 and x265
    return made


def _frames(clip: Path, out: Path, skip: bool, threads: int):
    result = process_clip(ClipTask(str(clip), clip.stem, None, str(out), threads=threads,
                                   skip_frames=skip))
    assert result.ok, result.failures
    return [(out / f"frame_{i}" / f"{clip.stem}.jpg").read_bytes() for i in range(N_FRAMES)]


def _skipped(clip: Path, threads: int = 1) -> int:
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        timing = probe.video_timing(container, stream)
        schedule = probe.frame_schedule(timing.fps, timing.frame_count)
        decoded = decode_mod.decode_clip(container, None, stream, schedule, timing.fps, threads)
    return decoded.skipped_frames


@pytest.mark.parametrize("name", list(CLIPS))
@pytest.mark.parametrize("threads", [1, 0])
def test_skipping_gives_the_frames_of_a_full_decode(clips, tmp_path, name, threads):
    """Tolerance: none, every JPEG byte equal (slice and frame threading)."""
    full = _frames(clips[name], tmp_path / "full", skip=False, threads=1)
    fast = _frames(clips[name], tmp_path / "fast", skip=True, threads=threads)
    assert fast == full


@pytest.mark.parametrize("name", ["bframes.mp4", "hevc.mp4"])
@pytest.mark.parametrize("threads", [1, 0])
def test_frames_are_actually_skipped(clips, name, threads):
    skipped = _skipped(clips[name], threads)
    # 6 s at 25 fps with B-pyramids: well over a fifth of the frames reference nothing
    assert skipped > 30


def test_a_numbering_surprise_decodes_again_without_skipping(clips, tmp_path, monkeypatch):
    clip = clips["bframes.mp4"]
    full = _frames(clip, tmp_path / "full", skip=False, threads=1)

    def shifted(infos):  # ranks one off from what the decoder will output
        shown = sorted(p.pts for p in infos if not p.discard)
        return {pts: rank + 1 for rank, pts in enumerate(shown)}

    monkeypatch.setattr(decode_mod._VideoPass, "_timestamp_ranks", staticmethod(shifted))
    assert _skipped(clip) == 0  # it gave up skipping ...
    assert _frames(clip, tmp_path / "fast", skip=True, threads=1) == full  # ... and is right
