"""JSON data lists: reading (Arrow and stdlib paths), writing, the cache, and the DataList API."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from avprep.errors import FormatError, InputError
from avprep.lists import DataList, Entry, read_labels, read_list, write_list
from avprep.lists import cache as list_cache
from avprep.lists import jsonlist
from avprep.synth.lists import synthetic_list
from helpers import SAMPLES

SAMPLE_LIST = SAMPLES / "sample_json_as.json"
LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"


@pytest.fixture(scope="module")
def labels():
    return read_labels(LABEL_CSV)


def _json_entries(path: Path) -> list:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["data"]


# reading -----------------------------------------------------------------------------------

def test_reads_released_sample_exactly(tmp_path):
    data = read_list(SAMPLE_LIST, cache=tmp_path)
    expected = _json_entries(SAMPLE_LIST)
    assert len(data) == len(expected) == 1725
    assert data.to_dicts() == expected
    assert data.video_id == [e["video_id"] for e in expected]
    assert data.labels[3] == expected[3]["labels"]
    assert data.label_list(0) == expected[0]["labels"].split(",")
    assert data[-1] == Entry(**expected[-1])


def test_multi_chunk_parse_equals_json_load(tmp_path, labels, monkeypatch):
    path = tmp_path / "gen.json"
    write_list(path, synthetic_list(3000, labels, seed=4))
    monkeypatch.setattr(jsonlist, "_CHUNK_BYTES", 20000)  # about 30 chunks
    spans = jsonlist._chunk_spans(path.read_bytes())
    assert spans is not None and len(spans) > 20
    data = read_list(path, cache=False)
    assert data.to_dicts() == _json_entries(path)


@pytest.mark.parametrize("layout", ["compact", "indent4", "crlf"])
def test_other_json_layouts(tmp_path, layout):
    entries = [{"video_id": f"id{i}", "wav": f"/a b/{i}.wav", "video_path": "/f,r/",
                "labels": "/m/09x0r,/m/05zppz"} for i in range(50)]
    path = tmp_path / "l.json"
    if layout == "compact":
        text = json.dumps({"data": entries}, separators=(",", ":"))
    elif layout == "indent4":
        text = json.dumps({"data": entries}, indent=4)
    else:
        text = json.dumps({"data": entries}, indent=1).replace("\n", "\r\n")
    path.write_text(text, newline="")
    assert read_list(path, cache=False).to_dicts() == entries


def test_extra_fields_and_keys_are_ignored(tmp_path):
    obj = {"version": 2, "data": [{"video_id": "x", "wav": "w", "video_path": "p",
                                   "labels": "", "extra": [1, 2]}]}
    path = tmp_path / "l.json"
    path.write_text(json.dumps(obj))
    data = read_list(path, cache=False)
    assert list(data) == [Entry("x", "w", "p", "")]
    assert data.label_list(0) == []


def test_any_string_id_is_data(tmp_path):
    entries = [{"video_id": vid, "wav": "w", "video_path": "p", "labels": "l"}
               for vid in ["../../etc/passwd", "", "a/b", "naïve ☃", "x\"y\\z"]]
    path = tmp_path / "l.json"
    path.write_text(json.dumps({"data": entries}, indent=1))
    assert read_list(path, cache=False).video_id == [e["video_id"] for e in entries]


@pytest.mark.parametrize("text, needle, entry", [
    ('{"data": [', "not valid JSON", None),
    ('{"data": [{"video_id": "a", "wav": "b", "video_path": "c", "labels": "d"},\n]}',
     "line 2", None),
    ('[{"video_id": "a"}]', '"data" list', None),
    ('{"data": {"video_id": "a"}}', "not a list", None),
    ('{"data": [{"video_id": "a", "wav": "b", "video_path": "c", "labels": "d"}, 5]}',
     "not an object", 1),
    ('{"data": [{"video_id": "a", "wav": "b", "video_path": "c"}]}', 'missing field "labels"',
     0),
    ('{"data": [{"video_id": "a", "wav": "b", "video_path": "c", "labels": "d"},\n'
     ' {"video_id": 7, "wav": "b", "video_path": "c", "labels": "d"}]}',
     'field "video_id" is a int', 1),
    ('{"data": [{"video_id": null, "wav": "b", "video_path": "c", "labels": "d"}]}',
     'field "video_id" is a NoneType', 0),
    ("", "not valid JSON", None),
])
def test_unusable_files_raise_format_error(tmp_path, text, needle, entry):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(FormatError) as info:
        read_list(path, cache=False)
    message = str(info.value)
    assert str(path) in message and needle in message
    assert "\n" not in message
    assert info.value.entry == entry
    assert info.value.exit_code == 2


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_list(tmp_path / "nope.json")
    with pytest.raises(InputError, match="folder"):
        read_list(tmp_path)


def test_invalid_utf8_is_a_format_error(tmp_path):
    path = tmp_path / "l.json"
    path.write_bytes(b'{"data": [{"video_id": "\xff", "wav": "", "video_path": "", '
                     b'"labels": ""}]}')
    with pytest.raises(FormatError, match="UTF-8"):
        read_list(path, cache=False)


# writing -----------------------------------------------------------------------------------

def test_write_reproduces_released_file_bytes(tmp_path):
    out = tmp_path / "out.json"
    write_list(out, read_list(SAMPLE_LIST, cache=False))
    assert out.read_bytes() == SAMPLE_LIST.read_bytes()


def test_write_matches_json_dump_with_awkward_strings(tmp_path):
    entries = [{"video_id": "a\"b\\c", "wav": "/data/a b,c/é☃.wav", "video_path": "/x\ty/",
                "labels": "/m/09x0r"},
               {"video_id": "\U0001F600", "wav": "", "video_path": "", "labels": ""}]
    out = tmp_path / "out.json"
    write_list(out, entries)
    assert out.read_text() == json.dumps({"data": entries}, indent=1)
    assert _json_entries(out) == entries
    assert read_list(out, cache=False).to_dicts() == entries


def test_write_empty_and_single_entry(tmp_path):
    out = tmp_path / "empty.json"
    write_list(out, DataList.from_entries([]))
    assert out.read_text() == json.dumps({"data": []}, indent=1)
    assert len(read_list(out, cache=False)) == 0
    one = [{"video_id": "x", "wav": "w", "video_path": "p", "labels": "l"}]
    write_list(out, one)
    assert read_list(out, cache=False).to_dicts() == one


def test_generated_list_round_trip(tmp_path, labels):
    data = synthetic_list(5000, labels, seed=1)
    out = tmp_path / "gen.json"
    write_list(out, data)
    assert out.read_text() == json.dumps({"data": data.to_dicts()}, indent=1)
    assert read_list(out, cache=False) == data


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    out = tmp_path / "list.json"
    write_list(out, [{"video_id": "old", "wav": "w", "video_path": "p", "labels": "l"}])
    before = out.read_bytes()
    bad = [{"video_id": "new", "wav": "w", "video_path": "p", "labels": "l"}, {"video_id": "x"}]
    with pytest.raises(KeyError):
        write_list(out, bad)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.json"]


# cache -------------------------------------------------------------------------------------

def test_cache_is_written_reused_and_invalidated(tmp_path, labels):
    src = tmp_path / "data" / "list.json"
    cache_dir = tmp_path / "cache"
    write_list(src, synthetic_list(2000, labels, seed=2))
    first = read_list(src, cache=cache_dir)
    cached = list_cache.cache_file(src, cache_dir)
    assert cached.is_file()
    assert list(src.parent.iterdir()) == [src]  # nothing written beside the source
    table = list_cache.load(src, list_cache.fingerprint(src), cache_dir)
    assert table is not None and table.num_rows == 2000
    assert read_list(src, cache=cache_dir) == first

    # same size and same mtime, one id changed: the content hash notices
    stat = src.stat()
    text = src.read_text()
    changed = text.replace(first[10].video_id, "ZZZZZZZZZZZ", 1)
    assert len(changed) == len(text) and changed != text
    src.write_text(changed)
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert read_list(src, cache=cache_dir)[10].video_id == "ZZZZZZZZZZZ"

    # a truncated or garbage cache file is rebuilt, not trusted
    cached.write_bytes(b"not arrow")
    assert read_list(src, cache=cache_dir).to_dicts() == _json_entries(src)


def test_unwritable_cache_location_still_reads(tmp_path, labels):
    src = tmp_path / "list.json"
    write_list(src, synthetic_list(100, labels))
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    data = read_list(src, cache=blocker)
    assert len(data) == 100


def test_default_cache_dir_follows_environment(tmp_path, monkeypatch, labels):
    monkeypatch.setenv("AVPREP_CACHE", str(tmp_path / "c"))
    monkeypatch.setattr(jsonlist, "CACHE_MIN_BYTES", 0)
    src = tmp_path / "list.json"
    write_list(src, synthetic_list(10, labels))
    read_list(src)
    assert list_cache.cache_file(src).parent == tmp_path / "c" / "lists"
    assert list_cache.cache_file(src).is_file()
    monkeypatch.delenv("AVPREP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert list_cache.default_cache_dir() == tmp_path / "x" / "avprep" / "lists"


def test_small_lists_are_not_cached_by_default(tmp_path, monkeypatch, labels):
    monkeypatch.setenv("AVPREP_CACHE", str(tmp_path / "c"))
    src = tmp_path / "list.json"
    write_list(src, synthetic_list(10, labels))
    read_list(src)
    assert not (tmp_path / "c").exists()


# DataList ----------------------------------------------------------------------------------

def test_datalist_api(labels):
    data = synthetic_list(300, labels, seed=3)
    assert len(data) == 300
    assert data[-1] == data[299]
    with pytest.raises(IndexError):
        data[300]
    part = data[10:20]
    assert isinstance(part, DataList) and len(part) == 10 and part[0] == data[10]
    picked = data.select(np.array([5, 1, 5]))
    assert [e.video_id for e in picked] == [data[5].video_id, data[1].video_id,
                                            data[5].video_id]
    again = DataList.from_entries(list(data))
    assert again == data
    assert DataList.from_columns({n: getattr(data, n) for n in
                                  ("video_id", "wav", "video_path", "labels")}) == data
    moved = data.replace(wav=[f"/new/{v}.wav" for v in data.video_id])
    assert moved[7].wav == f"/new/{data[7].video_id}.wav" and moved[7].labels == data[7].labels
    assert data.label_list(4) == data[4].label_list() == data.labels[4].split(",")
    with pytest.raises(ValueError):
        DataList(["a"], ["b", "c"], ["d"], ["e"])
    with pytest.raises(KeyError):
        data.replace(nope=[])


def test_chunked_columns_work_everywhere(tmp_path, labels, monkeypatch):
    """A list parsed in pieces holds chunked columns; every consumer gives the same answers."""
    from avprep.lists import compute_weights
    from avprep.lists.coverage import coverage
    from avprep.lists.validate import validate

    plain = synthetic_list(3000, labels, seed=9)
    plain = plain.select(list(range(3000)) + [5, 2500])  # two duplicate ids
    path = tmp_path / "gen.json"
    write_list(path, plain)
    monkeypatch.setattr(jsonlist, "_CHUNK_BYTES", 50000)
    chunked = read_list(path, cache=tmp_path / "cache")
    assert chunked.arrow_column("wav").num_chunks > 5
    assert chunked == plain
    np.testing.assert_array_equal(compute_weights(chunked, labels),
                                  compute_weights(plain, labels))
    assert validate(chunked, labels).to_json() == validate(plain, labels).to_json()
    assert validate(chunked, labels).problems["duplicate_id"]["count"] == 2
    assert coverage(chunked, plain, labels).equals(coverage(plain, plain, labels))
    assert [e.video_id for e in chunked.select([2999, 0, 3001])] == \
        [plain[2999].video_id, plain[0].video_id, plain[2500].video_id]
    assert chunked[1500:1503].to_dicts() == plain[1500:1503].to_dicts()
    assert list(chunked)[-1] == plain[-1]
    cached = read_list(path, cache=tmp_path / "cache")  # from the Arrow cache
    assert cached == plain and cached.video_id == plain.video_id


def test_write_batches_with_and_without_escapes(tmp_path, labels, monkeypatch):
    """Batches of plain ASCII are joined by Arrow, others by the json encoder: same bytes."""
    monkeypatch.setattr(jsonlist, "_WRITE_BATCH", 7)
    entries = synthetic_list(40, labels, seed=12).to_dicts()
    entries[9]["wav"] = "/data/naïve ☃/x.wav"
    entries[23]["labels"] = 'a"b\\c'
    entries[30]["video_id"] = "tab\there"
    out = tmp_path / "mixed.json"
    write_list(out, entries)
    assert out.read_text() == json.dumps({"data": entries}, indent=1)
    assert jsonlist._batch_text_arrow(
        [DataList.from_entries(entries[7:14]).arrow_column(n)
         for n in ("video_id", "wav", "video_path", "labels")]) is None
