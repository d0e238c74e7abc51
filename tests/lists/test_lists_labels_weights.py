"""Label CSVs and sample-weight CSVs: readers, writers, and the released weight formula."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pyarrow as pa
import pytest

from avprep.errors import FormatError, InputError
from avprep.lists import (DataList, LabelSet, compute_weights, read_labels, read_list,
                          read_weights, write_labels, write_weights)
from avprep.lists.labels import class_indices, label_codes, split_labels
from avprep.synth.lists import synthetic_list
from helpers import REF, SAMPLES

SAMPLE_LIST = SAMPLES / "sample_json_as.json"
LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
REF_WEIGHTS = REF / "sample_json_as_weight.csv"
REL_TOL = 1e-12  # weights match a float64 reference to 1e-12 relative


def _reference_weights(entries: list, label_csv) -> np.ndarray:
    """The formula written out plainly: float64 counts, then sums in label order."""
    with open(label_csv, newline="") as fh:
        index = {row["mid"]: int(row["index"]) for row in csv.DictReader(fh)}
    count = np.zeros(len(index))
    for e in entries:
        for mid in e["labels"].split(","):
            count[index[mid]] += 1
    label_weight = 1000.0 / (count + 0.01)
    out = np.zeros(len(entries))
    for i, e in enumerate(entries):
        for mid in e["labels"].split(","):
            out[i] += label_weight[index[mid]]
    return out


# labels ------------------------------------------------------------------------------------

def test_read_real_label_csv():
    labels = read_labels(LABEL_CSV)
    with open(LABEL_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(labels) == len(rows) == 527
    assert labels.mids == [r["mid"] for r in rows]
    assert labels.names == [r["display_name"] for r in rows]
    assert labels.index[rows[1]["mid"]] == 1
    assert "," in labels.names[1]  # quoted display names with commas survive
    assert rows[0]["mid"] in labels and "/m/nope" not in labels


def test_write_labels_reproduces_released_bytes(tmp_path):
    out = tmp_path / "labels.csv"
    write_labels(out, read_labels(LABEL_CSV))
    assert out.read_bytes() == LABEL_CSV.read_bytes()


def test_write_labels_round_trips_awkward_names(tmp_path):
    labels = LabelSet(["/m/a", "/m/b", "x,y"], ['Say "hi", twice', "plain", "comma mid"])
    out = tmp_path / "labels.csv"
    write_labels(out, labels)
    assert read_labels(out) == labels
    with open(out, newline="") as fh:
        assert [r["display_name"] for r in csv.DictReader(fh)] == labels.names


def test_label_rows_in_any_order_use_the_index_column(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text('index,mid,display_name\n1,/m/b,"B"\n0,/m/a,"A"\n')
    labels = read_labels(path)
    assert labels.mids == ["/m/a", "/m/b"] and labels.index["/m/b"] == 1


@pytest.mark.parametrize("text, needle", [
    ("", "empty file"),
    ("idx,mid,name\n0,/m/a,A\n", "lacks column"),
    ('index,mid,display_name\nzero,/m/a,"A"\n', "line 2: index 'zero'"),
    ('index,mid,display_name\n0,/m/a,"A"\n0,/m/b,"B"\n', "line 3: index 0 appears twice"),
    ('index,mid,display_name\n0,/m/a,"A"\n1,/m/a,"B"\n', "already on line 2"),
    ('index,mid,display_name\n0,/m/a,"A"\n2,/m/b,"B"\n', "0..1"),
    ('index,mid,display_name\n0,/m/a\n', "line 2: 2 fields"),
    ("index,mid,display_name\n", "no classes"),
])
def test_bad_label_csv(tmp_path, text, needle):
    path = tmp_path / "l.csv"
    path.write_text(text)
    with pytest.raises(FormatError) as info:
        read_labels(path)
    assert needle in str(info.value) and str(path) in str(info.value)


def test_missing_label_csv(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_labels(tmp_path / "none.csv")


# label strings -> class indices ------------------------------------------------------------

ABC = LabelSet(["/m/a", "/m/b", "/m/c"], ["A", "B", "C"])


@pytest.mark.parametrize("text, expected", [("/m/b", [1]), ("/m/c,/m/a", [2, 0]),
                                            ("/m/a,/m/b,/m/a", [0, 1, 0])])
def test_class_indices_of_one_or_several_labels(text, expected):
    assert class_indices(text, ABC.index) == expected
    entry, code, _ = label_codes(pa.array(["/m/a", text]), ABC)
    assert code[entry == 1].tolist() == expected and code[entry == 0].tolist() == [0]


@pytest.mark.parametrize("text, label", [("", None), ("/m/zz", "/m/zz"), ("/m/a,/m/zz", "/m/zz"),
                                         ("/m/a,", ""), (",/m/a", "")])
def test_empty_string_or_unknown_label_names_label_and_entry(tmp_path, text, label):
    """An empty label string is refused like an unknown label (the original loader fails on
    it), by the one-entry rule, the whole-column codes and the weights alike."""
    where = tmp_path / "list.json"
    with pytest.raises(FormatError) as info:
        class_indices(text, ABC.index, where, entry=7, video_id="clip_7")
    message = str(info.value)
    assert str(where) in message and "entry 7" in message and "'clip_7'" in message
    assert (f"label {label!r}" in message) if label is not None else "no labels" in message
    _, code, _ = label_codes(pa.array([text]), ABC)
    assert (code < 0).any()
    data = DataList.from_entries([
        {"video_id": "ok", "wav": "", "video_path": "", "labels": "/m/a"},
        {"video_id": "clip_1", "wav": "", "video_path": "", "labels": text}])
    with pytest.raises(InputError) as info:
        compute_weights(data, ABC)
    assert info.value.entry == 1 and "'clip_1'" in str(info.value)
    assert (f"label {label!r}" in str(info.value)) if label is not None \
        else "no labels" in str(info.value)


def test_split_labels_of_an_empty_string_is_no_mids():
    assert split_labels("") == [] and split_labels("/m/a,/m/b") == ["/m/a", "/m/b"]


# weights -----------------------------------------------------------------------------------

def test_compute_weights_reproduces_released_reference():
    data = read_list(SAMPLE_LIST, cache=False)
    weights = compute_weights(data, read_labels(LABEL_CSV))
    ref = np.loadtxt(REF_WEIGHTS)
    assert weights.dtype == np.float64 and weights.shape == ref.shape == (1725,)
    np.testing.assert_allclose(weights, ref, rtol=REL_TOL, atol=0)


def test_written_weights_are_byte_identical_to_reference(tmp_path):
    weights = compute_weights(read_list(SAMPLE_LIST, cache=False), read_labels(LABEL_CSV))
    out = tmp_path / "w.csv"
    write_weights(out, weights)
    assert out.read_bytes() == REF_WEIGHTS.read_bytes()


def test_compute_weights_on_generated_lists_matches_plain_formula(tmp_path):
    labels = read_labels(LABEL_CSV)
    data = synthetic_list(4000, labels, seed=7)
    # repeated labels within an entry count twice, as in the original script
    data = data.replace(labels=[lab + "," + lab.split(",")[0] if i % 50 == 0 else lab
                                for i, lab in enumerate(data.labels)])
    ref = _reference_weights(data.to_dicts(), LABEL_CSV)
    np.testing.assert_allclose(compute_weights(data, labels), ref, rtol=REL_TOL, atol=0)


def test_compute_weights_other_label_set():
    labels = LabelSet(["a", "b", "c"], ["A", "B", "C"])
    data = DataList.from_entries([
        {"video_id": "1", "wav": "", "video_path": "", "labels": "a"},
        {"video_id": "2", "wav": "", "video_path": "", "labels": "a,b"},
        {"video_id": "3", "wav": "", "video_path": "", "labels": "c,b,a"}])
    lw = {"a": 1000 / 3.01, "b": 1000 / 2.01, "c": 1000 / 1.01}
    expected = [lw["a"], lw["a"] + lw["b"], lw["c"] + lw["b"] + lw["a"]]
    np.testing.assert_allclose(compute_weights(data, labels), expected, rtol=REL_TOL, atol=0)
    assert compute_weights(data.select([]), labels).shape == (0,)


def test_compute_weights_names_entry_with_unknown_label():
    labels = LabelSet(["a"], ["A"])
    data = DataList.from_entries([
        {"video_id": "ok", "wav": "", "video_path": "", "labels": "a"},
        {"video_id": "bad", "wav": "", "video_path": "", "labels": "a,zz"}])
    with pytest.raises(InputError) as info:
        compute_weights(data, labels)
    assert info.value.entry == 1 and "'zz'" in str(info.value) and "'bad'" in str(info.value)


def test_read_weights_reference_and_any_number(tmp_path):
    ref = read_weights(REF_WEIGHTS)
    assert ref.dtype == np.float64 and ref.shape == (1725,)
    np.testing.assert_array_equal(ref, np.loadtxt(REF_WEIGHTS))
    path = tmp_path / "w.csv"
    path.write_text("1.5\n-2\nnan\ninf\n0\n")
    got = read_weights(path)
    assert got[0] == 1.5 and got[1] == -2 and math.isnan(got[2]) and math.isinf(got[3])
    path.write_text("")
    assert read_weights(path).shape == (0,)


@pytest.mark.parametrize("text, line", [("1.0\nabc\n3\n", 2), ("1.0\n\n3\n", 2),
                                        ("1.0,2.0\n", 1)])
def test_read_weights_names_bad_line(tmp_path, text, line):
    path = tmp_path / "w.csv"
    path.write_text(text)
    with pytest.raises(FormatError) as info:
        read_weights(path)
    assert f"line {line}" in str(info.value) and str(path) in str(info.value)


def test_write_weights_is_savetxt_default(tmp_path):
    w = np.array([1.0, 1e-300, 123456.789, -0.5])
    out = tmp_path / "w.csv"
    write_weights(out, w)
    np.savetxt(tmp_path / "np.csv", w)
    assert out.read_bytes() == (tmp_path / "np.csv").read_bytes()
    np.testing.assert_array_equal(read_weights(out), w)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["np.csv", "w.csv"]


def test_missing_weight_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_weights(tmp_path / "none.csv")


def test_json_load_sees_written_list_like_the_original(tmp_path):
    """The original loader does json.load(fp)['data'] and reads the four keys."""
    from avprep.lists import write_list
    data = synthetic_list(20, read_labels(LABEL_CSV), scheme="vggsound")
    out = tmp_path / "vgg.json"
    write_list(out, data)
    with open(out, "r") as fp:
        loaded = json.load(fp)["data"]
    assert [(e["wav"], e["labels"], e["video_id"], e["video_path"]) for e in loaded] == \
        [(e.wav, e.labels, e.video_id, e.video_path) for e in data]
