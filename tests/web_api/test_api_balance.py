"""``ort-geo serve --workers 2`` spreads a burst of connections over its server processes: each
listens on its own socket of the port (SO_REUSEPORT), where uvicorn's workers shared one and the
first to wake took every pending connection."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

import pytest
from conftest import alive, children, descendants, serve_process
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
    sockets = {pid: _inodes(pid) for pid in children(server)}
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


def _port_is_served(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as fh:
        pairs = [item.partition(b"=") for item in fh.read().split(b"\0") if item]
    return {key.decode(): value.decode() for key, _, value in pairs}


def test_workers_keep_the_users_language_and_end_with_a_killed_supervisor(tmp_path,
                                                                          monkeypatch):
    """The CLI speaks French through ``LANGUAGE=fr`` for click's words only: the server
    processes it starts get the user's own ``LANGUAGE``. SIGKILL to the supervisor runs no
    handler of its: its workers must still go (the kernel tells them), not keep serving the
    port as orphans."""
    monkeypatch.setenv("LANGUAGE", "en")  # inherited by the server: the user's language
    store = build_store(tmp_path / "atlas.gpkg")
    store.close()
    with serve_process(store.url, "--workers", "2", timeout=120) as (base, proc):
        port = int(base.rsplit(":", 1)[1])
        deadline = time.monotonic() + 120
        while len(workers := _listening_workers(proc.pid, port)[0]) < 2:
            assert time.monotonic() < deadline, "les deux processus serveurs n'écoutent pas"
            time.sleep(0.2)
        assert [_environ(pid).get("LANGUAGE") for pid in workers] == ["en", "en"]
        family = descendants(proc.pid)
        assert set(workers) <= set(family)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(15)
        try:
            deadline = time.monotonic() + 30
            while (left := [p for p in family if alive(p)]) or _port_is_served(port):
                assert time.monotonic() < deadline, f"orphelins : {left}"
                time.sleep(0.2)
        finally:  # a failing run leaves no orphan behind either
            for pid in family:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
