"""``ort-geo serve`` answers without Nagle's algorithm on every connection, whatever the worker
count (issue 16, point 3: a PATCH alone ≤ 50 ms).

With ``--workers`` > 1, uvicorn binds the listening socket itself and asyncio then leaves Nagle
on for accepted connections; a response's body (written after its headers) waited for the
client's delayed ACK: ~40 ms on every keep-alive request. The test reads the option on the
server's own end of a live connection: the worker's socket, duplicated with ``pidfd_getfd``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket

import pytest
from conftest import children, serve_process
from conftest_api import build_store

PIDFD_GETFD = 438  # the same number on every Linux architecture (asm-generic table)


def _server_end(pids: list[int], client: tuple[str, int]) -> socket.socket | None:
    """The socket of one of ``pids`` whose peer is ``client`` (a duplicate of it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for pid in pids:
        pidfd = os.pidfd_open(int(pid))
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                        continue
                except OSError:  # closed meanwhile
                    continue
                dup = libc.syscall(PIDFD_GETFD, pidfd, int(fd), 0)
                if dup < 0:
                    code = ctypes.get_errno()
                    if code in (errno.EPERM, errno.ENOSYS):
                        pytest.skip(f"pidfd_getfd indisponible ici ({os.strerror(code)})")
                    continue
                sock = socket.socket(fileno=dup)
                try:
                    if sock.type == socket.SOCK_STREAM and sock.getpeername() == client:
                        return sock
                except OSError:  # a listening or unconnected socket
                    pass
                sock.close()
        finally:
            os.close(pidfd)
    return None


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="Linux only")
def test_every_worker_connection_has_nagle_off(tmp_path):
    store = build_store(tmp_path / "atlas.gpkg")
    store.close()
    with serve_process(store.url, "--workers", "2", timeout=120) as (base, proc):
        workers = children(proc.pid)
        host, port = base.removeprefix("http://").split(":")
        seen = 0
        for _ in range(6):  # new connections: the kernel spreads them over both workers
            with socket.create_connection((host, int(port))) as client:
                client.sendall(b"GET /conformance HTTP/1.1\r\nHost: test\r\n\r\n")
                assert client.recv(12) == b"HTTP/1.1 200"
                server_end = _server_end(workers, client.getsockname())
                assert server_end is not None
                with server_end:
                    assert server_end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
                seen += 1
        assert seen == 6


def test_a_request_the_server_cannot_parse_gets_a_french_answer(tmp_path):
    """Raw bytes outside ASCII in the request line, a negative length: uvicorn answers before
    the application, in English plain text unless the protocol says otherwise."""
    import json

    store = build_store(tmp_path / "atlas.gpkg")
    store.close()
    with serve_process(store.url) as (base, _):
        host, port = base.removeprefix("http://").split(":")
        for request in (b"GET /collections/b\xe2timents/items HTTP/1.1\r\nHost: t\r\n\r\n",
                        b"POST /stats HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n"):
            with socket.create_connection((host, int(port)), timeout=30) as client:
                client.sendall(request)
                answer = b""
                while chunk := client.recv(65536):  # the server closes the connection after
                    answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 ") and b"application/json" in head, answer
            problem = json.loads(body)
            assert problem["description"].startswith("Requête HTTP mal formée"), problem
