"""``ort-geo serve --workers 2`` spreads a burst of connections over its server processes: each
listens on its own socket of the port (SO_REUSEPORT), where uvicorn's workers shared one and the
first to wake took every pending connection."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from conftest import serve_process
from conftest_api import build_store

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def _inodes(pid: int) -> set[int]:
    """The inodes of a process's sockets."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def _tcp(port: int) -> list[tuple[str, int, int]]:
    """(state, remote port, inode) of the IPv4 sockets whose local port is ``port``."""
    rows = []
    with open("/proc/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if int(local.split(":")[1], 16) == port:
                rows.append((state, int(remote.split(":")[1], 16), inode))
    return rows


def _listening_workers(server: int, port: int) -> tuple[list[int], set[int]]:
    """The server's child processes holding a listening socket of ``port``, and those sockets."""
    children = subprocess.run(["pgrep", "-P", str(server)], capture_output=True,
                              text=True).stdout.split()
    sockets = {int(pid): _inodes(int(pid)) for pid in children}
    listening = {inode for state, _, inode in _tcp(port) if state == "0A"}
    return [pid for pid, inodes in sockets.items() if inodes & listening], listening


def test_a_burst_of_connections_reaches_every_worker(tmp_path):
    store = build_store(tmp_path / "atlas.gpkg")
    store.close()
    with serve_process(store.url, "--workers", "2", timeout=120) as (base, proc):
        port = int(base.rsplit(":", 1)[1])
        # The server answers as soon as one worker listens; the other may still be importing.
        deadline = time.monotonic() + 120
        while True:
            workers, listening = _listening_workers(proc.pid, port)
            if len(workers) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(workers) == 2 and len(listening) == 2  # one listening socket each
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(16)]
        try:
            for client in clients:  # a request each: every connection accepted by now
                client.sendall(b"GET /conformance HTTP/1.1\r\nHost: t\r\n\r\n")
            for client in clients:
                assert client.recv(65536).startswith(b"HTTP/1.1 200")
            ours = {c.getsockname()[1] for c in clients}
            served = {inode for state, remote, inode in _tcp(port)
                      if state == "01" and remote in ours}
            per_worker = [len(_inodes(pid) & served) for pid in workers]
        finally:
            for client in clients:
                client.close()
    assert sum(per_worker) == 16 and min(per_worker) >= 1, per_worker
