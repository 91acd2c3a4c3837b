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
import subprocess
import sys

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


#: uvicorn's English an operator must not read (its information lines, its warnings' words).
UVICORN_WORDS = ("INFO", "WARNING", "ERROR", "Uvicorn", "Started", "Waiting", "Application",
                 "Shutting", "Finished", "upgrade request", "WebSocket", "Invalid HTTP")


@pytest.mark.parametrize("backend, workers", [("gpkg", "1"), ("postgis", "2")])
def test_the_operator_reads_the_servers_lines_in_french(tmp_path, request, backend, workers):
    """``ort-geo serve``: the tool's French line (address, store — its password hidden —,
    processes), then uvicorn's warnings in French (a protocol upgrade a client asks for, a
    request it cannot parse), nothing else; with one process (uvicorn.run) and several (the
    supervisor's workers)."""
    url = (request.getfixturevalue("postgis_schema_url")() if backend == "postgis"
           else tmp_path / "atlas.gpkg")
    store = build_store(url)
    store.close()
    log = tmp_path / "serve.log"
    with serve_process(store.url, "--workers", workers, timeout=120, log=log) as (base, _):
        host, port = base.removeprefix("http://").split(":")
        for raw in (b"GET /conformance HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                    b"Upgrade: h2c\r\n\r\n", b"GET /b\xe2 HTTP/1.1\r\nHost: t\r\n\r\n"):
            with socket.create_connection((host, int(port)), timeout=30) as client:
                client.sendall(raw)
                assert client.recv(65536).startswith(b"HTTP/1.1 ")
    text = log.read_text()
    shown = store.url.replace(":ortgeo@", ":***@") if backend == "postgis" else store.url
    assert ":ortgeo@" not in text
    assert " ".join(text.split()).startswith(
        f"API ort-geo sur {base}/ (entrepôt {shown}, {workers} processus) — Ctrl+C pour "
        "arrêter."), text
    assert "Avertissement : Changement de protocole (Upgrade) non pris en charge demandé par un " \
           "client : requête servie en HTTP." in text, text
    assert "Avertissement : Requête HTTP mal formée reçue : réponse 400." in text, text
    assert [w for w in UVICORN_WORDS if w in text] == [], text


def test_uvicorn_errors_reach_the_operator_in_french_with_their_detail():
    """An error uvicorn logs is never dropped: known ones in French (a traceback follows),
    others as uvicorn words them; its information lines stay off."""
    code = (
        "import logging, logging.config\n"
        "from ort_geo.cli.serve import log_config\n"
        "logging.config.dictConfig(log_config())\n"
        "log = logging.getLogger('uvicorn.error')\n"
        "log.info('Started server process [%d]', 1)\n"
        "log.error('Something new: %s', 'detail')\n"
        "try:\n    1 / 0\n"
        "except ZeroDivisionError as exc:\n"
        "    log.error('Exception in ASGI application\\n', exc_info=exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    lines = done.stderr.splitlines()
    assert lines[0] == "Erreur : Something new: detail", done.stderr
    assert lines[1] == "Erreur : Erreur imprévue de l'application (détail ci-dessous) :"
    assert lines[-1] == "ZeroDivisionError: division by zero" and "Started" not in done.stderr

