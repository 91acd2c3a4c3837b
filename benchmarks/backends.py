"""``python -m benchmarks.backends``: the same operations on the GeoPackage and PostGIS backends.

One synthetic town (``benchmarks.synthetic_town``) is written to a GeoPackage, then copied with
``ort-geo copy``'s engine into a fresh PostGIS schema; every operation then runs on both, in the
same process and the same run (best of ``--repeat``). Baseline: the GeoPackage backend; the ratio
column is PostGIS time / GeoPackage time (< 1: PostGIS faster).

Also measured: counting buildings per sector with a spatial join in SQL (PostGIS) against the
Python engine (``sector_stats``) — the figures must match for SQL to be worth considering.

    ORT_GEO_TEST_POSTGIS=postgresql://… python -m benchmarks.backends [--buildings 20000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import shapely

from ort_geo import open_store
from ort_geo.assign import PolygonGrid
from ort_geo.copy import copy_store
from ort_geo.query import buildings_within
from ort_geo.stats import representative_xy, sector_stats

from .synthetic_town import CENTRE, synthetic_town


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def operations(store, client, headers: dict[str, str]) -> dict[str, Callable[[], object]]:
    x, y = CENTRE
    window = (x - 150, y - 150, x + 150, y + 150)
    ids = store.read("batiments", columns=[], limit=1)["id"].tolist()
    box = ",".join(str(v) for v in shapely.box(*window).bounds)

    def edit() -> None:
        current = client.get("/collections/secteurs_ort/items/gare")
        version = current.json()["properties"]["version"] or 1
        resp = client.patch("/collections/secteurs_ort/items/gare",
                            json={"properties": {"version": version + 1}},
                            headers={**headers, "If-Match": current.headers["etag"],
                                     "Content-Type": "application/merge-patch+json"})
        assert resp.status_code == 200, resp.text

    def get(url: str) -> Callable[[], object]:
        def call() -> None:
            resp = client.get(url, headers=headers)
            assert resp.status_code == 200, resp.text
        return call

    return {
        "store: read all buildings": lambda: store.read("batiments"),
        "store: read 300 m window": lambda: store.read("batiments", bbox=window),
        "store: count by field": lambda: store.count("batiments", where={"etat": "degrade"}),
        "store: get one feature": lambda: store.get("batiments", ids[0]),
        "stats: sector_stats(secteurs_ort)": lambda: sector_stats(store, "secteurs_ort"),
        "query: buildings_within(cv)": lambda: buildings_within(store, "secteurs_ort:cv"),
        "API: items limit=100": get("/collections/batiments/items?limit=100"),
        "API: items bbox (300 m)": get(f"/collections/batiments/items?bbox={box}"
                                       "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/2154"),
        "API: sector stats": get("/collections/secteurs_ort/stats"),
        "API: buildings of a sector": get("/collections/secteurs_ort/items/cv/batiments"),
        "API: read + PATCH (If-Match)": edit,
    }


def sql_counts(store) -> dict[str, int]:
    """Buildings per sector by a spatial join in PostGIS (representative point in sector)."""
    t = f'"{store.schema}"'
    # "b.geom && s.geom" lets the GiST index on buildings pick the candidates.
    sql = (f"SELECT s.id, count(b.id) FROM {t}.secteurs_ort s LEFT JOIN {t}.batiments b "
           "ON b.geom && s.geom AND ST_Covers(s.geom, ST_PointOnSurface(b.geom)) GROUP BY s.id")
    with store._connection() as conn:
        return dict(conn.execute(sql).fetchall())


def python_counts(store) -> dict[str, int]:
    """The same counts with the Python engine's pieces: read points, exact grid assignment."""
    zones = store.read("secteurs_ort", columns=[])
    x, y = representative_xy(store.read("batiments", columns=[]).geometry.to_numpy())
    _, polygon = PolygonGrid(zones.geometry.to_numpy()).pairs(x, y)
    counts = np.bincount(polygon, minlength=len(zones))
    return dict(zip(zones["id"], counts.tolist(), strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backends")
    parser.add_argument("--buildings", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", default=os.environ.get("ORT_GEO_TEST_POSTGIS"),
                        help="PostGIS database (default: $ORT_GEO_TEST_POSTGIS)")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("give --url or set ORT_GEO_TEST_POSTGIS (see .ci/postgis-up)")
    from fastapi.testclient import TestClient

    from api import create_app
    from ort_geo import auth

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        gpkg = open_store(Path(tmp) / "bench.gpkg", create=True)
        start = time.perf_counter()
        synthetic_town(gpkg, args.buildings)
        print(f"== {gpkg.count('batiments'):,} buildings (synthetic town), "
              f"written to GeoPackage in {time.perf_counter() - start:.1f} s")
        pg = open_store(f"{args.url}?schema={schema}", create=True)
        try:
            start = time.perf_counter()
            copy_store(gpkg, pg)
            print(f"   copied to PostGIS and verified in {time.perf_counter() - start:.1f} s")
            rows: dict[str, list[float]] = {}
            for store in (gpkg, pg):
                key = auth.create_key(store, "Bench", "editor")
                with TestClient(create_app(store.url)) as client:
                    for name, fn in operations(store, client, {"X-API-Key": key}).items():
                        fn()  # warm-up: connections, caches
                        rows.setdefault(name, []).append(best(fn, args.repeat))
            print(f"   {'operation':38s} {'GeoPackage':>11s} {'PostGIS':>11s}  PostGIS/GeoPackage")
            for name, (a, b) in rows.items():
                print(f"   {name:38s} {a * 1000:9.1f} ms {b * 1000:9.1f} ms  {b / a:6.2f}x")

            engine = sector_stats(pg, "secteurs_ort").set_index("id")["batiments"]
            counts, python = sql_counts(pg), python_counts(pg)
            same = all(int(engine[k]) == v == python[k] for k, v in counts.items())
            t_sql = best(lambda: sql_counts(pg), args.repeat)
            t_py = best(lambda: python_counts(pg), args.repeat)
            t_gpkg = best(lambda: python_counts(gpkg), args.repeat)
            print("   buildings per sector (baseline: Python engine = read points + exact grid):")
            print(f"     Python engine on GeoPackage {t_gpkg * 1000:8.1f} ms\n"
                  f"     Python engine on PostGIS    {t_py * 1000:8.1f} ms\n"
                  f"     SQL join inside PostGIS     {t_sql * 1000:8.1f} ms  "
                  f"({t_py / t_sql:.1f}x faster than the engine on PostGIS) — same counts as "
                  f"sector_stats: {'yes' if same else 'NO'}")
        finally:
            pg.close()
            import psycopg

            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
