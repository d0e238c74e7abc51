"""Video ids: names of raw files, AudioSet and VGGSound download names, and the safety check."""

from __future__ import annotations

import pytest

from avprep.errors import UnsafeIdError
from avprep.layout import frame_path, wav_path
from avprep.lists.ids import (audioset_id, check_safe_id, is_audioset_id, is_safe_id,
                              is_vggsound_id, to_list_id, unsafe_reason, video_id_of,
                              vggsound_id)
from helpers import CLIPS


@pytest.mark.parametrize("path, expected", [
    ("/x/abc_40.000.mp4", "abc_40.000"),
    ("KlsG1EnBEjc_000361.mp4", "KlsG1EnBEjc_000361"),
    ("dir.with.dots/-4SYC2YgzL8.mkv", "-4SYC2YgzL8"),
    ("noext", "noext"),
    (".hidden", ".hidden"),
])
def test_video_id_of(path, expected):
    assert video_id_of(path) == expected


def test_fixture_clip_names():
    assert {video_id_of(p) for p in CLIPS.values()} == set(CLIPS)
    assert audioset_id(video_id_of(CLIPS["00W1lcxW-WU_40.000"])) == "00W1lcxW-WU"
    assert vggsound_id(video_id_of(CLIPS["KlsG1EnBEjc_000361"])) == "KlsG1EnBEjc_000361"


@pytest.mark.parametrize("stem, expected", [
    ("--4gqARaEJE", "--4gqARaEJE"),
    ("Y--4gqARaEJE", "--4gqARaEJE"),
    ("--4gqARaEJE_30.000", "--4gqARaEJE"),
    ("Y--4gqARaEJE_30.000_40.000", "--4gqARaEJE"),
    ("--4gqARaEJE_30", "--4gqARaEJE"),
    ("Yabcdefghijk", "abcdefghijk"),  # a Y-prefixed 12-char name is Y + id
    ("too-short", None),
    ("--4gqARaEJE_x", None),
])
def test_audioset_download_names(stem, expected):
    assert audioset_id(stem) == expected
    assert to_list_id(stem, "audioset") == expected


@pytest.mark.parametrize("stem, expected", [
    ("KlsG1EnBEjc_000361", "KlsG1EnBEjc_000361"),
    ("KlsG1EnBEjc_361", "KlsG1EnBEjc_000361"),
    ("KlsG1EnBEjc_361.000", "KlsG1EnBEjc_000361"),
    ("KlsG1EnBEjc_361_371", "KlsG1EnBEjc_000361"),
    ("YKlsG1EnBEjc_000361", "KlsG1EnBEjc_000361"),
    ("KlsG1EnBEjc", None),
])
def test_vggsound_download_names(stem, expected):
    assert vggsound_id(stem) == expected
    assert to_list_id(stem, "vggsound") == expected


def test_to_list_id_as_is_and_bad_scheme():
    assert to_list_id("anything at all", None) == "anything at all"
    with pytest.raises(ValueError):
        to_list_id("x", "imagenet")


def test_list_id_forms():
    assert is_audioset_id("-0nqfRcnAYE") and not is_audioset_id("-0nqfRcnAYE_000010")
    assert is_vggsound_id("-0nqfRcnAYE_000010") and not is_vggsound_id("-0nqfRcnAYE_10")
    assert not is_audioset_id("-0nqfRcnAY")


@pytest.mark.parametrize("bad", ["", "..", ".", "a/b", "../x", "/etc/passwd", "a\\b",
                                 "nul\x00byte", "x" * 300, None, 5])
def test_unsafe_ids_are_rejected_wherever_paths_are_made(bad, tmp_path):
    assert unsafe_reason(bad) is not None and not is_safe_id(bad)
    with pytest.raises(UnsafeIdError) as info:
        check_safe_id(bad, "list.json", 7)
    assert "list.json" in str(info.value) and "entry 7" in str(info.value)
    assert info.value.exit_code == 2
    with pytest.raises(UnsafeIdError):
        wav_path(tmp_path, bad)
    with pytest.raises(UnsafeIdError):
        frame_path(tmp_path, 0, bad)


@pytest.mark.parametrize("good", ["--4gqARaEJE", "KlsG1EnBEjc_000361", "abc_40.000",
                                  "with space", "..hidden", "naïve"])
def test_safe_ids(good, tmp_path):
    assert check_safe_id(good) == good
    assert wav_path(tmp_path, good).parent == tmp_path
    assert frame_path(tmp_path, 3, good).parent == tmp_path / "frame_3"
