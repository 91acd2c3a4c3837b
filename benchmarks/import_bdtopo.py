"""``python -m benchmarks.import_bdtopo``: a département's BD TOPO buildings imported as a user does.

Builds once (cached: ``--cache``, default ``$ORT_GEO_BENCH_CACHE`` or ``out/bench``) a
BD TOPO-like GeoPackage: a layer ``batiment`` with the attributes of IGN's BD TOPO v3 (``cleabs``,
``nature``, ``usage_1``, ``nombre_de_logements``, ``date_d_apparition``, ``identifiants_rnb``…, 27
fields) and MultiPolygonZ footprints in Lambert-93 — ``--buildings`` of them (default 600,000, a
département), 4 to 10 vertices each, a few in two parts, a few planned, ruined or light — plus a
road layer, as the real package has several. Then, in one run, on a fresh store of each backend:

* ``ort-geo import-batiments FILE --format bdtopo --hors-territoire`` as a process (wall, CPU,
  peak resident memory), then the number of buildings stored;
* the baseline: ``ogr2ogr`` copying the same layer into the same backend (a GeoPackage file;
  a PostGIS schema with COPY), which maps no field, checks nothing and journals nothing.

    python -m benchmarks.import_bdtopo [--buildings 600000] [--backend gpkg postgis]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# Haut-Rhin (68) in Lambert-93, roughly: where the buildings are spread.
EXTENT = (985_000.0, 6_705_000.0, 1_045_000.0, 6_815_000.0)
USAGES = np.array(["Résidentiel", "Annexe", "Agricole", "Commercial et services", "Industriel",
                   "Religieux", "Sportif", "Indifférencié"], dtype=object)
USAGE_P = [0.55, 0.2, 0.07, 0.07, 0.04, 0.01, 0.01, 0.05]
NATURES = np.array(["Indifférenciée", "Industriel, agricole ou commercial", "Chapelle",
                    "Serre", "Silo", "Tour, donjon"], dtype=object)
MATERIAUX = np.array(["00", "01", "02", "10", "12", "20", "22", None], dtype=object)


def make_bdtopo(path: Path, n: int, seed: int = 68) -> Path:
    """The BD TOPO-like file (written once; a marker file says it is complete)."""
    marker = path.with_suffix(".done")
    if marker.exists() and path.exists():
        return path
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    import shapely

    rng = np.random.default_rng(seed)
    path.unlink(missing_ok=True)
    step = 200_000
    for start in range(0, n, step):
        m = min(n, start + step) - start
        # Footprints: rotated rectangles, some with a notch (L shape), 6-25 m wide.
        cx = rng.uniform(EXTENT[0], EXTENT[2], m)
        cy = rng.uniform(EXTENT[1], EXTENT[3], m)
        w, h = rng.uniform(6, 25, m), rng.uniform(5, 18, m)
        angle = rng.uniform(0, np.pi, m)
        notch = rng.random(m) < 0.3
        unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
        lshape = np.array([[0, 0], [1, 0], [1, .5], [.5, .5], [.5, 1], [0, 1]], float)
        z = rng.uniform(200, 900, m)
        polys = np.empty(m, dtype=object)
        for shape, sel in ((unit, ~notch), (lshape, notch)):
            idx = np.flatnonzero(sel)
            pts = np.repeat(shape[None], len(idx), axis=0)
            pts = np.concatenate([pts, pts[:, :1]], axis=1)  # closed ring
            px = (pts[..., 0] - .5) * w[idx, None]
            py = (pts[..., 1] - .5) * h[idx, None]
            c, s = np.cos(angle[idx])[:, None], np.sin(angle[idx])[:, None]
            coords = np.stack([cx[idx, None] + c * px - s * py, cy[idx, None] + s * px + c * py,
                               np.repeat(z[idx, None], pts.shape[1], axis=1)], axis=-1)
            polys[idx] = shapely.polygons(coords)
        two = np.flatnonzero(rng.random(m) < 0.01)  # a few footprints in two parts
        shifted = shapely.transform(polys[two], lambda xy: xy + 40.0)
        parts = np.concatenate([polys, shifted])
        owner = np.concatenate([np.arange(m), two])
        order = np.argsort(owner, kind="stable")
        geoms = shapely.multipolygons(parts[order], indices=owner[order])
        ids = np.char.add("BATIMENT0000000", np.char.zfill(
            (np.arange(start, start + m) + 300_000_000).astype(str), 9)).astype(object)
        usage = rng.choice(USAGES, m, p=USAGE_P)
        dwellings = np.where(usage == "Résidentiel", rng.integers(1, 12, m), 0)
        etat = rng.choice(np.array(["En service", "En projet", "En construction", "Ruine"],
                                   dtype=object), m, p=[0.985, 0.005, 0.005, 0.005])
        year = rng.integers(1700, 2024, m)
        appeared = pd.array([f"{y}-01-01" for y in year], dtype="string")
        appeared[rng.random(m) < 0.4] = pd.NA
        rnb = np.array([None] * m, dtype=object)
        has_rnb = rng.random(m) < 0.7
        letters = np.array(list("123456789ABCDEFGHJKMNPQRSTVWXYZ"))
        codes = letters[rng.integers(0, len(letters), (int(has_rnb.sum()), 12))]
        rnb[has_rnb] = ["".join(c) for c in codes]
        created = pd.Timestamp("2010-06-01") + pd.to_timedelta(rng.integers(0, 5000, m), "D")
        frame = gpd.GeoDataFrame({
            "cleabs": ids,
            "nature": rng.choice(NATURES, m, p=[0.9, 0.06, 0.01, 0.01, 0.01, 0.01]),
            "usage_1": usage,
            "usage_2": np.where(rng.random(m) < 0.1, "Commercial et services", None),
            "construction_legere": rng.random(m) < 0.03,
            "etat_de_l_objet": etat,
            "date_creation": created,
            "date_modification": created + pd.to_timedelta(rng.integers(0, 2000, m), "D"),
            "date_d_apparition": appeared,
            "date_de_confirmation": pd.array([None] * m, dtype="string"),
            "sources": "BDTOPO",
            "identifiants_sources": pd.array([None] * m, dtype="string"),
            "methode_d_acquisition_planimetrique": "Numérisation",
            "methode_d_acquisition_altimetrique": "Interpolation bâti BDTopo",
            "precision_planimetrique": rng.choice([1.5, 2.5, 5.0], m),
            "precision_altimetrique": rng.choice([1.0, 2.5, 20.0], m),
            "nombre_de_logements": dwellings,
            "nombre_d_etages": rng.integers(0, 8, m),
            "materiaux_des_murs": rng.choice(MATERIAUX, m),
            "materiaux_de_la_toiture": rng.choice(MATERIAUX, m),
            "hauteur": np.round(rng.uniform(2, 25, m), 1),
            "altitude_minimale_sol": np.round(z, 1),
            "altitude_minimale_toit": np.round(z + 3, 1),
            "altitude_maximale_toit": np.round(z + 8, 1),
            "altitude_maximale_sol": np.round(z + 1, 1),
            "origine_du_batiment": "Cadastre",
            "appariement_fichiers_fonciers": pd.array([None] * m, dtype="string"),
            "identifiants_rnb": rnb,
        }, geometry=geoms, crs="EPSG:2154")
        pyogrio.write_dataframe(frame, path, layer="batiment", append=start > 0,
                                geometry_type="MultiPolygon Z", promote_to_multi=True)
        print(f"   … {start + m:,} BD TOPO buildings written", flush=True)
    roads = gpd.GeoDataFrame({"cleabs": ["TRONROUT0000000000000001"]}, geometry=[
        shapely.LineString([(EXTENT[0], EXTENT[1]), (EXTENT[2], EXTENT[3])])], crs="EPSG:2154")
    pyogrio.write_dataframe(roads, path, layer="troncon_de_route")
    marker.write_text(str(n))
    return path


# -- the run -------------------------------------------------------------------------------------

# Runs a command and reports its own resources: wall, CPU and peak memory of that child alone
# (RUSAGE_CHILDREN of the benchmark itself would mix every command it ran).
_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("TIME " + json.dumps([time.perf_counter() - start, r.ru_utime + r.ru_stime,
                            r.ru_maxrss / 1024]), file=sys.stderr)
sys.exit(code)
"""


def _timed(cmd: list[str]) -> dict:
    """Run a command: wall, CPU (user + system), peak resident memory."""
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True)
    last = [line for line in proc.stderr.splitlines() if line.startswith("TIME ")]
    if proc.returncode != 0 or not last:
        raise RuntimeError(f"{' '.join(cmd[:3])}… failed:\n{proc.stdout[-1500:]}"
                           f"\n{proc.stderr[-3000:]}")
    wall, cpu, peak = json.loads(last[-1][5:])
    return {"seconds": wall, "cpu_s": cpu, "peak_mib": peak, "output": proc.stdout}


def _count(location: str, table: str) -> int:
    if location.startswith("postgresql"):
        import psycopg

        conninfo, schema = location.split("?schema=")
        with psycopg.connect(conninfo) as conn:
            return conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
    import sqlite3

    with sqlite3.connect(location) as conn:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_backend(backend: str, source: Path, work: Path, url: str | None) -> dict[str, dict]:
    from ort_geo import open_store

    results: dict[str, dict] = {}
    exe = str(Path(sys.executable).with_name("ort-geo"))
    # ort-geo: a fresh empty store, the user's command.
    if backend == "gpkg":
        location = str(work / "import-bdtopo.gpkg")
        Path(location).unlink(missing_ok=True)
    else:
        assert url
        _drop_schema(url, "bench_bdtopo")
        location = f"{url}?schema=bench_bdtopo"
    open_store(location, create=True).close()
    r = _timed([exe, "import-batiments", str(source), "--format", "bdtopo", "--hors-territoire",
                "--store", location, "--auteur", "benchmark"])
    r["stored"] = _count(location, "batiments")
    results["ort-geo import-batiments"] = r
    # Baseline: ogr2ogr of the same layer into the same backend.
    if backend == "gpkg":
        target = work / "import-bdtopo-ogr2ogr.gpkg"
        target.unlink(missing_ok=True)
        r = _timed(["ogr2ogr", "-f", "GPKG", str(target), str(source), "batiment",
                    "-gt", "65536"])
        r["stored"] = _count(str(target), "batiment")
    else:
        _drop_schema(url, "bench_bdtopo_ogr")
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute('CREATE SCHEMA "bench_bdtopo_ogr"')
        r = _timed(["ogr2ogr", "-f", "PostgreSQL", f"PG:{_libpq(url)}", str(source), "batiment",
                    "-lco", "SCHEMA=bench_bdtopo_ogr", "-lco", "GEOMETRY_NAME=geom",
                    "-nln", "batiment", "-gt", "65536", "--config", "PG_USE_COPY", "YES"])
        r["stored"] = _count(f"{url}?schema=bench_bdtopo_ogr", "batiment")
    results["ogr2ogr (baseline)"] = r
    return results


def _libpq(url: str) -> str:
    """``postgresql://user:pw@host:port/db`` as libpq key=value words (GDAL's PG: syntax)."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return (f"host={u.hostname} port={u.port or 5432} dbname={u.path.lstrip('/')} "
            f"user={u.username} password={u.password}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.import_bdtopo")
    parser.add_argument("--buildings", type=int, default=600_000)
    parser.add_argument("--backend", nargs="+", choices=["gpkg", "postgis"],
                        default=["gpkg", "postgis"])
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("ORT_GEO_BENCH_CACHE", "out/bench")))
    parser.add_argument("--url", default=os.environ.get("ORT_GEO_TEST_POSTGIS"),
                        help="PostGIS database ($ORT_GEO_TEST_POSTGIS)")
    args = parser.parse_args(argv)
    for tool in ("ogr2ogr",):
        if not shutil.which(tool):
            parser.error(f"{tool} manque (paquet Debian « gdal-bin »)")
    if "postgis" in args.backend and not args.url:
        parser.error("give --url or set ORT_GEO_TEST_POSTGIS for PostGIS")
    args.cache.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    source = make_bdtopo(args.cache / f"bdtopo-{args.buildings}.gpkg", args.buildings)
    print(f"== BD TOPO-like file: {args.buildings:,} buildings, {source.stat().st_size / 2**20:,.0f}"
          f" MiB ({time.perf_counter() - start:.0f} s)", flush=True)
    ok = True
    for backend in args.backend:
        print(f"== {backend}", flush=True)
        results = run_backend(backend, source, args.cache, args.url)
        for name, r in results.items():
            print(f"   {name:26s} {r['seconds']:8.1f} s  (CPU {r['cpu_s']:7.1f} s)   "
                  f"peak {r['peak_mib']:6.0f} MiB   {r['stored']:,} rows", flush=True)
        ours, base = results["ort-geo import-batiments"], results["ogr2ogr (baseline)"]
        print(f"   ort-geo / ogr2ogr: {ours['seconds'] / base['seconds']:.1f}x the time "
              f"(CPU {ours['cpu_s'] / base['cpu_s']:.1f}x), "
              f"{ours['peak_mib'] / base['peak_mib']:.1f}x the peak memory", flush=True)
        ok &= ours["stored"] > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
