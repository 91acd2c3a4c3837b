"""Fixtures of the API tests: a small store around Sainte-Marie-aux-Mines, keys, a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest_api import build_store

from ort_geo import auth


@pytest.fixture(scope="module")
def api_store(tmp_path_factory, backend, request):
    """The API's store, on each backend (a fresh PostGIS schema per module)."""
    if backend == "postgis":
        store = build_store(request.getfixturevalue("postgis_schema_url")())
    else:
        store = build_store(tmp_path_factory.mktemp("api") / "atlas.gpkg")
    yield store
    store.close()


@pytest.fixture(scope="module")
def keys(api_store) -> dict[str, str]:
    return {"staff": auth.create_key(api_store, "Anah 68", "staff"),
            "editor": auth.create_key(api_store, "Chef de projet PVD", "editor"),
            "editor2": auth.create_key(api_store, "Urbaniste", "editor")}


@pytest.fixture(scope="module")
def client(api_store, keys):
    from fastapi.testclient import TestClient

    from api import create_app

    with TestClient(create_app(api_store.url)) as c:
        yield c


@pytest.fixture(scope="module")
def demo(demo_copy, tmp_path_factory, backend):
    """A client on a copy of the demo store (with its territory, so the rules apply; editing
    tests change it: one copy per module) and its keys, on each backend."""
    from fastapi.testclient import TestClient

    from api import create_app

    st = demo_copy(backend, tmp_path_factory.mktemp("demo-api"))
    keys = {"staff": auth.create_key(st, "Anah", "staff"),
            "editor": auth.create_key(st, "Chef de projet", "editor")}
    with TestClient(create_app(st.url)) as client:
        yield client, st, keys
    st.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), None once the
    process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Whether a process still runs (a zombie has ended; an orphan is reaped by init)."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"


def _parents() -> dict[int, int]:
    """The parent of every living (not zombie) process, read from ``/proc`` (no ``pgrep``:
    minimal images lack procps)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(int(entry))
            if fields is not None and fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    return parents


def children(pid: int) -> list[int]:
    """The living child processes of a process (``pgrep -P pid``)."""
    return sorted(c for c, p in _parents().items() if p == pid)


def descendants(pid: int) -> list[int]:
    """Every living descendant of a process (children, their children…)."""
    parents = _parents()
    found, frontier = [], [pid]
    while frontier:
        children = [c for c, p in parents.items() if p in frontier]
        found += children
        frontier = children
    return found


@contextmanager
def serve_process(store_url, *args: str, timeout: float = 30, log: Path | None = None
                  ) -> Iterator[tuple[str, subprocess.Popen]]:
    """``ort-geo serve [args]`` on a free port of 127.0.0.1, in its own process.

    Yields its base URL and the process. A separate process, not a thread: GDAL's HTTP client
    holds the GIL while it waits. The server's standard error goes to ``log`` (a file the test
    reads), else to a temporary file shown if it does not start (a pipe nobody reads would
    block a talkative server once full).
    """
    port = free_port()
    exe = str(Path(sys.executable).with_name("ort-geo"))
    if "--workers" not in args:  # one process unless a test asks (the default is one per core)
        args = ("--workers", "1", *args)
    with (open(log, "w+b") if log is not None else tempfile.TemporaryFile()) as errors:
        proc = subprocess.Popen([exe, "serve", "--store", str(store_url), "--port", str(port),
                                 *args], stdout=subprocess.DEVNULL, stderr=errors)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    httpx.get(f"{url}/conformance", timeout=1)
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        proc.terminate()
                        proc.wait(15)
                        errors.seek(0)
                        raise RuntimeError("le serveur n'a pas démarré : "
                                           f"{errors.read().decode(errors='replace')}") from None
                    time.sleep(0.1)
            yield url, proc
        finally:
            proc.terminate()
            proc.wait(15)


@contextmanager
def serve(store_url) -> Iterator[str]:
    """``ort-geo serve`` on a free port of 127.0.0.1; yields its base URL."""
    with serve_process(store_url) as (url, _):
        yield url


@pytest.fixture(scope="module")
def live_server(api_store, keys):
    with serve(api_store.url) as url:
        yield url
