"""``avprep fetch`` against a real HTTP server on 127.0.0.1: resume, drops, corruption, lock, and
every kind of bad download (cut off, too long, HTML, compressed, changed while resuming, too big,
too slow, not what it claims to be) refused with a message that says how to recover."""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import http.server
import io
import json
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

from avprep.cli import main
from avprep.errors import InputError, IntegrityError
from avprep.fetch import (LOCK_NAME, PART_SUFFIX, DownloadError, download, fetch, fetch_one,
                          read_lock, source_url)
from avprep.lists import read_labels, write_list, write_weights
from avprep.synth.lists import synthetic_list
from avprep.manifests import Resource
from helpers import SAMPLES
from helpers.media_server import start_partial

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"
META = ".avprep-part.json"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` with an ETag (or a Last-Modified date, or neither: see
    ``server.validators``); honours Range and If-Range unless ``server.ignore_range`` /
    ``server.ignore_if_range``; drops the connection once after ``server.drop[name]`` bytes.
    ``server.routes[name]`` answers a name its own (broken) way instead."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        srv = self.server
        name = self.path.lstrip("/").split("?")[0]
        srv.requests.append((name, self.headers.get("Range")))
        srv.if_ranges.append(self.headers.get("If-Range"))
        if name in srv.routes:
            try:
                srv.routes[name](self)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        body = srv.files.get(name)
        if body is None:
            self.send_error(404)
            return
        digest = hashlib.sha1(body).hexdigest()
        etag = f'"{digest[:16]}"' if srv.validators == "etag" else None
        modified = (email.utils.formatdate(1.6e9 + int(digest[:6], 16), usegmt=True)
                    if srv.validators == "last-modified" else None)
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if_range = self.headers.get("If-Range")
        same = if_range is None or srv.ignore_if_range or if_range in (etag, modified)
        if match and not srv.ignore_range and same:
            start = int(match.group(1))
            if not start_partial(self, start, len(body) - 1, len(body)):
                return
        else:
            self.send_response(200)
        for header, value in (("ETag", etag), ("Last-Modified", modified)):
            if value:
                self.send_header(header, value)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        drop = srv.drop.pop(name, None)
        if drop is not None and drop > start:
            self.wfile.write(body[start:drop])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.drop, srv.requests, srv.ignore_range = {}, {}, [], False
    srv.routes, srv.if_ranges, srv.validators, srv.ignore_if_range = {}, [], "etag", False
    srv.stop = threading.Event()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.stop.set()
    srv.shutdown()
    srv.server_close()


# broken answers: each a route, server.routes[name] = route ---------------------------------

def _send(handler, status=200, length=None, **headers):
    handler.send_response(status)
    if length is not None:
        handler.send_header("Content-Length", str(length))
    for key, value in headers.items():
        handler.send_header(key.replace("_", "-"), value)
    handler.end_headers()


def cut_without_length(body: bytes, at: int):
    """200 without Content-Length; the connection closes cleanly after ``at`` bytes."""
    def route(h):
        _send(h)
        h.wfile.write(body[:at])
    return route


def longer_than_announced(body: bytes, extra: bytes):
    """Content-Length says len(body); body + extra is sent."""
    def route(h):
        _send(h, length=len(body))
        h.wfile.write(body + extra)
    return route


def encoded(body: bytes, encoding: str):
    """``body`` gzip-compressed, sent with ``Content-Encoding: <encoding>``."""
    def route(h):
        packed = gzip.compress(body, mtime=0)
        _send(h, length=len(packed), Content_Encoding=encoding)
        h.wfile.write(packed)
    return route


def trickle(body: bytes, every: float):
    """One byte each ``every`` seconds, with Content-Length and an ETag."""
    def route(h):
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
        _send(h, length=len(body), ETag=etag)
        for i in range(len(body)):
            if h.server.stop.is_set():
                return
            h.wfile.write(body[i:i + 1])
            h.wfile.flush()
            time.sleep(every)
    return route


def announces(length: int):
    """Announces ``length`` bytes and sends zeros until the client goes away."""
    def route(h):
        _send(h, length=length)
        endless_zeros(h)
    return route


def endless_zeros(h):
    while not h.server.stop.is_set():
        h.wfile.write(bytes(64 << 10))


def without_length_endless(h):
    _send(h)
    endless_zeros(h)


# payloads: real files of each kind ---------------------------------------------------------

def _checkpoint(n: int, seed: int = 0) -> bytes:
    """A real state dict file of about ``n`` bytes, in the released ``module.`` layout."""
    gen = torch.Generator().manual_seed(seed)
    buf = io.BytesIO()
    torch.save({"module.w": torch.randn(max(1, n // 4), generator=gen)}, buf)
    return buf.getvalue()


def _list_bytes(tmp_path: Path, n: int, seed: int = 0) -> bytes:
    path = tmp_path / f".list-{n}-{seed}.json"
    write_list(path, synthetic_list(n, read_labels(LABEL_CSV), seed=seed))
    return path.read_bytes()


def _resource(name: str, remote: str, file: str = None, kind: str = "checkpoint",
              **info) -> Resource:
    return Resource(name, f"https://www.dropbox.com/s/abc/{remote}?dl=1", file or remote, kind,
                    "models", info)


def _labels_resource() -> Resource:
    return _resource("audioset-labels", "labels.csv", kind="labels", classes=527)


def _no_record(dest: Path, file: str) -> None:
    assert file not in read_lock(dest)
    assert not (dest / file).exists()
    assert not (dest / (file + PART_SUFFIX)).exists()


def test_source_url_base_override(monkeypatch):
    res = _resource("m", "as-full-51.2.pth")
    assert source_url(res) == res.url
    assert source_url(res, "http://127.0.0.1:9/mirror/") == \
        "http://127.0.0.1:9/mirror/as-full-51.2.pth"
    monkeypatch.setenv("AVPREP_FETCH_BASE_URL", "http://h/x")
    assert source_url(res) == "http://h/x/as-full-51.2.pth"


def test_download_records_and_verifies(server, tmp_path):
    data = _checkpoint(3_000_000)
    server.files["model.pth"] = data
    res = _resource("m", "model.pth")
    first = fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
    assert first.status == "downloaded"
    assert (tmp_path / "model.pth").read_bytes() == data
    lock = read_lock(tmp_path)["model.pth"]
    assert lock["size"] == len(data) and lock["sha256"] == hashlib.sha256(data).hexdigest()
    assert lock["url"] == f"{server.base}/model.pth"
    assert lock["kind"] == "checkpoint" and lock["checked"] == "checkpoint, 1 tensors"
    again = fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
    assert again.status == "verified" and again.sha256 == lock["sha256"]
    assert len(server.requests) == 1  # verified locally, not downloaded again
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME, "model.pth"]


def test_dropped_connection_resumes_with_range(server, tmp_path):
    data = _checkpoint(2_500_000, seed=1)
    server.files["big.pth"] = data
    server.drop["big.pth"] = 1_000_000
    res = _resource("l", "big.pth")
    result = fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
    assert result.status == "downloaded"
    assert (tmp_path / "big.pth").read_bytes() == data
    assert server.requests == [("big.pth", None), ("big.pth", "bytes=1000000-")]
    assert server.if_ranges[-1] == f'"{hashlib.sha1(data).hexdigest()[:16]}"'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.pth", LOCK_NAME]


def test_interrupted_run_continues_next_time(server, tmp_path):
    data = _checkpoint(1_500_000, seed=2)
    server.files["f.pth"] = data
    server.drop["f.pth"] = 600_000
    res = _resource("w", "f.pth")
    with pytest.raises(DownloadError) as info:
        fetch_one(res, tmp_path, server.base, retries=0, backoff=0, timeout=5)
    assert "after 1 tries" in str(info.value) and "rerun to continue" in str(info.value)
    assert not (tmp_path / "f.pth").exists()  # never a partial file under the final name
    part = tmp_path / ("f.pth" + PART_SUFFIX)
    assert part.read_bytes() == data[:600_000]
    assert fetch_one(res, tmp_path, server.base, retries=0, backoff=0).status == "downloaded"
    assert server.requests[-1] == ("f.pth", "bytes=600000-")
    assert (tmp_path / "f.pth").read_bytes() == data and not part.exists()


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    data = _checkpoint(800_000, seed=3)
    server.files["x.pth"] = data
    server.drop["x.pth"] = 300_000
    server.ignore_range = True
    fetch_one(_resource("x", "x.pth"), tmp_path, server.base, backoff=0, timeout=5)
    assert (tmp_path / "x.pth").read_bytes() == data


def test_complete_part_file_answered_416(server, tmp_path):
    data = _checkpoint(5000, seed=4)
    server.files["y.pth"] = data
    server.drop["y.pth"] = len(data) - 1
    with pytest.raises(DownloadError):
        fetch_one(_resource("y", "y.pth"), tmp_path, server.base, retries=0, backoff=0)
    part = tmp_path / ("y.pth" + PART_SUFFIX)
    part.write_bytes(data)  # as if the last byte had arrived and then the run was killed
    result = fetch_one(_resource("y", "y.pth"), tmp_path, server.base, backoff=0)
    assert result.status == "downloaded" and (tmp_path / "y.pth").read_bytes() == data
    assert server.requests[-1] == ("y.pth", f"bytes={len(data)}-")


def test_corrupted_copy_from_server_is_rejected(server, tmp_path):
    data = _checkpoint(400_000, seed=5)
    server.files["c.pth"] = data
    res = _resource("c", "c.pth")
    fetch_one(res, tmp_path, server.base, backoff=0)
    recorded = read_lock(tmp_path)["c.pth"]
    (tmp_path / "c.pth").unlink()
    server.files["c.pth"] = _checkpoint(400_000, seed=55)  # a valid checkpoint, another one
    with pytest.raises(IntegrityError) as info:
        fetch_one(res, tmp_path, server.base, backoff=0)
    assert "sha256" in str(info.value) and str(tmp_path / "c.pth") in str(info.value)
    assert "rerun with --force" in str(info.value)
    assert not (tmp_path / "c.pth").exists()
    assert not (tmp_path / ("c.pth" + PART_SUFFIX)).exists()
    assert read_lock(tmp_path)["c.pth"] == recorded  # the record is not overwritten
    # the source really changed: --force takes the new copy and replaces the record
    result = fetch_one(res, tmp_path, server.base, backoff=0, force=True)
    assert result.status == "replaced"
    assert read_lock(tmp_path)["c.pth"]["sha256"] == hashlib.sha256(
        server.files["c.pth"]).hexdigest()


def test_local_file_corrupted_is_reported_and_force_repairs(server, tmp_path):
    data = _checkpoint(300_000, seed=6)
    server.files["d.pth"] = data
    res = _resource("d", "d.pth")
    fetch_one(res, tmp_path, server.base, backoff=0)
    target = tmp_path / "d.pth"
    broken = bytearray(data)
    broken[-100] ^= 1
    target.write_bytes(bytes(broken))
    with pytest.raises(IntegrityError, match="does not match.*rerun with --force"):
        fetch_one(res, tmp_path, server.base, backoff=0)
    target.write_bytes(data[:-1])
    with pytest.raises(IntegrityError, match=f"size {len(data) - 1} vs {len(data)}"):
        fetch_one(res, tmp_path, server.base, backoff=0)
    assert fetch_one(res, tmp_path, server.base, force=True, backoff=0).status == "downloaded"
    assert target.read_bytes() == data


def test_existing_file_without_record_is_checked_then_recorded(server, tmp_path):
    data = _checkpoint(2000, seed=7)
    (tmp_path / "e.pth").write_bytes(data)
    result = fetch_one(_resource("e", "e.pth"), tmp_path, server.base, backoff=0)
    assert result.status == "recorded" and server.requests == []
    assert read_lock(tmp_path)["e.pth"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_missing_on_server_fails_and_others_go_on(server, tmp_path):
    server.files["ok.pth"] = _checkpoint(100)
    results = fetch([_resource("a", "absent.pth"), _resource("b", "ok.pth")], tmp_path,
                    server.base, backoff=0, timeout=5)
    assert [r.status for r in results] == ["failed", "downloaded"]
    assert "HTTP 404" in results[0].error
    assert not (tmp_path / "absent.pth").exists()
    assert not (tmp_path / ("absent.pth" + PART_SUFFIX)).exists()


def test_a_failed_download_names_the_final_file_not_the_part(server, tmp_path):
    with pytest.raises(DownloadError) as info:
        fetch_one(_resource("a", "absent.pth"), tmp_path, server.base, backoff=0, timeout=5)
    assert "HTTP 404" in str(info.value) and info.value.path == str(tmp_path / "absent.pth")


def test_download_gives_up_after_retries(server, tmp_path):
    data = _checkpoint(200_000)
    server.files["z"] = data
    part = tmp_path / ("z" + PART_SUFFIX)

    class Dropping(dict):
        def pop(self, key, default=None):  # drop every response after 1000 more bytes
            return (part.stat().st_size if part.exists() else 0) + 1000

    server.drop = Dropping()
    with pytest.raises(DownloadError, match="after 3 tries"):
        download(f"{server.base}/z", part, retries=2, backoff=0, timeout=5)
    assert part.stat().st_size == 3000


def test_cli_fetch_real_manifest_names(server, tmp_path, capsys):
    labels = LABEL_CSV.read_bytes()
    server.files["class_labels_indices.csv"] = labels
    server.drop["class_labels_indices.csv"] = 10_000
    dest = tmp_path / "as"
    rc = main(["fetch", "audioset-labels", "--dest", str(dest), "--base-url", server.base,
               "--timeout", "5"])
    assert rc == 0
    assert (dest / "class_labels_indices.csv").read_bytes() == labels
    assert "1 of 1 files" in capsys.readouterr().out
    lock = json.loads((dest / LOCK_NAME).read_text())
    assert lock["files"]["class_labels_indices.csv"]["name"] == "audioset-labels"
    assert lock["files"]["class_labels_indices.csv"]["size"] == len(labels)
    assert lock["files"]["class_labels_indices.csv"]["checked"] == "label CSV, 527 classes"

    # the whole group: the other five files are missing on this server -> exit 1, label kept
    rc = main(["fetch", "audioset-lists", "--dest", str(dest), "--base-url", server.base,
               "--retries", "0"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("failed:") == 5
    assert (dest / "class_labels_indices.csv").read_bytes() == labels
    assert sorted(p.name for p in dest.iterdir()) == ["class_labels_indices.csv", LOCK_NAME]


def test_cli_fetch_env_base_url_and_bad_names(server, tmp_path, monkeypatch, capsys):
    server.files["50.pth"] = _checkpoint(1000)
    monkeypatch.setenv("AVPREP_FETCH_BASE_URL", server.base)
    assert main(["fetch", "cav-mae-base-50", "--dest", str(tmp_path)]) == 0
    assert (tmp_path / "50.pth").read_bytes() == server.files["50.pth"]
    assert main(["fetch", "no-such-model", "--dest", str(tmp_path)]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert main(["fetch", "cav-mae-base"]) == 2


# bad downloads: each refused, nothing recorded, the message names the file and what to do --

def test_body_cut_off_without_content_length_is_refused(server, tmp_path):
    labels = LABEL_CSV.read_bytes()
    server.routes["labels.csv"] = cut_without_length(labels, 5000)  # cut after a row's end?
    res = _labels_resource()
    with pytest.raises(DownloadError) as info:
        fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
    msg = str(info.value)
    assert msg.startswith(str(tmp_path / "labels.csv") + ": ")
    assert "527" in msg and "not kept" in msg and "--base-url" in msg
    _no_record(tmp_path, "labels.csv")
    # the same server closing cleanly after the whole body (no length either): taken
    server.routes["labels.csv"] = cut_without_length(labels, len(labels))
    assert fetch_one(res, tmp_path, server.base, backoff=0, timeout=5).status == "downloaded"
    assert (tmp_path / "labels.csv").read_bytes() == labels


def test_body_cut_at_a_line_end_without_length_is_refused_by_its_row_count(server, tmp_path):
    labels = LABEL_CSV.read_bytes()
    at = labels.index(b"\n", 7000) + 1  # a clean cut: every row whole, classes missing
    server.routes["labels.csv"] = cut_without_length(labels, at)
    with pytest.raises(DownloadError, match=r"classes, expected 527"):
        fetch_one(_labels_resource(), tmp_path, server.base, backoff=0, timeout=5)
    _no_record(tmp_path, "labels.csv")


def test_more_bytes_than_content_length_are_refused(server, tmp_path):
    data = _checkpoint(50_000, seed=8)
    server.routes["m.pth"] = longer_than_announced(data, b"trailing garbage" * 100)
    with pytest.raises(DownloadError) as info:
        fetch_one(_resource("m", "m.pth"), tmp_path, server.base, backoff=0, timeout=5)
    assert f"more bytes than the {len(data)} its Content-Length announced" in str(info.value)
    assert str(tmp_path / "m.pth") in str(info.value) and "nothing kept" in str(info.value)
    _no_record(tmp_path, "m.pth")


@pytest.mark.parametrize("kind, file", [("list", "l.json"), ("labels", "labels.csv"),
                                        ("weights", "w.csv"), ("checkpoint", "c.pth")])
def test_html_page_with_status_200_is_refused(server, tmp_path, kind, file):
    page = (b"<!DOCTYPE html>\n<html><head><title>Error (429)</title></head>"
            b"<body>Too many requests: this link is temporarily disabled.</body></html>\n")
    server.files[file] = page
    with pytest.raises(DownloadError, match="an HTML page"):
        fetch_one(_resource("r", file, kind=kind, entries=3, classes=527), tmp_path,
                  server.base, backoff=0, timeout=5)
    _no_record(tmp_path, file)


def test_gzip_body_is_saved_decoded_and_other_encodings_refused(server, tmp_path):
    labels = LABEL_CSV.read_bytes()
    server.routes["labels.csv"] = encoded(labels, "gzip")
    result = fetch_one(_labels_resource(), tmp_path, server.base, backoff=0, timeout=5)
    assert result.status == "downloaded"
    assert (tmp_path / "labels.csv").read_bytes() == labels  # decoded, not still compressed
    assert read_lock(tmp_path)["labels.csv"]["sha256"] == hashlib.sha256(labels).hexdigest()

    server.routes["other.csv"] = encoded(labels, "br")
    with pytest.raises(DownloadError, match="Content-Encoding 'br'.*nothing kept"):
        fetch_one(_resource("o", "other.csv", kind="labels", classes=527), tmp_path,
                  server.base, backoff=0, timeout=5)
    _no_record(tmp_path, "other.csv")


@pytest.mark.parametrize("validators, ignore_if_range", [("etag", False), ("etag", True),
                                                        ("last-modified", False),
                                                        ("none", False)])
def test_resume_after_the_file_changed_never_mixes_copies(server, tmp_path, validators,
                                                           ignore_if_range):
    """A partial file from the first copy, then the server's file changes: the result is the
    new copy whole, whether the server honours If-Range, ignores it (its 206 carries another
    ETag) or sends no validator at all (then no Range is asked for)."""
    old, new = _checkpoint(600_000, seed=10), _checkpoint(600_000, seed=11)
    assert len(old) == len(new) and old != new
    server.validators, server.ignore_if_range = validators, ignore_if_range
    server.files["r.pth"] = old
    server.drop["r.pth"] = 250_000
    res = _resource("r", "r.pth")
    with pytest.raises(DownloadError):
        fetch_one(res, tmp_path, server.base, retries=0, backoff=0, timeout=5)
    assert (tmp_path / ("r.pth" + PART_SUFFIX)).stat().st_size == 250_000
    server.files["r.pth"] = new
    fetch_one(res, tmp_path, server.base, retries=1, backoff=0, timeout=5)
    assert (tmp_path / "r.pth").read_bytes() == new
    if validators == "none":
        assert server.requests[1] == ("r.pth", None)
    else:
        assert server.requests[1] == ("r.pth", "bytes=250000-")
        assert server.if_ranges[1] is not None


def test_garbage_file_already_in_dest_is_refused_until_forced(server, tmp_path, capsys):
    labels = LABEL_CSV.read_bytes()
    server.files["class_labels_indices.csv"] = labels
    dest = tmp_path / "as"
    dest.mkdir()
    target = dest / "class_labels_indices.csv"
    target.write_bytes(b"index,mid,display_name\n0,/m/x,\"only one\"\n")
    args = ["fetch", "audioset-labels", "--dest", str(dest), "--base-url", server.base]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{target}: is already in {dest} but is not the released label CSV: 1 classes, " \
           "expected 527" in err and "rerun with --force" in err
    assert server.requests == [] and not (dest / LOCK_NAME).exists()
    assert main(args + ["--force"]) == 0
    assert target.read_bytes() == labels
    assert read_lock(dest)["class_labels_indices.csv"]["size"] == len(labels)


def test_poisoned_record_from_an_older_version_is_refused_and_force_repairs(server, tmp_path,
                                                                             capsys):
    """A lock entry that recorded bad bytes without checking them (as earlier versions did):
    the file matches its record but is refused; --force replaces file and record."""
    labels = LABEL_CSV.read_bytes()
    server.files["class_labels_indices.csv"] = labels
    bad = b"<html><body>Service unavailable</body></html>"
    (tmp_path / "class_labels_indices.csv").write_bytes(bad)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"files": {"class_labels_indices.csv": {
        "name": "audioset-labels", "url": "x", "size": len(bad),
        "sha256": hashlib.sha256(bad).hexdigest(), "recorded": "2025-01-01T00:00:00+00:00"}}}))
    args = ["fetch", "audioset-labels", "--dest", str(tmp_path), "--base-url", server.base]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "matches fetch-lock.json but is not a label CSV but an HTML page" in err
    assert "rerun with --force" in err
    assert main(args + ["--force"]) == 0
    assert (tmp_path / "class_labels_indices.csv").read_bytes() == labels
    assert read_lock(tmp_path)["class_labels_indices.csv"]["sha256"] == \
        hashlib.sha256(labels).hexdigest()


def test_oversized_files_are_refused_by_their_kind_cap(server, tmp_path):
    res = _labels_resource()
    server.routes["labels.csv"] = announces(120_000_000)  # a 120 MB "label CSV"
    start = time.monotonic()
    with pytest.raises(DownloadError, match="announces 120000000 bytes, more than the 1048576"):
        fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
    assert time.monotonic() - start < 5
    _no_record(tmp_path, "labels.csv")
    server.routes["labels.csv"] = without_length_endless  # no length: stopped at the cap
    with pytest.raises(DownloadError, match="larger than the 1048576 bytes"):
        fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
    _no_record(tmp_path, "labels.csv")
    (tmp_path / "labels.csv").write_bytes(LABEL_CSV.read_bytes() * 80)  # already there
    with pytest.raises(IntegrityError, match="more than the 1048576 a label CSV may have"):
        fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
    assert server.requests == [("labels.csv", None)] * 2
    # a manifest's max_bytes overrides the kind's cap
    small = _resource("c", "c.pth", max_bytes=1000)
    server.files["c.pth"] = _checkpoint(5000)
    with pytest.raises(DownloadError, match="more than the 1000 bytes a file"):
        fetch_one(small, tmp_path, server.base, backoff=0, timeout=5)


def _bad_list(tmp_path):
    return _list_bytes(tmp_path, 40)


def _malicious_checkpoint(marker: Path) -> bytes:
    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    buf = io.BytesIO()
    torch.save({"module.w": torch.zeros(3), "extra": Payload()}, buf)
    return buf.getvalue()


def test_every_kind_is_checked_for_what_it_claims_to_be(server, tmp_path):
    """A list must have its entries, a label CSV its classes, a weight CSV its list's length, a
    checkpoint must load with weights_only=True (a pickle that would run code is refused and
    runs nothing); the right files pass."""
    marker = tmp_path / "code-ran"
    weights = tmp_path / ".w.csv"
    write_weights(weights, torch.rand(50, dtype=torch.float64).numpy())
    cases = [
        (_resource("l", "l.json", kind="list", entries=41), _list_bytes(tmp_path, 40),
         "40 entries, expected 41"),
        (_resource("w", "w.csv", kind="weights", entries=51), weights.read_bytes(),
         "50 weights, expected 51"),
        (_resource("b", "b.csv", kind="labels", classes=527), b"index,mid\n0,/m/a\n",
         "lacks column"),
        (_resource("c", "c.pth"), _malicious_checkpoint(marker), "not a valid checkpoint"),
        (_resource("t", "t.json", kind="list", entries=40), _list_bytes(tmp_path, 40)[:-300],
         "not a valid JSON list"),
    ]
    for res, body, why in cases:
        server.files[res.file] = body
        with pytest.raises(DownloadError, match=why):
            fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
        _no_record(tmp_path, res.file)
    assert not marker.exists()
    good = [(_resource("l", "l.json", kind="list", entries=40), _list_bytes(tmp_path, 40)),
            (_resource("w", "w.csv", kind="weights", entries=50), weights.read_bytes())]
    for res, body in good:
        server.files[res.file] = body
        assert fetch_one(res, tmp_path, server.base, backoff=0, timeout=5).ok
    assert read_lock(tmp_path)["w.csv"]["checked"] == "weight CSV, 50 weights"


def test_slow_server_meets_the_deadline_and_the_bytes_are_kept(server, tmp_path, capsys):
    """One byte every 20 ms never trips the per-read timeout, but the whole download stops at
    its deadline; the bytes received are kept and the next run continues from them."""
    labels = LABEL_CSV.read_bytes()
    server.routes["class_labels_indices.csv"] = trickle(labels, 0.02)
    args = ["fetch", "audioset-labels", "--dest", str(tmp_path), "--base-url", server.base,
            "--timeout", "2", "--deadline", "1"]
    start = time.monotonic()
    assert main(args) == 1
    assert time.monotonic() - start < 4
    err = capsys.readouterr().err
    part = tmp_path / ("class_labels_indices.csv" + PART_SUFFIX)
    kept = part.stat().st_size
    assert 10 < kept < len(labels)
    assert f"the {kept} bytes received are kept in {part.name}: rerun to continue" in err
    assert part.read_bytes() == labels[:kept]
    del server.routes["class_labels_indices.csv"]
    server.files["class_labels_indices.csv"] = labels
    assert main(args[:-2]) == 0
    assert server.requests[-1] == ("class_labels_indices.csv", f"bytes={kept}-")
    assert (tmp_path / "class_labels_indices.csv").read_bytes() == labels


def test_zoo_cache_refetches_a_file_that_fails_its_check_once(server, tmp_path, caplog):
    from avprep.models.zoo import cached_path, zoo_entries, find

    data = _checkpoint(4000, seed=12)
    server.files["z.pth"] = data
    manifest = tmp_path / "zoo.json"
    manifest.write_text(json.dumps([{"name": "Zed", "url": f"{server.base}/z.pth"}]))
    entry = find("zed", zoo_entries(manifest))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "z.pth").write_bytes(b"PK\x03\x04 not really a checkpoint")
    with pytest.raises(InputError, match="fails its check.*--force"):
        cached_path(entry, cache, download=False)
    assert server.requests == []
    with caplog.at_level(logging.WARNING):
        assert cached_path(entry, cache) == cache / "z.pth"
    assert "fails its check" in caplog.text and "downloading it again" in caplog.text
    assert (cache / "z.pth").read_bytes() == data and len(server.requests) == 1
    assert cached_path(entry, cache) == cache / "z.pth" and len(server.requests) == 1
    # a server that only has a bad copy: fetched again once, then a clear error
    (cache / "z.pth").write_bytes(b"junk")
    server.files["z.pth"] = b"<html>gone</html>"
    with pytest.raises(InputError, match="downloading it again failed.*HTML page"):
        cached_path(entry, cache)
    assert len(server.requests) == 2
