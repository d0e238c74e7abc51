"""``avprep fetch`` against a real HTTP server on 127.0.0.1: resume, drops, corruption, lock."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import socket
import threading
from pathlib import Path

import pytest

from avprep.cli import main
from avprep.errors import IntegrityError
from avprep.fetch import (LOCK_NAME, PART_SUFFIX, DownloadError, download, fetch, fetch_one,
                          read_lock, source_url)
from avprep.manifests import Resource
from conftest import SAMPLES

LABEL_CSV = SAMPLES / "class_labels_indices_as.csv"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours Range unless ``server.ignore_range``; drops the
    connection once after ``server.drop[name]`` bytes."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        srv = self.server
        name = self.path.lstrip("/").split("?")[0]
        srv.requests.append((name, self.headers.get("Range")))
        body = srv.files.get(name)
        if body is None:
            self.send_error(404)
            return
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if match and not srv.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
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
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _resource(name: str, remote: str, file: str = None) -> Resource:
    return Resource(name, f"https://www.dropbox.com/s/abc/{remote}?dl=1", file or remote,
                    "checkpoint", "models")


def _payload(n: int, seed: int = 0) -> bytes:
    out, block = bytearray(), hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def test_source_url_base_override(monkeypatch):
    res = _resource("m", "as-full-51.2.pth")
    assert source_url(res) == res.url
    assert source_url(res, "http://127.0.0.1:9/mirror/") == \
        "http://127.0.0.1:9/mirror/as-full-51.2.pth"
    monkeypatch.setenv("AVPREP_FETCH_BASE_URL", "http://h/x")
    assert source_url(res) == "http://h/x/as-full-51.2.pth"


def test_download_records_and_verifies(server, tmp_path):
    data = _payload(3_000_000)
    server.files["model.pth"] = data
    res = _resource("m", "model.pth")
    first = fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
    assert first.status == "downloaded"
    assert (tmp_path / "model.pth").read_bytes() == data
    lock = read_lock(tmp_path)["model.pth"]
    assert lock["size"] == len(data) and lock["sha256"] == hashlib.sha256(data).hexdigest()
    assert lock["url"] == f"{server.base}/model.pth"
    again = fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
    assert again.status == "verified" and again.sha256 == lock["sha256"]
    assert len(server.requests) == 1  # verified locally, not downloaded again
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME, "model.pth"]


def test_dropped_connection_resumes_with_range(server, tmp_path):
    data = _payload(2_500_000, seed=1)
    server.files["big.json"] = data
    server.drop["big.json"] = 1_000_000
    res = _resource("l", "big.json")
    result = fetch_one(res, tmp_path, server.base, backoff=0, timeout=5)
    assert result.status == "downloaded"
    assert (tmp_path / "big.json").read_bytes() == data
    assert server.requests == [("big.json", None), ("big.json", "bytes=1000000-")]
    assert not (tmp_path / ("big.json" + PART_SUFFIX)).exists()


def test_interrupted_run_continues_next_time(server, tmp_path):
    data = _payload(1_500_000, seed=2)
    server.files["f.csv"] = data
    server.drop["f.csv"] = 600_000
    res = _resource("w", "f.csv")
    with pytest.raises(DownloadError) as info:
        fetch_one(res, tmp_path, server.base, retries=0, backoff=0, timeout=5)
    assert "after 1 tries" in str(info.value)
    assert not (tmp_path / "f.csv").exists()  # never a partial file under the final name
    part = tmp_path / ("f.csv" + PART_SUFFIX)
    assert part.read_bytes() == data[:600_000]
    assert fetch_one(res, tmp_path, server.base, retries=0, backoff=0).status == "downloaded"
    assert server.requests[-1] == ("f.csv", "bytes=600000-")
    assert (tmp_path / "f.csv").read_bytes() == data and not part.exists()


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    data = _payload(800_000, seed=3)
    server.files["x.pth"] = data
    server.drop["x.pth"] = 300_000
    server.ignore_range = True
    fetch_one(_resource("x", "x.pth"), tmp_path, server.base, backoff=0, timeout=5)
    assert (tmp_path / "x.pth").read_bytes() == data


def test_complete_part_file_answered_416(server, tmp_path):
    data = _payload(5000, seed=4)
    server.files["y.pth"] = data
    (tmp_path / ("y.pth" + PART_SUFFIX)).write_bytes(data)
    result = fetch_one(_resource("y", "y.pth"), tmp_path, server.base, backoff=0)
    assert result.status == "downloaded" and (tmp_path / "y.pth").read_bytes() == data


def test_corrupted_copy_from_server_is_rejected(server, tmp_path):
    data = _payload(400_000, seed=5)
    server.files["c.pth"] = data
    res = _resource("c", "c.pth")
    fetch_one(res, tmp_path, server.base, backoff=0)
    recorded = read_lock(tmp_path)["c.pth"]
    (tmp_path / "c.pth").unlink()
    corrupted = bytearray(data)
    corrupted[123_456] ^= 0xFF
    server.files["c.pth"] = bytes(corrupted)
    with pytest.raises(IntegrityError) as info:
        fetch_one(res, tmp_path, server.base, backoff=0)
    assert "sha256" in str(info.value) and str(tmp_path / "c.pth") in str(info.value)
    assert not (tmp_path / "c.pth").exists()
    assert not (tmp_path / ("c.pth" + PART_SUFFIX)).exists()
    assert read_lock(tmp_path)["c.pth"] == recorded  # the record is not overwritten


def test_local_file_corrupted_is_reported_and_force_repairs(server, tmp_path):
    data = _payload(300_000, seed=6)
    server.files["d.pth"] = data
    res = _resource("d", "d.pth")
    fetch_one(res, tmp_path, server.base, backoff=0)
    target = tmp_path / "d.pth"
    broken = bytearray(data)
    broken[10] ^= 1
    target.write_bytes(bytes(broken))
    with pytest.raises(IntegrityError, match="does not match"):
        fetch_one(res, tmp_path, server.base, backoff=0)
    target.write_bytes(data[:-1])
    with pytest.raises(IntegrityError, match="size 299999 vs 300000"):
        fetch_one(res, tmp_path, server.base, backoff=0)
    assert fetch_one(res, tmp_path, server.base, force=True, backoff=0).status == "downloaded"
    assert target.read_bytes() == data


def test_existing_file_without_record_is_recorded(server, tmp_path):
    (tmp_path / "e.pth").write_bytes(b"local copy")
    result = fetch_one(_resource("e", "e.pth"), tmp_path, server.base, backoff=0)
    assert result.status == "recorded" and server.requests == []
    assert read_lock(tmp_path)["e.pth"]["sha256"] == hashlib.sha256(b"local copy").hexdigest()


def test_missing_on_server_fails_and_others_go_on(server, tmp_path):
    server.files["ok.pth"] = b"fine"
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
    data = _payload(200_000)
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

    # the whole group: the other five files are missing on this server -> exit 1, label kept
    rc = main(["fetch", "audioset-lists", "--dest", str(dest), "--base-url", server.base,
               "--retries", "0"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("failed:") == 5
    assert (dest / "class_labels_indices.csv").read_bytes() == labels
    assert sorted(p.name for p in dest.iterdir()) == ["class_labels_indices.csv", LOCK_NAME]


def test_cli_fetch_env_base_url_and_bad_names(server, tmp_path, monkeypatch, capsys):
    server.files["50.pth"] = _payload(1000)
    monkeypatch.setenv("AVPREP_FETCH_BASE_URL", server.base)
    assert main(["fetch", "cav-mae-base-50", "--dest", str(tmp_path)]) == 0
    assert (tmp_path / "50.pth").read_bytes() == _payload(1000)
    assert main(["fetch", "no-such-model", "--dest", str(tmp_path)]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert main(["fetch", "cav-mae-base"]) == 2
