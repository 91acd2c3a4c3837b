"""Optimistic concurrency across OS processes: no lost update, every change journaled.

Two processes repeatedly read the same feature and write ``version + 1`` with ``if_match`` set to
the ETag they read; on a conflict they re-read and retry. If any update were lost, the final
version would fall short of the number of successful writes.
"""

from __future__ import annotations

import multiprocessing as mp

import geopandas as gpd
import shapely

from ort_geo.errors import ConflictError

WRITERS = 3
ROUNDS = 20


def _writer(url: str, name: str, start, results) -> None:
    from ort_geo import open_store

    store = open_store(url)
    start.wait()
    done = conflicts = 0
    while done < ROUNDS:
        current = store.get("secteurs_ort", "s1")
        try:
            store.update("secteurs_ort", "s1", {"version": current.properties["version"] + 1},
                         author=name, if_match=current.etag)
        except ConflictError:
            conflicts += 1
            continue
        done += 1
    store.close()
    results.put((name, done, conflicts))


def test_two_processes_keep_every_update(store):
    frame = gpd.GeoDataFrame(
        [{"id": "s1", "nom": "Centre", "type": "centre_ville_principal", "version": 1}],
        geometry=[shapely.box(1010000, 6800000, 1011000, 6801000)], crs="EPSG:2154")
    store.write("secteurs_ort", frame, author="init")
    ctx = mp.get_context("spawn")
    start, results = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(store.url, f"editeur{i}", start, results))
             for i in range(WRITERS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(done for _, done, _ in outcomes) == WRITERS * ROUNDS
    assert store.get("secteurs_ort", "s1").properties["version"] == WRITERS * ROUNDS + 1
    history = store.history("secteurs_ort", "s1")
    assert [e.operation for e in history] == ["insert"] + ["update"] * WRITERS * ROUNDS
    # Each journaled change starts from the version the previous one produced.
    versions = [(e.before.properties["version"], e.after.properties["version"])
                for e in history[1:]]
    assert versions == [(n, n + 1) for n in range(1, WRITERS * ROUNDS + 1)]
    assert {e.author for e in history[1:]} == {f"editeur{i}" for i in range(WRITERS)}
