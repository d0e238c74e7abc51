"""Where clips lie: AudioSet segment CSVs (as released and stripped), vggsound.csv, VGGSound ids,
the LIST forms of ``avprep download``, and ids whose start is unknown."""

from __future__ import annotations

import json

import pytest

from avprep.download.segments import (Segment, csv_kind, read_audioset_segments, read_ids,
                                      read_segment_tables, read_vggsound_csv, resolve,
                                      vggsound_segment)
from avprep.errors import FormatError, InputError

RELEASED = (
    "# Segments csv created Sun Mar  5 10:54:31 2017\n"
    "# num_ytids=3, num_segs=3, num_unique_labels=3, num_positive_labels=4\n"
    "# YTID, start_seconds, end_seconds, positive_labels\n"
    '-0RWZT-miFs, 420.000, 430.000, "/m/03v3yw,/m/0k4j"\n'
    '--4gqARaEJE, 0.000, 10.000, "/m/068hy"\n'
    'AbCdEfGhIjK, 30.500, 40.500, "/m/09x0r"\n')
WANT = {"-0RWZT-miFs": (420.0, 430.0), "--4gqARaEJE": (0.0, 10.0),
        "AbCdEfGhIjK": (30.5, 40.5)}


@pytest.mark.parametrize("variant", ["released", "no-spaces", "one-header", "no-header", "crlf"])
def test_audioset_csv_variants(tmp_path, variant):
    text = RELEASED
    if variant == "no-spaces":
        text = text.replace(", ", ",")
    elif variant == "one-header":
        text = "".join(text.splitlines(True)[2:])
    elif variant == "no-header":
        text = "".join(text.splitlines(True)[3:]).replace(", ", ",")
    elif variant == "crlf":
        text = text.replace("\n", "\r\n")
    path = tmp_path / "segments.csv"
    path.write_text(text, newline="")
    assert csv_kind(path) == "audioset"
    assert read_audioset_segments(path) == WANT
    assert list(read_ids(path).ids) == list(WANT)


@pytest.mark.parametrize("row, message", [
    ("-0RWZT-miFs, 430.000, 420.000, \"/m/x\"", "not after start"),
    ("-0RWZT-miFs, abc, 420.000, \"/m/x\"", "not a number"),
    ("short, 0, 10, \"/m/x\"", "not a YouTube id"),
])
def test_audioset_csv_bad_rows_name_the_line(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text(RELEASED + row + "\n")
    with pytest.raises(FormatError, match=f"bad.csv: entry line 7: .*{message}"):
        read_audioset_segments(path)


def test_vggsound_csv_and_ids(tmp_path):
    path = tmp_path / "vggsound.csv"
    path.write_text('---g-f_I2yQ,1,people marching,test\n'
                    '--0PQM4-hqg,30,"waterfall burbling, rushing",train\n')
    assert csv_kind(path) == "vggsound"
    clips = read_vggsound_csv(path)
    assert clips == [Segment("---g-f_I2yQ_000001", "---g-f_I2yQ", 1.0, 11.0),
                     Segment("--0PQM4-hqg_000030", "--0PQM4-hqg", 30.0, 40.0)]
    source = read_ids(path)
    assert source.ids == ["---g-f_I2yQ_000001", "--0PQM4-hqg_000030"]
    assert resolve(source.ids, source.segments, {}) == clips
    assert vggsound_segment("--0PQM4-hqg_000030") == clips[1]
    assert vggsound_segment("--0PQM4-hqg_30") is None
    with pytest.raises(InputError, match="give vggsound.csv as the LIST"):
        read_segment_tables([path])


def test_list_forms(tmp_path):
    segs = tmp_path / "eval_segments.csv"
    segs.write_text(RELEASED)
    table = read_segment_tables([segs])
    ids = ["--4gqARaEJE", "KlsG1EnBEjc_000361", "-0RWZT-miFs"]
    as_json = tmp_path / "list.json"
    as_json.write_text(json.dumps({"data": [
        {"video_id": v, "wav": f"/a/{v}.wav", "video_path": "/f", "labels": "/m/x"}
        for v in ids + ids[:1]]}))
    as_text = tmp_path / "ids.txt"
    as_text.write_text("# my ids\n" + "\n".join(ids) + "\n\n" + ids[0] + "\n")
    for path in (as_json, as_text):
        source = read_ids(path)
        assert source.ids == ids  # duplicates keep their first place
        got = resolve(source.ids, source.segments, table)
        assert got == [Segment("--4gqARaEJE", "--4gqARaEJE", 0.0, 10.0),
                       Segment("KlsG1EnBEjc_000361", "KlsG1EnBEjc", 361.0, 371.0),
                       Segment("-0RWZT-miFs", "-0RWZT-miFs", 420.0, 430.0)]


def test_unknown_start_is_an_input_error_naming_the_id(tmp_path):
    segs = tmp_path / "eval_segments.csv"
    segs.write_text(RELEASED)
    table = read_segment_tables([segs])
    with pytest.raises(InputError, match=r"ids.txt: no known start for id 'ZZZZZZZZZZZ' "
                                         r"\(and 1 more ids\): .*--segments"):
        resolve(["--4gqARaEJE", "ZZZZZZZZZZZ", "my_clip"], {}, table, source="ids.txt")
    with pytest.raises(InputError, match="no known start for id 'my_clip': expected"):
        resolve(["my_clip"], {}, table)


def test_empty_or_foreign_lists(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(InputError, match="empty.txt: the list names no ids"):
        read_ids(empty)
    other = tmp_path / "other.csv"
    other.write_text("name,value\nx,y\n")
    with pytest.raises(FormatError, match="other.csv: a CSV that is neither"):
        read_ids(other)
    unsafe = tmp_path / "unsafe.txt"
    unsafe.write_text("../../etc/passwd\n")
    with pytest.raises(InputError, match="unsafe video id"):
        read_ids(unsafe)
    with pytest.raises(InputError, match="no such file"):
        read_ids(tmp_path / "missing.txt")


def _table(n: int) -> str:
    """A released-format segments CSV of ``n`` rows with distinct YouTube ids."""
    rows = "".join(f'Seg{i:08d}, {i % 300}.000, {i % 300 + 10}.000, "/m/09x0r"\n' for i in range(n))
    return RELEASED[:RELEASED.index("-0RWZT")] + rows


def test_fetch_gets_the_segment_tables(tmp_path):
    """``avprep fetch audioset-segments vggsound-csv`` names the four files (served here by a
    mirror on 127.0.0.1); each is checked as a segments CSV with the manifest's segment count
    before it is recorded, and what it fetches reads as segment tables."""
    import functools
    import http.server
    import threading

    from avprep.cli import main

    served = tmp_path / "mirror"
    served.mkdir()
    (served / "eval_segments.csv").write_text(_table(20371))
    (served / "balanced_train_segments.csv").write_text(_table(22160))
    (served / "unbalanced_train_segments.csv").write_text(RELEASED)
    (served / "vggsound.csv").write_text("<!DOCTYPE html><html>the site is down</html>\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    dest = tmp_path / "segments"
    try:
        assert main(["fetch", "audioset-segments", "vggsound-csv", "--dest", str(dest),
                     "--base-url", base]) == 1  # the HTML page is refused, the rest kept
        assert not (dest / "vggsound.csv").exists()
        (served / "vggsound.csv").write_text("---g-f_I2yQ,1,people marching,test\n")
        assert main(["fetch", "vggsound-csv", "--dest", str(dest), "--base-url", base]) == 0
        (served / "eval_segments.csv").write_text(_table(100))
        assert main(["fetch", "audioset-segments-eval", "--dest", str(tmp_path / "short"),
                     "--base-url", base]) == 1  # 100 segments, the manifest says 20371
    finally:
        srv.shutdown()
        srv.server_close()
    table = read_segment_tables(sorted(dest.glob("*_segments.csv")))
    assert len(table) == 22160 + 3 and table["-0RWZT-miFs"] == (420.0, 430.0)  # ids shared
    assert read_ids(dest / "vggsound.csv").ids == ["---g-f_I2yQ_000001"]
