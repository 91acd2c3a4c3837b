"""``python -m benchmarks.tiles``: building vector tile latency at zoom 14, 15 and 16, ort-geo on
both backends against TiPg's tiles on the same PostGIS table, in one run.

The store: the Val d'Argent demo plus ``--buildings`` generated footprints over its communes'
extent (the recipe and cache file of ``benchmarks.api``: ``api-demo-<n>.gpkg`` in
``--cache``), copied to the schema ``bench_api_<n>`` of ``--url`` (default
``$ORT_GEO_TEST_POSTGIS``; kept for the next run, shared with the API benchmark). The tiles:
``--tiles`` distinct tiles per zoom, each holding buildings, drawn across the whole territory
(seeded), the same list for every server.

Servers, one at a time, one worker process each (latency, not throughput): ``ort-geo serve`` on the
GeoPackage (Python builder: R-tree candidates, shapely, the numpy encoder ``ort_geo.mvt``) and on PostGIS
(one ``ST_AsMVT`` statement), called with a staff key (every field, roles enforced); TiPg (PyPI
``tipg``, installed once in its own virtual environment under ``--cache``: a benchmark tool, not a
dependency) on the same table — its tiles are ``/collections/{schema.table}/tiles/
WebMercatorQuad/{z}/{x}/{y}``, x before y, where OGC API – Tiles (and ort-geo) put the row first.

Each tile is requested once in sequence (keep-alive client): ort-geo's cache is cold, as TiPg's
(it has none); then ort-geo's tiles again, from its cache (``warm``). Reported per zoom and server:
median and p95 latency (ms), mean tile size, the server processes' CPU time (user + system, from
``/proc``: wall times are inflated on a shared machine), the ratio to TiPg, and the agreement of
the building ids each server puts in each tile.

    ORT_GEO_TEST_POSTGIS=postgresql://… python -m benchmarks.tiles --buildings 200000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
import shapely.geometry

from .api import CPU, build, peer_python, postgis_copy, running

ZOOMS = (14, 15, 16)
#: The tile proper in MVT units (half a unit in from its edges: a building touching the edge
#: belongs to the neighbour).
INSIDE = shapely.box(0.5, 0.5, 4095.5, 4095.5)


def sample_tiles(gpkg: Path, count: int, seed: int = 14) -> dict[int, list[tuple[int, int]]]:
    """``count`` distinct (column, row) tiles per zoom, each under a building, across the store."""
    import pyogrio
    from pyproj import Transformer

    frame = pyogrio.read_dataframe(gpkg, layer="batiments", columns=["ort_x", "ort_y"],
                                   read_geometry=False)  # the stored representative points
    x, y = frame["ort_x"].to_numpy(float), frame["ort_y"].to_numpy(float)
    keep = np.isfinite(x) & np.isfinite(y)
    mx, my = Transformer.from_crs(2154, 3857, always_xy=True).transform(x[keep], y[keep])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(mx))
    out = {}
    for z in ZOOMS:
        size = 2 * 20037508.342789244 / (1 << z)
        cols = ((np.asarray(mx)[order] + 20037508.342789244) // size).astype(int)
        rows = ((20037508.342789244 - np.asarray(my)[order]) // size).astype(int)
        seen: dict[tuple[int, int], None] = {}
        for c, r in zip(cols.tolist(), rows.tolist(), strict=True):
            seen.setdefault((c, r), None)
            if len(seen) == count:
                break
        out[z] = list(seen)
    return out


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a server's process tree (its workers)."""
    return sum(CPU.ticks(CPU(pid, None).tree()).values()) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One server's pass over the tiles of one zoom."""

    latencies: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    cpu: float = 0.0
    ids: list[frozenset[str]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95(self) -> float:
        return float(np.percentile(self.latencies, 95)) * 1000


def fetch(client, base: str, template: str, tiles: list[tuple[int, int]], z: int, pid: int,
          headers: dict[str, str]) -> Run:
    import mapbox_vector_tile

    run = Run()
    cpu = _cpu(pid)
    for col, row in tiles:
        url = base + template.format(z=z, x=col, y=row)
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        run.latencies.append(time.perf_counter() - start)
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{url} : HTTP {response.status_code} {response.text[:200]}")
        run.sizes.append(len(response.content))
        run.ids.append(frozenset())
        if response.content:
            # Buildings in the tile itself (servers keep different buffers around it).
            layers = mapbox_vector_tile.decode(response.content,
                                               default_options={"y_coord_down": True})
            run.ids[-1] = frozenset(str(f["properties"].get("id"))
                                    for layer in layers.values() for f in layer["features"]
                                    if shapely.geometry.shape(f["geometry"]).intersects(INSIDE))
    run.cpu = _cpu(pid) - cpu
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tiles", description=__doc__)
    parser.add_argument("--buildings", type=int, default=200_000)
    parser.add_argument("--tiles", type=int, default=150, help="tuiles distinctes par niveau")
    parser.add_argument("--cache", type=Path, default=Path("/work/bench-cache"))
    parser.add_argument("--url", default=os.environ.get("ORT_GEO_TEST_POSTGIS"))
    parser.add_argument("--no-tipg", action="store_true", help="sans TiPg (pas de PostGIS "
                                                               "requis s'il manque aussi --url)")
    parser.add_argument("--backends", nargs="+", choices=("gpkg", "postgis"),
                        default=["gpkg", "postgis"],
                        help="serveurs ort-geo mesurés (postgis : une clé d'API est écrite dans "
                             "le schéma du cache)")
    args = parser.parse_args(argv)
    import httpx

    from ort_geo import auth, open_store

    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"-- store: demo + {args.buildings:,} buildings", flush=True)
    gpkg = build(args.cache, args.buildings)
    pg = postgis_copy(gpkg, args.url, args.buildings) if args.url else None
    tiles = sample_tiles(gpkg, args.tiles)
    exe = str(Path(sys.executable).with_name("ort-geo"))
    ours = "/collections/batiments/tiles/WebMercatorQuad/{z}/{y}/{x}"
    servers: list[tuple[str, list[str], dict[str, str], str, dict[str, str]]] = []
    # ort-geo serves a copy of the cached GeoPackage: the staff key is written there, never in
    # the cache (the copy goes with the run).
    work = Path(tempfile.mkdtemp(prefix="ort-geo-bench-tiles-"))
    served = work / gpkg.name
    if "gpkg" in args.backends:
        shutil.copyfile(gpkg, served)
    for label, location in (("ort-geo GeoPackage", str(served)), ("ort-geo PostGIS", pg)):
        backend = "gpkg" if label.endswith("GeoPackage") else "postgis"
        if location is None or backend not in args.backends:
            continue
        store = open_store(location)
        key = auth.create_key(store, f"benchmark-tuiles-{time.time_ns()}", "staff")
        store.close()
        servers.append((label, [exe, "serve", "--store", location, "--port", "{port}",
                                "--workers", "1"], {}, ours, {"X-API-Key": key}))
    if pg is not None and not args.no_tipg:
        schema = f"bench_api_{args.buildings}"
        env = {"DATABASE_URL": args.url, "TIPG_DB_SCHEMAS": f'["{schema}"]',
               "TIPG_DB_FUNCTIONS": "[]", "TIPG_DB_EXCLUDE_TABLES": "[]"}
        servers.append(("TiPg", [str(peer_python(args.cache, "tipg")), "-m", "uvicorn", "tipg.main:app",
                                 "--host", "127.0.0.1", "--port", "{port}", "--workers", "1",
                                 "--log-level", "warning"], env,
                        f"/collections/{schema}.batiments/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}",
                        {}))
    results: dict[tuple[str, int], Run] = {}
    try:
        for label, argv_, env, template, headers in servers:
            print(f"-- {label}", flush=True)
            with running(label, argv_, "/conformance", env) as base, \
                    httpx.Client(timeout=120) as client:
                pid = base.pid
                client.get(base + template.format(z=14, x=tiles[14][0][0], y=tiles[14][0][1]),
                           headers=headers)  # first request: connections, imports
                for z in ZOOMS:
                    results[(label, z)] = fetch(client, base, template, tiles[z], z, pid,
                                                headers)
                    if label.startswith("ort-geo"):
                        results[(f"{label} (warm)", z)] = fetch(client, base, template, tiles[z],
                                                                z, pid, headers)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    labels = list(dict.fromkeys(label for label, _ in results))
    print(f"\n{args.tiles} tiles per zoom, each requested once in sequence (warm: again, from "
          "ort-geo's cache)")
    print(f"{'server':<30}{'z':>3}{'median ms':>11}{'p95 ms':>9}{'CPU s':>8}{'KiB/tile':>10}"
          f"{'vs TiPg (median)':>18}{'TiPg ids':>10}")
    for z in ZOOMS:
        base_run = results.get(("TiPg", z))
        for label in labels:
            run = results[(label, z)]
            ratio = f"x{run.median / base_run.median:.2f}" if base_run else "-"
            same = "-"
            if base_run:
                found = sum(len(a & b) for a, b in zip(run.ids, base_run.ids, strict=True))
                same = f"{100 * found / max(1, sum(map(len, base_run.ids))):.1f} %"
            print(f"{label:<30}{z:>3}{run.median:>11.1f}{run.p95:>9.1f}{run.cpu:>8.2f}"
                  f"{statistics.mean(run.sizes) / 1024:>10.1f}{ratio:>18}{same:>10}")
    pairs = [(label, z) for label in ("ort-geo GeoPackage", "ort-geo PostGIS") for z in ZOOMS]
    if all(p in results for p in pairs):
        same = sum(results[("ort-geo GeoPackage", z)].ids == results[("ort-geo PostGIS", z)].ids
                   for z in ZOOMS)
        print(f"\nort-geo GeoPackage and PostGIS tiles hold the same buildings at {same} of "
              f"{len(ZOOMS)} zooms (every tile).")
    print("TiPg ids: share of the buildings inside TiPg's tiles (buffers left out: TiPg keeps "
          "256 units around a tile, ort-geo 64) found inside the same tile of that server.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
