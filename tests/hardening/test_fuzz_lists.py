"""Fuzzed list files: the JSON list, label CSV and weight CSV readers and the validate, weights and
build-list commands, fed with generated files (hypothesis, bounded example counts).

What is data and what is unusable (the readers' contract):
- data: any string id, label or path (unicode, NUL, ``../``, 0.5 MB long), any number as a weight
  (nan, inf, negative), a UTF-8 byte-order mark, CRLF line ends, extra fields and keys, an empty
  weight file. Readers return it unchanged; judging it is validate's job.
- unusable: truncated JSON, a field of the wrong type, a missing field, an entry that is not an
  object, a top level that is not ``{"data": [...]}``, bytes that are not UTF-8, an empty list or
  label file, a label CSV with missing columns, bad or repeated indices, a weight line that is not
  one number. Readers raise a :class:`~avprep.errors.FormatError` (exit code 2) whose one-line
  message names the file and, where there is one, the entry; the commands exit 2 with that one line
  on stderr, no traceback, and write nothing.
- anything else (random bytes, random byte edits of a good file): either data or a typed error,
  never another exception, and on the command line never exit 3 (an internal error).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from avprep.cli import main
from avprep.errors import AvprepError, FormatError, InputError
from avprep.lists import DataList, LabelSet, read_labels, read_list, read_weights
from avprep.lists.labels import labels_text
from avprep.lists.weights import weights_text
from helpers import ROOT

FIELDS = ("video_id", "wav", "video_path", "labels")
MIDS = ["/m/a", "/m/b", "/m/c"]
LABEL_CSV_TEXT = 'index,mid,display_name\n0,/m/a,"Alpha"\n1,/m/b,"Beta, b"\n2,/m/c,"Gamma"\n'

FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(FUZZ, max_examples=40)


@pytest.fixture(autouse=True, scope="module")
def private_list_cache():
    """Lists of 1 MiB and more are cached: keep that cache in a folder of its own."""
    with tempfile.TemporaryDirectory() as folder:
        before = os.environ.get("AVPREP_CACHE")
        os.environ["AVPREP_CACHE"] = folder
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("AVPREP_CACHE", None)
            else:
                os.environ["AVPREP_CACHE"] = before


# strategies --------------------------------------------------------------------------------

any_text = st.text(max_size=40)  # any unicode but lone surrogates (which UTF-8 cannot hold)
label_strings = st.lists(st.sampled_from(MIDS), min_size=1, max_size=3).map(",".join)
entries = st.lists(st.fixed_dictionaries({"video_id": any_text, "wav": any_text,
                                          "video_path": any_text, "labels": any_text}),
                   min_size=1, max_size=8)
known_entries = st.lists(st.fixed_dictionaries({"video_id": any_text, "wav": any_text,
                                                "video_path": any_text,
                                                "labels": label_strings}),
                         min_size=1, max_size=8)
wrong_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.lists(st.integers(), max_size=2),
                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def dump(obj, indent, ensure_ascii=True, crlf=False, bom=False) -> bytes:
    text = json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii)
    if crlf:
        text = text.replace("\n", "\r\n")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


layouts = st.fixed_dictionaries({"indent": st.sampled_from([None, 1, 4]),
                                 "ensure_ascii": st.booleans(), "crlf": st.booleans(),
                                 "bom": st.booleans()})


@st.composite
def unusable_lists(draw):
    """(file bytes, the entry the error must name or None) of a list file that is unusable."""
    items = draw(entries)
    layout = draw(layouts)
    kind = draw(st.sampled_from(["truncated", "wrong_type", "missing_field", "not_object",
                                 "top_level", "data_type", "not_utf8", "empty"]))
    entry = None
    obj = {"data": items}
    if kind == "truncated":
        text = dump(obj, **layout)
        end = text.rindex(b"}")  # cutting before the last brace always breaks the JSON
        return text[:draw(st.integers(0, end))], None
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"   ", b"\xef\xbb\xbf", b"\r\n"])), None
    if kind == "top_level":
        return dump(draw(st.one_of(st.none(), st.just(items), wrong_values,
                                   st.just({"entries": items}))), **layout), None
    if kind == "data_type":
        return dump({"data": draw(st.one_of(st.none(), st.integers(), any_text,
                                            st.just({"x": items})))}, **layout), None
    entry = draw(st.integers(0, len(items) - 1))
    if kind == "wrong_type":
        items[entry][draw(st.sampled_from(FIELDS))] = draw(wrong_values)
    elif kind == "missing_field":
        del items[entry][draw(st.sampled_from(FIELDS))]
    elif kind == "not_object":
        items[entry] = draw(st.one_of(wrong_values.filter(lambda v: not isinstance(v, dict)),
                                      st.just(list(items[entry].values()))))
    else:  # not_utf8: a byte that never starts or continues UTF-8, inside a string of the entry
        field = draw(st.sampled_from(FIELDS))
        items[entry][field] = "\x00MARK\x00"
        layout = dict(layout, ensure_ascii=True)
        text = dump({"data": items}, **layout)
        return text.replace(b"\\u0000MARK\\u0000", draw(st.sampled_from(
            [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80abc"]))), None
    return dump({"data": items}, **layout), entry


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@contextlib.contextmanager
def temp_file(name: str, data: bytes):
    """A file holding ``data`` in a folder of its own, for one hypothesis example (``tmp_path``
    is one folder for all the examples of a test); yields its path."""
    with tempfile.TemporaryDirectory() as folder:
        yield write(Path(folder), name, data)


def run(capsys, *argv) -> tuple:
    """``avprep ARGV`` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(code: int, err: str, path: Path, entry=None) -> None:
    """Exit 2 with exactly one stderr line naming the file (and entry), no traceback."""
    assert code == 2, err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert str(path) in lines[0], lines[0]
    if entry is not None:
        assert f"entry {entry}:" in lines[0], lines[0]


def files_in(folder: Path) -> set:
    return {p.relative_to(folder) for p in folder.rglob("*")}


# JSON list reader --------------------------------------------------------------------------

@FUZZ
@given(items=entries, layout=layouts, extra_key=st.booleans(), extra_field=st.booleans())
def test_any_strings_in_any_layout_are_data(items, layout, extra_key, extra_field):
    obj = {"data": [dict(e, extra=[1, {"x": None}]) if extra_field else e for e in items]}
    if extra_key:
        obj = {"version": 3, **obj, "z": None}
    with temp_file("l.json", dump(obj, **layout)) as path:
        got = read_list(path, cache=False)
    assert [{f: getattr(e, f) for f in FIELDS} for e in got] == items


@FUZZ
@given(case=unusable_lists())
def test_unusable_lists_raise_a_format_error_naming_file_and_entry(case):
    data, entry = case
    with temp_file("bad list.json", data) as path:
        with pytest.raises(FormatError) as info:
            read_list(path, cache=False)
    err = info.value
    assert err.exit_code == 2 and err.path == str(path)
    assert "\n" not in str(err) and str(err).startswith(str(path) + ": ")
    if entry is not None:
        assert err.entry == entry, str(err)


@FUZZ
@given(items=entries, layout=layouts,
       edits=st.lists(st.tuples(st.floats(0, 1), st.binary(max_size=3)), min_size=1,
                      max_size=4))
def test_random_byte_edits_give_data_or_a_typed_error(items, layout, edits):
    data = bytearray(dump({"data": items}, **layout))
    for where, new in edits:
        at = int(where * len(data))
        data[at:at + max(len(new), 1)] = new  # replace as many bytes, or delete one
    with temp_file("l.json", bytes(data)) as path:
        try:
            got = read_list(path, cache=False)
        except AvprepError as err:
            assert isinstance(err, InputError) and err.path == str(path)
        else:
            assert all(isinstance(getattr(e, f), str) for e in got for f in FIELDS)


def parsed_or_format_error(read, path: Path):
    """``read(path)``'s result, or None when it raised a :class:`FormatError` whose one-line
    message names ``path`` (exit code 2); any other exception propagates and fails the test."""
    try:
        return read(path)
    except FormatError as err:
        assert err.path == str(path) and err.exit_code == 2
        assert str(err).startswith(str(path) + ": ") and "\n" not in str(err)
        return None


@FEW
@example(data=b'{"data": []}')
@example(data=b'{"data": [{"video_id": "a", "wav": "", "video_path": "", "labels": "x"}]}')
@given(data=st.binary(max_size=300))
def test_random_bytes_give_data_or_a_typed_error(data):
    """A list whose four fields are strings in every entry, or a FormatError naming the file."""
    with temp_file("l.json", data) as path:
        got = parsed_or_format_error(lambda p: read_list(p, cache=False), path)
    if got is not None:
        assert isinstance(got, DataList)
        n = len(got)
        assert all(len(getattr(got, f)) == n for f in FIELDS)
        assert all(isinstance(getattr(e, f), str) for e in got for f in FIELDS)
        written = json.loads(data.decode("utf-8-sig"))["data"]  # what the bytes hold
        assert [e.to_dict() for e in got] == [{f: e[f] for f in FIELDS} for e in written]


@pytest.mark.parametrize("text, entry", [
    ("null", None), (" null\n", None), ("[" * 100000 + "]" * 100000, None),
    ('{"data": [' + "[" * 100000 + "]" * 100000 + "]}", None),
    ('{"data": [{"video_id": 1' + "0" * 5000 + ', "wav": "", "video_path": "", "labels": ""}]}',
     None),
    ('{"data": [{"video_id": "\\ud800", "wav": "", "video_path": "", "labels": ""}]}', 0),
    ('{"data": [{"video_id": "a", "wav": "", "video_path": "", "labels": ""},\n'
     ' {"video_id": "b", "wav": "\\udfff x", "video_path": "", "labels": ""}]}', 1),
])
def test_inputs_that_broke_the_reader(tmp_path, text, entry):
    """Found by fuzzing: a top-level null crashed Arrow's parser (SIGSEGV), deep nesting, an
    over-long integer and lone surrogate escapes raised untyped errors."""
    path = write(tmp_path, "l.json", text.encode())
    with pytest.raises(FormatError) as info:
        read_list(path, cache=False)
    assert info.value.entry == entry


def test_huge_fields_are_data(tmp_path):
    big = "☃" * (1 << 19)  # 0.5 M characters, 1.5 MB as UTF-8: also takes the cached path
    items = [{"video_id": big, "wav": "w", "video_path": "p", "labels": "/m/a"},
             {"video_id": "b", "wav": "w" * 100000, "video_path": "p", "labels": "/m/a," * 5000}]
    path = write(tmp_path, "l.json", dump({"data": items}, indent=1, ensure_ascii=False))
    for _ in range(2):  # parse, then the cache
        got = read_list(path)
        assert got.video_id == [big, "b"] and got.labels[1] == "/m/a," * 5000


def test_huge_fields_through_the_commands(tmp_path, capsys, label_csv):
    """A huge id or label is data; what the commands print about it stays short."""
    big = "☃" * (1 << 19)
    items = [{"video_id": big, "wav": "w", "video_path": "p", "labels": "/m/a"},
             {"video_id": "b", "wav": "w", "video_path": "p", "labels": "/m/x" * 100000}]
    path = write(tmp_path, "l.json", dump({"data": items}, indent=1, ensure_ascii=False))
    code, out, err = run(capsys, "validate", path, "--labels", label_csv, "--json",
                         tmp_path / "r.json")
    assert code == 1 and max(len(line) for line in out.splitlines()) < 200
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["problems"]["unsafe_id"]["examples"] == [big]  # the report keeps it whole
    code, out, err = run(capsys, "weights", path, "--labels", label_csv, "-o",
                         tmp_path / "w.csv")
    assert_one_line_error(code, err, path, entry=1)
    assert len(err) < 1200 and not (tmp_path / "w.csv").exists()


# label CSV reader --------------------------------------------------------------------------

mid_text = st.text(st.characters(codec="utf-8", exclude_characters='\r\n",'), min_size=1,
                   max_size=12).map(str.strip).filter(bool)
label_sets = st.lists(st.tuples(mid_text, st.text(max_size=30)), min_size=1, max_size=8,
                      unique_by=lambda pair: pair[0])


@FUZZ
@given(pairs=label_sets, crlf=st.booleans(), bom=st.booleans())
def test_any_label_set_is_read_back(pairs, crlf, bom):
    labels = LabelSet.from_pairs(pairs)
    text = labels_text(labels)
    if crlf:
        text = text.replace("\n", "\r\n")
    with temp_file("c.csv", (b"\xef\xbb\xbf" if bom else b"") + text.encode()) as path:
        got = read_labels(path)
    assert got.mids == labels.mids
    if not crlf:
        assert got.names == labels.names
    else:  # a line break inside a quoted name is text: CRLF there stays CRLF
        assert got.names == [n.replace("\n", "\r\n") for n in labels.names]


@st.composite
def unusable_label_files(draw):
    """Bytes of a label CSV that cannot be used."""
    pairs = draw(label_sets)
    # one item per row (a quoted name may hold a line break), and the final empty line
    lines = ["index,mid,display_name"] + [
        f'{i},{mid},"{name.replace(chr(34), chr(34) * 2)}"' for i, (mid, name) in enumerate(pairs)
    ] + [""]
    kind = draw(st.sampled_from(["empty", "header_only", "no_column", "bad_index", "repeat_index",
                                 "repeat_mid", "gap", "not_utf8", "short_row"]))
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\n\n"]))
    if kind == "header_only":
        lines = lines[:1]
    elif kind == "no_column":
        lines[0] = draw(st.sampled_from(["index,name,display_name", "id,mid,display_name",
                                         "index,mid", "mid"]))
    elif kind == "bad_index":
        row = draw(st.integers(1, len(pairs)))
        lines[row] = draw(st.sampled_from(["x", "1.5", "", "0x1", "1e3"])) + \
            lines[row][lines[row].index(","):]
    elif kind in ("repeat_index", "repeat_mid"):
        lines.insert(len(lines) - 1, lines[1] if kind == "repeat_mid"
                     else f"0,/m/unique-{len(pairs)},\"x\"")
        if kind == "repeat_mid":
            lines[-2] = f"{len(pairs)}" + lines[-2][lines[-2].index(","):]
    elif kind == "gap":
        lines.insert(len(lines) - 1, f"{len(pairs) + draw(st.integers(1, 5))},/m/gap,\"g\"")
    elif kind == "short_row":
        lines.insert(len(lines) - 1, f"{len(pairs)}")
    else:
        return ("\n".join(lines)).encode() + b"\xff\xfe\n"
    return "\n".join(lines).encode()


@FUZZ
@given(data=unusable_label_files())
def test_unusable_label_files_raise_a_format_error(data):
    with temp_file("labels.csv", data) as path:
        with pytest.raises(FormatError) as info:
            read_labels(path)
    assert info.value.path == str(path) and "\n" not in str(info.value)


@FEW
@example(data=LABEL_CSV_TEXT.encode())
@given(data=st.binary(max_size=300))
def test_random_label_bytes_give_labels_or_a_typed_error(data):
    with temp_file("labels.csv", data) as path:
        got = parsed_or_format_error(read_labels, path)
    if got is not None:
        assert isinstance(got, LabelSet) and len(got) >= 1
        assert all(isinstance(m, str) and m for m in got.mids) and len(set(got.mids)) == len(got)


# weight CSV reader -------------------------------------------------------------------------

@FUZZ
@given(weights=st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30),
       crlf=st.booleans(), bom=st.booleans())
def test_any_numbers_are_weights(weights, crlf, bom):
    text = weights_text(np.array(weights, dtype=np.float64))
    if crlf:
        text = text.replace("\n", "\r\n")
    with temp_file("w.csv", (b"\xef\xbb\xbf" if bom else b"") + text.encode()) as path:
        got = read_weights(path)
    np.testing.assert_array_equal(got, np.array(weights, dtype=np.float64))


@FUZZ
@given(weights=st.lists(st.floats(-1e6, 1e6), max_size=20), at=st.integers(0, 20),
       bad=st.sampled_from(["", "x", "1,2", "1 2", "--1", "0x10", "1e", "nan nan", "\x00",
                            "1.0.0", "١,٢"]))
def test_a_line_that_is_not_one_number_is_named(weights, at, bad):
    lines = [repr(w) for w in weights]
    at = min(at, len(lines))
    lines.insert(at, bad)
    with temp_file("w.csv", ("\n".join(lines) + "\n").encode()) as path:
        with pytest.raises(FormatError) as info:
            read_weights(path)
    assert f"line {at + 1}:" in str(info.value) and info.value.path == str(path)


@FEW
@example(data=b"1.5\n-2\n")
@given(data=st.binary(max_size=300))
def test_random_weight_bytes_give_numbers_or_a_typed_error(data):
    with temp_file("w.csv", data) as path:
        got = parsed_or_format_error(read_weights, path)
    if got is not None:
        assert got.dtype == np.float64 and got.ndim == 1


# the commands ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def label_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("labels") / "class_labels_indices.csv"
    path.write_text(LABEL_CSV_TEXT)
    return path


@FUZZ
@given(case=unusable_lists(), command=st.sampled_from(["validate", "weights", "build-list"]))
def test_commands_exit_2_on_an_unusable_list_and_write_nothing(capsys, label_csv, case, command):
    data, entry = case
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = write(folder, "bad list.json", data)
        out = folder / "out"
        before = files_in(folder)
        if command == "validate":
            argv = ["validate", path, "--labels", label_csv, "--json", out / "r.json"]
        elif command == "weights":
            argv = ["weights", path, "--labels", label_csv, "-o", out / "w.csv"]
        else:
            argv = ["build-list", "--released", path, "--labels", label_csv,
                    "--audio-dir", folder, "--frame-dir", folder, "-o", out / "l.json",
                    "--weights-out", out / "w.csv", "--report", out / "report"]
        code, stdout, err = run(capsys, *argv)
        assert_one_line_error(code, err, path, entry)
        assert files_in(folder) == before and stdout == ""


@FUZZ
@given(items=known_entries, weights=st.one_of(st.none(), st.binary(max_size=60)),
       labels=st.one_of(st.none(), st.binary(max_size=80)),
       command=st.sampled_from(["validate", "weights", "build-list"]))
def test_commands_on_good_lists_with_fuzzed_side_files(capsys, label_csv, items, weights,
                                                       labels, command):
    """Any ids and a fuzzed label or weight file: a result (0/1) or exit 2 naming that file."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        listing = write(folder, "l.json", dump({"data": items}, indent=1))
        label_path = label_csv if labels is None else write(folder, "c.csv", labels)
        weight_path = None if weights is None else write(folder, "w.csv", weights)
        out = folder / "out"
        if command == "validate":
            argv = ["validate", listing, "--labels", label_path, "--json", out / "r.json"]
            argv += ["--weights", weight_path] if weight_path else []
        elif command == "weights":
            argv = ["weights", listing, "--labels", label_path, "-o", out / "w.csv"]
        else:
            argv = ["build-list", "--released", listing, "--labels", label_path,
                    "--audio-dir", folder, "--frame-dir", folder, "-o", out / "l.json",
                    "--weights-out", out / "w.csv"]
            argv += ["--weights", weight_path] if weight_path else []
        code, stdout, err = run(capsys, *argv)
        assert code in (0, 1, 2), err
        assert "Traceback" not in err and "internal error" not in err
        if code == 2:
            named = [p for p in (label_path, weight_path) if p is not None and str(p) in err]
            assert_one_line_error(code, err, named[0] if named else listing)
            assert not out.exists()
        elif command == "validate":
            report = json.loads((out / "r.json").read_text())
            assert set(report) == {"problems", "summary"}
            # the summary: one line, then one per kind of problem, whatever the ids hold
            assert len(stdout.strip("\n").split("\n")) == 1 + len(report["problems"]), stdout
        elif command == "weights":
            got = read_weights(out / "w.csv")
            assert len(got) == len(items) and np.isfinite(got).all()
        else:  # no media: nothing kept, said on stderr
            assert code == 1 and read_list(out / "l.json", cache=False).video_id == []


def test_commands_as_processes_print_one_line(tmp_path, label_csv):
    """Through ``python -m avprep``: the exit code and stderr a user sees, for a few cases."""
    cases = [(b"null", None), (b'{"data": [{"video_id": "a"}]}', 0), (b"\xff\xfe{", None),
             (b'{"data": [', None)]
    for k, (data, entry) in enumerate(cases):
        path = write(tmp_path, f"l{k}.json", data)
        argv = [["validate", path, "--labels", label_csv, "--json", tmp_path / "r.json"],
                ["weights", path, "--labels", label_csv, "-o", tmp_path / "w.csv"],
                ["build-list", "--released", path, "--labels", label_csv, "--audio-dir",
                 tmp_path, "--frame-dir", tmp_path, "-o", tmp_path / "o.json"],
                ["validate", tmp_path / "good.json", "--labels", path]][k]
        if k == 3:
            (tmp_path / "good.json").write_text('{"data": []}')
        res = subprocess.run([sys.executable, "-m", "avprep", *map(str, argv)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, AVPREP_PROGRESS="0"))
        assert_one_line_error(res.returncode, res.stderr, path, entry)
        assert res.stdout == ""
        assert not any((tmp_path / n).exists() for n in ("r.json", "w.csv", "o.json"))
