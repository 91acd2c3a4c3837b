"""At most ``threads`` request handlers run at once in a server process; the others wait their
turn and are all answered (a bounded thread pool instead of 40 threads fighting over the GIL)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest_api import build_store
from fastapi.testclient import TestClient

from api import create_app
from ort_geo import auth


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("threads") / "atlas.gpkg")


@pytest.mark.parametrize("threads", [1, 2])
def test_handlers_run_at_most_threads_at_once(store, threads):
    key = auth.create_key(store, f"Anah {threads}", "staff")
    app = create_app(store.url, threads=threads)
    inside = peak = 0
    lock = threading.Lock()
    read_page = app.state.store.read_page

    def watched(*args, **kwargs):  # the store's own read, counted while it runs
        nonlocal inside, peak
        with lock:
            inside += 1
            peak = max(peak, inside)
        try:
            time.sleep(0.05)  # long enough for the other requests to arrive meanwhile
            return read_page(*args, **kwargs)
        finally:
            with lock:
                inside -= 1

    app.state.store.read_page = watched
    with TestClient(app) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda _: client.get("/collections/batiments/items?limit=5",
                                 headers={"X-API-Key": key}), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert peak == threads


def test_a_serving_app_keeps_its_startup_objects_out_of_the_collector(store):
    """While the app serves, what it built before its first request is frozen (a full garbage
    collection walks only what requests leave: 70-80 ms pauses otherwise, the p99 of a busy
    server); after it, nothing stays frozen."""
    import gc

    with TestClient(create_app(store.url)) as client:
        assert client.get("/conformance").status_code == 200
        frozen = gc.get_freeze_count()
        assert frozen > 50_000 and len(gc.get_objects()) < frozen
    assert gc.get_freeze_count() == 0
