"""The geometry pool (``api/offload.py``): heavy perimeters are parsed, checked and joined in
worker processes — same answers and same French errors as in-process, 503 + Retry-After when
saturated, niced workers, and no process left behind when the server or the TestClient ends."""

from __future__ import annotations

import io
import math
import os
import pickle
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import hostile
import httpx
import pytest
from conftest import alive, descendants, proc_stat, serve_process
from conftest_api import build_store
from fastapi.testclient import TestClient

import ort_geo.webmap.assets
import ort_geo.webmap.browser  # noqa: F401 - their errors are library errors too
from api import create_app, editing, offload
from ort_geo import errors
from ort_geo.geomcheck import MAX_REQUEST_VERTICES

GEOJSON = {"Content-Type": "application/geo+json"}


def _ring(n: int, radius: float = 0.004) -> list[list[float]]:
    ring = [[hostile.LON + radius * math.cos(2 * math.pi * k / n),
             hostile.LAT + radius * math.sin(2 * math.pi * k / n)] for k in range(n)]
    return [*ring, ring[0]]


def _polygon(n: int) -> bytes:
    return hostile.dumps({"type": "Polygon", "coordinates": [_ring(n)]})


# 12,000 vertices (~480 KB): above offload.SMALL_BODY, so it goes to the pool, yet quick.
HEAVY = 12_000
SMALL = 200


def _gone(pids: list[int], timeout: float) -> list[int]:
    """The pids still alive (not zombies) after waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _nice(pid: int) -> int | None:
    fields = proc_stat(pid)
    return None if fields is None else int(fields[16])  # None: ended meanwhile


def test_every_library_error_survives_pickling():
    """Errors raised in a worker come back by pickling: each must rebuild as itself."""
    special = {errors.MissingExtraError: ("pdf", "weasyprint"),
               errors.MissingToolError: ("chromium",)}
    seen = set()
    stack = [errors.OrtGeoError]
    while stack:
        cls = stack.pop()
        seen.add(cls)
        stack += [c for c in cls.__subclasses__() if c not in seen]
    assert editing.PreconditionRequired in seen and len(seen) > 15
    for cls in seen:
        exc = cls(*special.get(cls, ("Message en français : « x ».",)))
        if cls is errors.ConflictError:
            exc = cls("Version périmée.", layer="secteurs_ort", feature_id="centre")
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is cls and str(back) == str(exc) and back.__dict__ == exc.__dict__


def test_heavy_perimeters_run_in_the_pool_with_the_same_answers(api_store, keys):
    """Same result and same French refusals whether a perimeter is small (a thread) or heavy
    (the pool); an uploaded file goes to the pool too; the pool ends with the TestClient."""
    app = create_app(api_store.url)
    pool = app.state.geometry_pool
    staff = {"X-API-Key": keys["staff"]}
    unclosed = _ring(HEAVY)[:-1]
    cases = [  # (path, body, expected status, words of the French message)
        ("/batiments/within", _polygon(HEAVY), 200, None),
        ("/stats", _polygon(HEAVY), 200, None),
        ("/batiments/within", hostile.dumps({"type": "Polygon", "coordinates": [unclosed]}),
         400, "anneau non fermé"),
        ("/stats", hostile.dumps({"type": "Polygon", "coordinates": [
            [*unclosed[:-2], [float("nan"), hostile.LAT], unclosed[0]]]}), 400, "NaN"),
        ("/batiments/within", _polygon(MAX_REQUEST_VERTICES + 5), 413, "trop de sommets"),
    ]
    with TestClient(app) as client:
        small = client.post("/batiments/within", content=_polygon(SMALL), headers=GEOJSON)
        assert small.status_code == 200 and pool.pids() == []  # small: stayed in-process
        for path, body, status, words in cases:
            assert len(body) > offload.SMALL_BODY
            resp = client.post(path, content=body, headers={**GEOJSON, **staff})
            assert resp.status_code == status, resp.text[:300]
            if words:
                assert words in resp.json()["description"], resp.text[:300]
            assert "Traceback" not in resp.text
        pids = pool.pids()
        assert len(pids) == offload.DEFAULT_PROCESSES and os.getpid() not in pids
        heavy = client.post("/batiments/within", content=_polygon(HEAVY), headers=GEOJSON).json()
        upload = io.BytesIO(_polygon(HEAVY))
        resp = client.post("/batiments/within", files={"fichier": ("zone.geojson", upload)})
        assert resp.status_code == 200 and _ids(resp.json()) == _ids(heavy)
        assert pool.pending == 0
    assert _gone(pids, 15) == []
    # The same buildings as without a pool (everything in the server's threads).
    with TestClient(create_app(api_store.url, geometry_processes=0)) as client:
        inline = client.post("/batiments/within", content=_polygon(HEAVY), headers=GEOJSON).json()
    assert inline == heavy and heavy["numberMatched"] > 0


def _ids(collection: dict) -> list[str]:
    return sorted(f["id"] for f in collection["features"])


@pytest.fixture(scope="module")
def gpkg_store(tmp_path_factory):
    """Process lifecycles do not depend on the backend: one GeoPackage store."""
    return build_store(tmp_path_factory.mktemp("offload") / "atlas.gpkg")


def test_a_saturated_pool_answers_503_with_retry_after(gpkg_store):
    """Every slot taken: a heavy request is refused at once (before its body is read) with a
    French 503 and Retry-After; small requests still pass; once a slot frees, heavy ones too."""
    app = create_app(gpkg_store.url, geometry_processes=1, geometry_queue=1)
    pool = app.state.geometry_pool

    async def hold() -> None:
        async with pool.slot() as job:
            await job.run(time.sleep, 3)

    with TestClient(app) as client:
        held = client.portal.start_task_soon(hold)
        while pool.pending == 0:
            time.sleep(0.01)
        resp = client.post("/batiments/within", content=_polygon(HEAVY), headers=GEOJSON)
        assert resp.status_code == 503, resp.text[:300]
        assert resp.headers["retry-after"] == str(offload.RETRY_AFTER)
        assert "Serveur occupé" in resp.json()["description"]
        assert client.post("/batiments/within", content=_polygon(SMALL),
                           headers=GEOJSON).status_code == 200
        held.result(timeout=60)
        assert pool.pending == 0
        assert client.post("/batiments/within", content=_polygon(HEAVY),
                           headers=GEOJSON).status_code == 200


def test_pool_processes_are_niced_and_end_with_their_server(gpkg_store):
    """``ort-geo serve --workers 2``: heavy perimeters are answered by each server process's
    pool, whose processes run at a lower priority. A server process killed outright (SIGKILL:
    no shutdown code runs) leaves no orphan — its workers read end-of-file on the pipe only the
    server held, and the fork server follows — and SIGTERM to the whole server (what systemd
    sends) leaves no process behind."""
    body = _polygon(HEAVY)
    with serve_process(gpkg_store.url, "--workers", "2", timeout=120) as (url, proc):

        def post(_: int) -> int:
            return httpx.post(f"{url}/batiments/within", content=body, headers=GEOJSON,
                              timeout=120).status_code

        with ThreadPoolExecutor(2) as clients:
            assert list(clients.map(post, range(4))) == [200] * 4
        family = descendants(proc.pid)
        # Relative to the server's own niceness: the suite itself may run under `nice`.
        lowered = min(19, (_nice(proc.pid) or 0) + offload.NICENESS)
        niced = [p for p in family if _nice(p) == lowered]
        assert len(niced) >= offload.DEFAULT_PROCESSES, family
        # The server process (a child of uvicorn's supervisor) that runs a pool, and its pool.
        server = next(p for p in os.listdir("/proc") if p.isdigit() and int(p) in family
                      and _parent(int(p)) == proc.pid and set(niced) & set(descendants(int(p))))
        pool = descendants(int(server))
        os.kill(int(server), signal.SIGKILL)
        assert _gone(pool, 15) == []
        family = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert _gone(family, 15) == []


def _parent(pid: int) -> int | None:
    fields = proc_stat(pid)
    return None if fields is None else int(fields[1])


@pytest.fixture(autouse=True)
def _no_leftover_children():
    """No test of this module may leave a child process of the test process behind."""
    before = set(descendants(os.getpid()))
    yield
    after = [p for p in descendants(os.getpid()) if p not in before and not _singleton(p)]
    assert _gone(after, 15) == []


def _singleton(pid: int) -> bool:
    """multiprocessing's fork server and resource tracker: one each per process, idle, they
    end with their parent."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            command = fh.read()
    except OSError:
        return False
    return any(f"multiprocessing.{name} import main".encode() in command
               for name in ("forkserver", "resource_tracker"))
