"""avprep.store: pack real and synthesized clips, read them back exactly, resume, verify."""

from __future__ import annotations

import json
import os
import pickle
import wave

import numpy as np
import pytest
import torch
from PIL import Image

from avprep.errors import InputError, IntegrityError
from avprep.features import fbank_parity, load_wav, read_pcm16, wav_fbank
from avprep.lists import read_labels
from avprep.store import open_store, pack, read_manifest, verify_store
from helpers import REF, SAMPLES
from helpers.media import fixture_entries, make_media, write_list

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"


@pytest.fixture(scope="module")
def fixture_pack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pack")
    entries = fixture_entries()
    entries.insert(1, {"video_id": "gone_1", "wav": str(tmp / "gone_1.wav"),
                       "video_path": str(REF / "frames"), "labels": "/m/09x0r"})
    listing = write_list(tmp / "list.json", entries)
    result = pack(listing, tmp / "out", labels=LABEL_CSV, shard_size=2, fbank="float32")
    return entries, result, tmp / "out"


def test_rows_follow_list_order_and_failure_is_recorded(fixture_pack):
    entries, result, out = fixture_pack
    store = open_store(out)
    assert len(store) == 3
    assert [store[i].video_id for i in range(3)] == [entries[i]["video_id"] for i in (0, 2, 3)]
    assert [store[i].list_index for i in range(3)] == [0, 2, 3]
    [failure] = result.failures
    assert failure.entry == 1 and failure.video_id == "gone_1"
    assert "not found" in failure.reason and "gone_1.wav" in failure.reason
    assert read_manifest(out).failures[0].reason == failure.reason


def test_records_are_exact(fixture_pack):
    entries, _, out = fixture_pack
    store = open_store(out)
    labels = read_labels(LABEL_CSV)
    for e in (entries[0], entries[2], entries[3]):
        rec = store.by_id(e["video_id"])
        pcm, rate = read_pcm16(e["wav"])
        assert rec.sample_rate == rate == 16000
        assert rec.pcm.dtype == np.int16 and rec.pcm.shape == pcm.shape
        assert np.array_equal(rec.pcm, pcm)
        assert torch.equal(rec.waveform(), load_wav(e["wav"])[0])
        for i in range(10):
            jpg = REF / "frames" / f"frame_{i}" / f"{e['video_id']}.jpg"
            assert rec.frames[i] == jpg.read_bytes()
        assert rec.fbank.dtype == np.float32
        assert np.array_equal(rec.fbank, wav_fbank(e["wav"]).numpy())
        assert rec.labels == e["labels"]
        assert rec.label_indices == [labels.index[m] for m in e["labels"].split(",")]


def test_indexing(fixture_pack):
    _, _, out = fixture_pack
    store = open_store(out)
    assert store[-1].video_id == store[2].video_id
    assert store.index_of(store[1].video_id) == 1
    assert store[1].video_id in store and "gone_1" not in store
    with pytest.raises(IndexError):
        store[3]
    with pytest.raises(KeyError):
        store.by_id("gone_1")
    assert store.video_ids == [store[i].video_id for i in range(3)]


def test_store_pickles_small_and_reopens_lazily(fixture_pack):
    _, _, out = fixture_pack
    store = open_store(out)
    first = store[0]
    blob = pickle.dumps(store)
    assert len(blob) < 20000  # the folder and index, not the mapped shards
    copy = pickle.loads(blob)
    assert np.array_equal(copy[0].pcm, first.pcm)


def test_dataloader_workers_read_their_own_maps(fixture_pack):
    _, _, out = fixture_pack
    store = open_store(out)
    expected = [int(store[i].pcm.astype(np.int64).sum()) for i in range(len(store))]

    class Sums(torch.utils.data.Dataset):
        def __len__(self):
            return len(store)

        def __getitem__(self, i):
            return int(store[i].pcm.astype(np.int64).sum()), os.getpid()

    loader = torch.utils.data.DataLoader(Sums(), batch_size=None, num_workers=2,
                                         multiprocessing_context="fork")
    got = list(loader)
    assert [g[0] for g in got] == expected
    assert all(pid != os.getpid() for _, pid in got)


def test_float16_fbank_is_close(tmp_path):
    entries = fixture_entries()[:1]
    out = pack(write_list(tmp_path / "l.json", entries), tmp_path / "p", fbank="float16").folder
    rec = open_store(out)[0]
    exact = wav_fbank(entries[0]["wav"]).numpy()
    assert rec.fbank.dtype == np.float32 and rec.fbank.shape == exact.shape
    # float16 keeps 11 significant bits: relative error at most 2**-11
    assert np.all(np.abs(rec.fbank - exact) <= np.abs(exact) * 2.0 ** -11 + 1e-7)
    assert not np.array_equal(rec.fbank, exact)
    # in normalized units the largest error stays inside the parity rule's 2e-3 (the mean
    # error does not: float16 is a size-for-precision trade, stated in `pack --help`)
    assert fbank_parity(rec.fbank, exact).max_any <= 2e-3
    assert rec.label_indices is None


def test_without_fbank_stores_none(tmp_path):
    entries = fixture_entries()[2:]
    out = pack(write_list(tmp_path / "l.json", entries), tmp_path / "p").folder
    rec = open_store(out)[0]
    assert rec.fbank is None and len(rec.frames) == 10


def test_bad_entries_are_left_out_with_reasons(tmp_path):
    media = tmp_path / "m"
    entries = [
        make_media(media, "ok_1", seed=1),
        make_media(media, "partial_2", frames=range(7), seed=2),
        make_media(media, "noframes_3", frames=[], seed=3),
        make_media(media, "rate_4", rate=44100, seed=4),
        dict(make_media(media, "ok_1", seed=1)),                       # duplicate id
        make_media(media, "label_6", labels="/m/not_a_class", seed=6),
        dict(make_media(media, "ok_7", seed=7), video_id="../evil"),
        make_media(media, "stereo_8", channels=2, seed=8),
    ]
    (media / "frames" / "frame_3" / "ok_7.jpg").write_bytes(b"not a jpeg")
    entries.append(make_media(media, "badjpeg_9", seed=9))
    (media / "frames" / "frame_3" / "badjpeg_9.jpg").write_bytes(b"PNG?")
    entries.append(make_media(media, "nolabels_10", labels="", seed=10))
    result = pack(write_list(tmp_path / "l.json", entries), tmp_path / "p", labels=LABEL_CSV,
                  shard_size=4)
    reasons = {f.entry: f.reason for f in result.failures}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 8, 9]
    assert "no frames" in reasons[2]
    assert "44100" in reasons[3]
    assert "duplicate" in reasons[4] and "entry 0" in reasons[4]
    assert "/m/not_a_class" in reasons[5]
    assert "unsafe" in reasons[6]
    assert "frame 3" in reasons[8] and "JPEG" in reasons[8]
    assert "no labels" in reasons[9]
    store = open_store(result.folder)
    assert store.video_ids == ["ok_1", "partial_2", "stereo_8"]
    partial = store.by_id("partial_2")
    assert partial.frames[7:] == [None, None, None] and all(partial.frames[:7])
    assert result.manifest.incomplete == [{"entry": 1, "video_id": "partial_2",
                                           "missing_frames": [7, 8, 9]}]
    stereo = store.by_id("stereo_8")
    assert stereo.pcm.shape == (2, 8000)
    assert np.array_equal(stereo.pcm, read_pcm16(entries[7]["wav"])[0])
    assert torch.equal(stereo.waveform(), load_wav(entries[7]["wav"])[0])
    assert verify_store(result.folder).ok


class Stop(Exception):
    pass


def test_resume_keeps_finished_shards(tmp_path):
    media = tmp_path / "m"
    entries = [make_media(media, f"clip_{i}", seed=i) for i in range(5)]
    listing = write_list(tmp_path / "l.json", entries)
    out = tmp_path / "p"
    finished = []

    def stop_after_two(info):
        finished.append(info.name)
        if len(finished) == 2:
            raise Stop()

    with pytest.raises(Stop):
        pack(listing, out, shard_size=1, fbank="float32", on_shard=stop_after_two)
    assert not (out / "manifest.json").exists()
    with pytest.raises(InputError, match="manifest.json is missing"):
        open_store(out)
    before = {name: (out / name).stat() for name in finished}
    # a temporary file left by a killed writer is cleaned up
    (out / ".shard-00004.avprep-tmp-1-abc.arrow").write_bytes(b"half")
    result = pack(listing, out, shard_size=1, fbank="float32")
    assert (result.written, result.reused) == (3, 2)
    for name, st in before.items():
        now = (out / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert not list(out.glob("*avprep-tmp*"))
    store = open_store(out)
    assert store.video_ids == [f"clip_{i}" for i in range(5)]
    assert verify_store(out).ok
    again = pack(listing, out, shard_size=1, fbank="float32")
    assert (again.written, again.reused) == (0, 5)


def test_other_options_or_foreign_folder_refused(tmp_path):
    entries = fixture_entries()[:1]
    listing = write_list(tmp_path / "l.json", entries)
    pack(listing, tmp_path / "p", shard_size=2)
    with pytest.raises(InputError, match="shard_size"):
        pack(listing, tmp_path / "p", shard_size=3)
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        pack(listing, tmp_path / "q")
    assert (tmp_path / "q" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == ["notes.txt"]


def test_workers_write_the_same_shards(tmp_path):
    media = tmp_path / "m"
    entries = [make_media(media, f"w_{i}", seed=10 + i) for i in range(6)]
    entries[3]["wav"] += ".gone"
    listing = write_list(tmp_path / "l.json", entries)
    one = pack(listing, tmp_path / "one", shard_size=1, fbank="float32").manifest
    # 6 shards, 2 workers: more shards than are queued at once
    two = pack(listing, tmp_path / "two", shard_size=1, workers=2, fbank="float32").manifest
    assert [f.entry for f in two.failures] == [3]
    assert open_store(tmp_path / "two").video_ids == [f"w_{i}" for i in (0, 1, 2, 4, 5)]
    assert [s.sha256 for s in one.shards] == [s.sha256 for s in two.shards]
    assert one.index["sha256"] == two.index["sha256"]


def test_verify_names_damaged_and_missing_shards(tmp_path):
    media = tmp_path / "m"
    entries = [make_media(media, f"v_{i}", seed=20 + i) for i in range(3)]
    out = pack(write_list(tmp_path / "l.json", entries), tmp_path / "p", shard_size=1).folder
    assert verify_store(out).ok
    shard1 = out / "shard-00001.arrow"
    blob = bytearray(shard1.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    shard1.write_bytes(bytes(blob))
    (out / "shard-00002.arrow").unlink()
    report = verify_store(out)
    assert not report.ok
    assert len(report.problems) == 2
    assert "shard-00001.arrow" in report.problems[0] and "sha256" in report.problems[0]
    assert "shard-00002.arrow" in report.problems[1] and "missing" in report.problems[1]
    store = open_store(out)
    with pytest.raises(IntegrityError, match="shard-00002"):
        store[2]


def test_verify_checks_the_index(tmp_path):
    entries = fixture_entries()[:2]
    out = pack(write_list(tmp_path / "l.json", entries), tmp_path / "p").folder
    (out / "index.arrow").write_bytes(b"garbage")
    report = verify_store(out)
    assert [p for p in report.problems if "index" in p]
    with pytest.raises(IntegrityError, match="index"):
        open_store(out)


def test_short_and_empty_clips_and_empty_list(tmp_path):
    media = tmp_path / "m"
    entries = [make_media(media, "short", seconds=0.01), make_media(media, "empty", seconds=0)]
    result = pack(write_list(tmp_path / "l.json", entries), tmp_path / "p", fbank="float32")
    # a wav without samples is not a complete clip (avprep.complete): left out with the reason
    assert [(f.video_id, "no audio samples" in f.reason) for f in result.failures] == \
        [("empty", True)]
    store = open_store(result.folder)
    assert len(store) == 1
    short = store[0]
    assert short.pcm.shape == (1, 160) and short.fbank.shape == (0, 128)
    nothing = pack(write_list(tmp_path / "e.json", []), tmp_path / "q")
    assert len(open_store(nothing.folder)) == 0 and nothing.manifest.shards == []
    assert verify_store(nothing.folder).ok
