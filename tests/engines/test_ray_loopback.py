"""The private Ray cluster of an ``--engine ray`` run listens on loopback only.

During a real ``avprep extract --engine ray`` run, the listening TCP sockets (IPv4 and IPv6) of the
run's own process tree are read from /proc again and again until it ends: every one must be bound
to 127.0.0.1 or ::1 (an IPv6 socket bound to ::ffff:127.0.0.1 is loopback too), and the GCS,
the raylet, the driver and a worker must each have been seen listening, so that the check is not
vacuous.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, List, Set, Tuple

from avprep.engines.ray import SINGLE_NODE_ENV, loopback_only, on_loopback
from avprep.synth import make_clip

LISTEN = "0A"  # TCP state in /proc/net/tcp*


def _parent_of(pid: str) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def process_tree(root: int) -> List[int]:
    """``root`` and all its descendants, from the parent ids in /proc/<pid>/stat."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(_parent_of(entry), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _address(hex_ip: str) -> ipaddress._BaseAddress:
    """A /proc/net/tcp* address: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_ip)
    return ipaddress.ip_address(b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))


def listening_sockets(pid: int) -> Dict[str, Tuple[ipaddress._BaseAddress, int]]:
    """socket inode -> (address, port) of every listening TCP socket in ``pid``'s namespace."""
    found = {}
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == LISTEN:
                ip, port = fields[1].split(":")
                found[fields[9]] = (_address(ip), int(port, 16))
    return found


def listeners(root: int) -> Set[Tuple[str, str, int]]:
    """``(process name, address, port)`` of every socket that ``root``'s process tree listens on."""
    tree = process_tree(root)
    sockets = listening_sockets(root)
    out = set()
    for pid in tree:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        for link in links:
            inode = link[len("socket:["):-1] if link.startswith("socket:[") else None
            if inode in sockets:
                ip, port = sockets[inode]
                out.add((name if pid != root else "driver", str(ip), port))
    return out


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, or an IPv4-mapped loopback address."""
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def names(seen: Iterable[Tuple[str, str, int]]) -> Set[str]:
    return {name for name, _, _ in seen}


def test_every_listener_of_a_private_ray_cluster_is_on_loopback(tmp_path):
    videos = tmp_path / "videos"
    for k in range(4):
        make_clip(videos / f"clip{k}.mp4", width=160, height=120, duration=3, tone=300 + 80 * k)
    env = dict(os.environ, AVPREP_PROGRESS="0")
    for name in ("RAY_ADDRESS", SINGLE_NODE_ENV):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "avprep", "extract", str(videos), "--audio-dir",
         str(tmp_path / "A"), "--frame-dir", str(tmp_path / "F"), "--log",
         str(tmp_path / "log.jsonl"), "--workers", "2", "--engine", "ray"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    seen: Set[Tuple[str, str, int]] = set()
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            seen |= listeners(proc.pid)
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, stderr
    assert len(list((tmp_path / "A").glob("*.wav"))) == 4
    exposed = sorted(s for s in seen if not is_loopback(s[1]))
    assert not exposed, f"listening beyond loopback: {exposed}"
    assert {"driver", "gcs_server", "raylet"} <= names(seen), sorted(seen)
    assert any(name.startswith("ray::") and "Agent" not in name for name in names(seen)), \
        f"no worker was seen listening: {sorted(seen)}"


def test_loopback_only_restores_what_it_changed(monkeypatch):
    from ray._private import ray_constants

    monkeypatch.setenv(SINGLE_NODE_ENV, "1")
    before = ray_constants.ENABLE_RAY_CLUSTER
    with loopback_only():
        assert ray_constants.ENABLE_RAY_CLUSTER is False
        assert os.environ[SINGLE_NODE_ENV] == "0"
    assert ray_constants.ENABLE_RAY_CLUSTER == before
    assert os.environ[SINGLE_NODE_ENV] == "1"
    monkeypatch.delenv(SINGLE_NODE_ENV)
    with loopback_only():
        pass
    assert SINGLE_NODE_ENV not in os.environ


def test_on_loopback_tells_a_cluster_on_this_machine_from_others():
    assert on_loopback("127.0.0.1:6379") and on_loopback("localhost:1") and on_loopback("[::1]:1")
    assert on_loopback("127.0.1.1:6379")
    assert not on_loopback("10.0.0.1:6379") and not on_loopback("auto")
    assert not on_loopback("head.example:6379") and not on_loopback("ray://127.0.0.2")
