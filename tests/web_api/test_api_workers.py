"""Two uvicorn worker processes editing one store: the ETag guarantee holds across processes.

Editors in parallel threads read a sector, PATCH ``version + 1`` with ``If-Match`` and, on 412,
read again and retry. Whatever worker serves each request, no update may be lost and every
change must be in the journal, each starting from the version the previous one produced.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import children, serve_process
from conftest_api import build_store

from ort_geo import auth

EDITORS = 4
ROUNDS = 8
URL = "/collections/secteurs_ort/items/centre"


pytestmark = pytest.mark.postgis


@pytest.fixture
def two_workers(postgis_schema_url):
    """``ort-geo serve --workers 2`` on a PostGIS store (the multi-user backend)."""
    store = build_store(postgis_schema_url())
    key = auth.create_key(store, "Chef de projet", "editor")
    with serve_process(store.url, "--workers", "2", timeout=120) as (base, proc):
        workers = children(proc.pid)
        yield base, key, store, workers
    store.close()


def _editor(base: str, key: str) -> tuple[int, int]:
    done = conflicts = 0
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
        while done < ROUNDS:
            current = client.get(URL)
            version = current.json()["properties"]["version"]
            resp = client.patch(URL, json={"properties": {"version": version + 1}},
                                headers={"If-Match": current.headers["etag"],
                                         "Content-Type": "application/merge-patch+json"})
            if resp.status_code == 412:
                conflicts += 1
                continue
            assert resp.status_code == 200, resp.text
            done += 1
    return done, conflicts


def test_two_workers_lose_no_update(two_workers):
    base, key, store, workers = two_workers
    assert len(workers) >= 2  # uvicorn really runs two worker processes
    start = store.get("secteurs_ort", "centre").properties["version"]
    with ThreadPoolExecutor(EDITORS) as pool:
        outcomes = list(pool.map(lambda _: _editor(base, key), range(EDITORS)))
    total = EDITORS * ROUNDS
    assert sum(done for done, _ in outcomes) == total
    assert store.get("secteurs_ort", "centre").properties["version"] == start + total
    updates = [e for e in store.history("secteurs_ort", "centre") if e.operation == "update"]
    assert [(e.before.properties["version"], e.after.properties["version"]) for e in updates] \
        == [(v, v + 1) for v in range(start, start + total)]
    assert {e.author for e in updates} == {"Chef de projet"}
