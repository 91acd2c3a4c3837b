"""The user's statistics path at scale (issue 16): streamed batches read ahead by a worker
thread, stale points found through an index, and a ``ort-geo stats`` process that loads only
what statistics need — with the same figures as an independent brute force."""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from stats_data import YEAR, assert_stats_equal_brute_force

from ort_geo import open_store
from ort_geo.perimeter import resolve_perimeter
from ort_geo.prepared import FORKS, prepare_gpkg, prepare_in_background
from ort_geo.stats import sector_stats
from ort_geo.store.base import prefetched
from ort_geo.store.gpkg import GeoPackageStore

X0, Y0 = 1_000_000.0, 6_800_000.0


def _footprints_store(path):
    """Zones and buildings imported as bare footprints (no dwelling, vacancy or condition)."""
    rng = np.random.default_rng(16)
    x, y = X0 + rng.uniform(0, 1000, 400), Y0 + rng.uniform(0, 1000, 400)
    store = open_store(path, create=True)
    store.write("secteurs_ort", gpd.GeoDataFrame(
        {"id": ["s1", "s2"], "nom": ["Centre", "Gare"]},
        geometry=[shapely.MultiPolygon([shapely.box(X0 + 100, Y0 + 100, X0 + 600, Y0 + 600)]),
                  shapely.MultiPolygon([shapely.box(X0 + 500, Y0 + 500, X0 + 900, Y0 + 900)])],
        crs=2154), author="t")
    store.write("batiments", gpd.GeoDataFrame(
        {"id": [f"b{i}" for i in range(400)]},
        geometry=shapely.box(x, y, x + 12, y + 9), crs=2154), author="t")
    return store


def test_footprints_only_store_streamed_in_small_batches_equals_brute_force(tmp_path,
                                                                            monkeypatch):
    store = _footprints_store(tmp_path / "s.gpkg")
    whole = assert_stats_equal_brute_force(store, "secteurs_ort")
    # Unknown is not zero: footprints alone know no dwelling count.
    assert whole["batiments"].iloc[0] > 0 and whole["logements"].isna().all()
    # Batches of 7 rows, read ahead by the worker thread: the same table.
    monkeypatch.setitem(GeoPackageStore.iter_points.__kwdefaults__, "batch_rows", 7)
    small = assert_stats_equal_brute_force(store, "secteurs_ort")
    assert small.equals(whole)


def test_demo_store_in_small_batches_equals_brute_force(demo_store, monkeypatch):
    monkeypatch.setitem(GeoPackageStore.iter_points.__kwdefaults__, "batch_rows", 50)
    assert_stats_equal_brute_force(demo_store, "secteurs_ort")


def test_a_large_layer_is_read_in_two_parts_with_the_same_figures(demo_store, tmp_path,
                                                                  monkeypatch):
    """Two fid ranges read at once (GDAL, one thread each): the same table as brute force,
    stale points of either range included."""
    import ort_geo.store.gpkg as gpkg

    monkeypatch.setattr(gpkg, "PARALLEL_ROWS", 10)
    monkeypatch.setitem(GeoPackageStore.iter_points.__kwdefaults__, "batch_rows", 50)
    parts = demo_store._point_parts("batiments")
    assert [sorted(p) for p in parts] == [["fids"], ["fids"]]
    assert parts[0]["fids"][1] + 1 == parts[1]["fids"][0]
    assert_stats_equal_brute_force(demo_store, "secteurs_ort")
    store = _footprints_store(tmp_path / "s.gpkg")
    with store._connect() as conn:  # one stale point in each range
        conn.execute("UPDATE batiments SET ort_x = NULL, ort_y = NULL WHERE id IN ('b1', 'b398')")
    assert len(store._point_parts("batiments")) == 2
    assert_stats_equal_brute_force(store, "secteurs_ort")


def test_stale_points_are_found_through_an_index(tmp_path):
    store = _footprints_store(tmp_path / "s.gpkg")
    with store._connect() as conn:  # the GeoPackage functions the R-tree triggers call
        # What the trigger does when another client changes a geometry (GDAL/QGIS edits are
        # tested in test_scale.py): the point is forgotten, readers recompute it.
        conn.execute("UPDATE batiments SET ort_x = NULL, ort_y = NULL WHERE id = 'b1'")
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT fid, geom FROM batiments WHERE ort_x IS NULL "
            "AND geom IS NOT NULL ORDER BY fid"))
        assert conn.execute("SELECT count(*) FROM batiments WHERE ort_x IS NULL").fetchone()[0] == 1
    assert "ort_batiments_point_stale" in plan
    assert_stats_equal_brute_force(store, "secteurs_ort")


def test_an_older_store_gets_the_index_on_open(tmp_path):
    store = _footprints_store(tmp_path / "s.gpkg")
    store.close()
    with sqlite3.connect(store.path) as conn:
        conn.execute('DROP INDEX "ort_batiments_point_stale"')
    open_store(store.path).close()
    with sqlite3.connect(store.path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"ort_batiments_point_stale", "ort_commerces_point_stale",
            "ort_actions_point_stale"} <= names


def test_prefetched_keeps_order_raises_and_closes():
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))

    def failing():
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        list(prefetched(failing()))
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    for item in prefetched(endless(), depth=2):
        if item == 5:
            break
    assert closed.is_set()  # the consumer stopped: the producer was closed, its thread ended
    assert not [t for t in threading.enumerate() if t.name == "ort-geo-prefetch"]


def test_prefetched_merges_several_sources_and_a_failure_stops_them_all():
    """Parallel readers: every item of every source once, each source in its order; one
    failing source raises to the consumer and closes the others."""
    got = list(prefetched(iter(range(0, 50)), iter(range(100, 180)), iter([]), depth=3))
    assert sorted(got) == [*range(0, 50), *range(100, 180)]
    assert [i for i in got if i >= 100] == list(range(100, 180))
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield 0
        finally:
            closed.set()

    def failing():
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        list(prefetched(endless(), failing(), depth=2))
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "ort-geo-prefetch"]


def _stats_process(store: Path, out: Path, before: str, after: str) -> subprocess.CompletedProcess:
    """``ort-geo stats secteurs_ort --format json`` in a fresh interpreter, with ``before`` run
    first and ``after`` once the command succeeded (what they print is the output)."""
    code = (
        before
        + "from ort_geo.cli import main\n"
        f"args = ['stats', 'secteurs_ort', '--store', {str(store)!r}, '--format', 'json',"
        f" '--annee', '{YEAR}', '--sortie', {str(out)!r}]\n"
        "try:\n    main(args)\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        + after)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)


def test_cli_stats_loads_only_what_statistics_need(tmp_path):
    """``ort-geo stats`` as a process: the same JSON as the library, without the web, PDF,
    spreadsheet or raster stacks (each costs a user time at every run)."""
    store = _footprints_store(tmp_path / "s.gpkg")
    store.close()
    out = tmp_path / "stats.json"
    proc = _stats_process(store.path, out, "import sys\n",
                          "print(' '.join(sorted(sys.modules)))\n")
    modules = set(proc.stdout.split())
    loaded = {m.split(".")[0] for m in modules}
    heavy = {"fastapi", "starlette", "uvicorn", "matplotlib", "folium", "altair", "scipy",
             "openpyxl", "rasterio", "jinja2", "psycopg", "httpx"}
    assert "ort_geo" in loaded and not loaded & heavy, loaded & heavy
    # Nor the file readers and writers of ort_geo.io (a perimeter file or CSV loads them).
    assert not {m for m in modules if m.startswith("ort_geo.io")}
    records = json.loads(out.read_text())
    with open_store(store.path) as st:
        frame = sector_stats(st, "secteurs_ort", reference_year=YEAR)
    assert [r["id"] for r in records] == frame["id"].tolist()
    assert [r["batiments"] for r in records] == frame["batiments"].tolist()


def test_zones_prepared_beforehand_give_the_same_table(demo_store_path):
    """The zone grid and routes' km ``ort-geo stats`` computes while pandas and GDAL load:
    the same table; zones other than those resolved are not used."""
    prepared = prepare_gpkg(demo_store_path, "secteurs_ort")
    with open_store(demo_store_path) as st:
        zones = resolve_perimeter("secteurs_ort", st).geometry.to_numpy()
        assert prepared.matches(zones)
        plain = sector_stats(st, "secteurs_ort", reference_year=YEAR)
        assert plain["km_mobilites_existantes"].iloc[:-1].sum() > 0  # routes in the sectors
        grids = {}
        zone_sums = GeoPackageStore.zone_sums

        def spy(self, layer, zones, measures, *, cache=None):
            grids[layer] = (cache or {}).get("grid")
            return zone_sums(self, layer, zones, measures, cache=cache)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(GeoPackageStore, "zone_sums", spy)
            assert sector_stats(st, "secteurs_ort", reference_year=YEAR,
                                prepared=prepared).equals(plain)
        # The buildings on the grid made beforehand; the small layers, summed meanwhile by
        # another thread, on a twin (no prepared polygon queried by two threads at once).
        assert grids["batiments"] is prepared.grid
        assert grids["commerces"] is grids["actions"] is not None
        assert not {id(g) for g in grids["commerces"].geoms} & {id(g) for g in prepared.grid.geoms}
        other = prepare_gpkg(demo_store_path, "permis_de_louer")
        assert not other.matches(zones)
        assert sector_stats(st, "secteurs_ort", reference_year=YEAR,
                            prepared=other).equals(plain)
        # Still being prepared (as ``ort-geo stats`` passes it): waited for, the same table.
        background = prepare_in_background(demo_store_path, "secteurs_ort")
        assert sector_stats(st, "secteurs_ort", reference_year=YEAR,
                            prepared=background).equals(plain)
        assert background.grid_for(zones) is not None
        # Anything unexpected (here no such table): nothing prepared, the statistics do it.
        failed = prepare_in_background(demo_store_path, "no_such_layer")
        assert failed.grid_for(zones) is None and failed.lines_for(zones) is None


@pytest.mark.skipif(not FORKS, reason="the preparation forks on Linux only")
def test_zones_prepared_by_a_child_process_give_the_same_table(demo_store_path, monkeypatch):
    """``ort-geo stats`` prepares the zones in a forked child (no GIL shared with the imports):
    the same table; a child failing before the grid gives nothing, after it the grid only;
    every child is waited for; with another thread running, a thread prepares (no fork)."""
    import ort_geo.prepared as prepared

    pids: list[int] = []
    fork = os.fork

    def spy() -> int:
        pid = fork()
        pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", spy)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    with open_store(demo_store_path) as st:
        zones = resolve_perimeter("secteurs_ort", st).geometry.to_numpy()
        plain = sector_stats(st, "secteurs_ort", reference_year=YEAR)
        child = prepare_in_background(demo_store_path, "secteurs_ort", process=True)
        assert sector_stats(st, "secteurs_ort", reference_year=YEAR,
                            prepared=child).equals(plain)
        assert len(pids) == 1 and child.grid_for(zones) is not None
        got, expected = child.lines_for(zones), prepare_gpkg(demo_store_path, "secteurs_ort").lines
        assert got is not None and got.keys() == expected.keys()
        for name, sums in expected.items():
            assert got[name].per_zone.tolist() == sums.per_zone.tolist()
            assert got[name].total == sums.total
        with pytest.raises(ChildProcessError):  # waited for: no zombie left
            os.waitpid(pids[-1], os.WNOHANG)
        failed = prepare_in_background(demo_store_path, "no_such_layer", process=True)
        assert failed.grid_for(zones) is None and failed.lines_for(zones) is None
        assert len(pids) == 2

        def broken(path, zones):
            raise OSError("routes unreadable")

        monkeypatch.setattr(prepared, "_mobility", broken)  # the child inherits it
        half = prepare_in_background(demo_store_path, "secteurs_ort", process=True)
        assert half.grid_for(zones) is not None and half.lines_for(zones) is None
        assert sector_stats(st, "secteurs_ort", reference_year=YEAR,
                            prepared=half).equals(plain)
        assert len(pids) == 3
        monkeypatch.setattr(threading, "active_count", lambda: 2)
        threaded = prepare_in_background(demo_store_path, "secteurs_ort", process=True)
        assert threaded.grid_for(zones) is not None and len(pids) == 3
        # The system refusing a process: a thread prepares, no descriptor left open.
        monkeypatch.setattr(threading, "active_count", lambda: 1)
        monkeypatch.setattr(os, "fork", lambda: (_ for _ in ()).throw(BlockingIOError(11, "")))
        fds = len(os.listdir("/proc/self/fd"))
        refused = prepare_in_background(demo_store_path, "secteurs_ort", process=True)
        assert refused.grid_for(zones) is not None and refused._child is None
        refused.lines_for(zones)  # the thread done (its routes: broken above)
        assert len(os.listdir("/proc/self/fd")) == fds
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@pytest.mark.skipif(not FORKS, reason="the preparation forks on Linux only")
def test_a_preparation_the_statistics_do_not_take_is_stopped(demo_store_path, monkeypatch):
    """``ort-geo stats`` on a layer that is not one of zones: the French error at once, and
    the child preparing it is stopped (here it would sleep for a minute)."""
    import time

    from click.testing import CliRunner

    import ort_geo.prepared as prepared
    from ort_geo.cli import main

    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(prepared, "_zones_and_grid", lambda path, layer: time.sleep(60))
    made = []
    start = prepared.prepare_in_background

    def spy(*args, **kwargs):
        made.append(start(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(prepared, "prepare_in_background", spy)
    result = CliRunner().invoke(main, ["stats", "pas_une_couche", "--store",
                                       str(demo_store_path), "--format", "json"])
    assert result.exit_code == 2 and "pas_une_couche" in result.output, result.output
    assert len(made) == 1
    assert gc.isenabled() and not gc.get_freeze_count()  # collector as it was (see loading)
    made[0]._thread.join(30)
    assert not made[0]._thread.is_alive() and made[0]._child is None  # killed, waited for


def test_cli_stats_prepares_the_zones_before_loading_pandas(tmp_path):
    """``ort-geo stats`` loads pandas and GDAL only once its zone work has started (the
    command module needs neither), and the statistics use that work."""
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, ort_geo.cli.stats\n"
                               "print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True)
    loaded = {m.split(".")[0] for m in proc.stdout.split()}
    assert not loaded & {"pandas", "geopandas", "pyogrio", "pyarrow", "pydantic", "pyproj",
                         "numpy"}, loaded
    store = _footprints_store(tmp_path / "s.gpkg")
    store.close()
    out = tmp_path / "stats.json"
    spy = ("import os\n"
           "import ort_geo.prepared as p\n"
           "forks, fork = [], os.fork\n"
           "os.fork = lambda: forks.append(1) or fork()\n"
           "used = []\n"
           "grid_for = p.ZonesInPreparation.grid_for\n"
           "def spy(self, zones):\n"
           "    grid = grid_for(self, zones)\n"
           "    used.append(grid is not None)\n"
           "    return grid\n"
           "p.ZonesInPreparation.grid_for = spy\n")
    proc = _stats_process(store.path, out, spy, "print(used, len(forks))\n")
    assert proc.stdout.split()[-2:] == ["[True]", "1"]  # prepared by a child, and used
    with open_store(store.path) as st:
        frame = sector_stats(st, "secteurs_ort", reference_year=YEAR)
    assert [r["batiments"] for r in json.loads(out.read_text())] == frame["batiments"].tolist()


@pytest.mark.postgis
def test_postgis_parallel_sessions_give_the_same_sums(new_store, monkeypatch):
    """A national layer is joined by parallel sessions sharing one snapshot: same figures as
    the single query."""
    from test_scale import _assert_same, _l_shapes, _sums, _zones

    import ort_geo.store.postgis as postgis

    store = new_store("postgis")
    store.write("batiments", _l_shapes(500), author="t")
    zones = _zones()
    single = _sums(store, zones)
    assert len(store._join_parts("batiments", len(zones))) == 1  # a small layer: one query
    monkeypatch.setattr(postgis, "PARALLEL_ROWS", -1)
    monkeypatch.setattr(postgis.os, "cpu_count", lambda: 3)
    assert len(store._join_parts("batiments", len(zones))) == 3
    _assert_same(single, _sums(store, zones))
