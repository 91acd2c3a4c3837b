"""``python -m benchmarks.end_to_end``: per-sector statistics as users get them, from a store.

Builds a store per size once (cached: ``--cache``, default ``$ORT_GEO_BENCH_CACHE`` or
``out/bench``) with the synthetic national data of :mod:`benchmarks.synthetic` (buildings as 8 m
footprints, 2,000 sectors, shops, actions, mobility lines): a GeoPackage up to 2 M buildings, a
PostGIS schema beyond (``--url``, default ``$ORT_GEO_TEST_POSTGIS``; ``--backend`` forces one).
Then, in one run and each in its own process (wall time, peak resident memory):

* ``ort-geo stats secteurs_ort --format json`` — the user's command, process start included;
* ``sector_stats(store, "secteurs_ort")`` — the library call (time of the call);
* DuckDB reading the same store (``ST_Read`` of the GeoPackage, or the PostGIS scanner), point on
  surface, spatial join, ``GROUP BY``;
* geopandas reading the same GeoPackage (pyogrio, Arrow), ``sjoin`` + ``groupby`` (GeoPackage
  only: 20 M footprints as shapely objects would not fit this machine's memory).

Checks every method gives the same figures per sector, then prints ratios. On a PostGIS store on
this machine, the CPU of the PostgreSQL backends serving each method is reported too (sampled from
``/proc``; the client's CPU alone would hide the server's share of the work).

    python -m benchmarks.end_to_end --buildings 1000000 20000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

# No GDAL in the DuckDB process (its spatial extension bundles its own GDAL: two in one process
# crash), so neither ort_geo nor pyogrio are imported at module level here.
REFERENCE_YEAR = 2026
COUNTS = ["batiments", "logements", "logements_vacants", "vacants_longue_duree",
          "batiments_degrades", "habitat_indigne", "rdc_vacants", "commerces",
          "commerces_vacants", "actions", "actions_o1", "actions_o2", "actions_o3", "actions_o4"]
FLOATS = ["cout_total", "km_mobilites_existantes", "km_mobilites_projetees"]

GPKG_MAX = 2_000_000
SIDE = 8.0  # footprint side (m)


# -- the stores ---------------------------------------------------------------------------------

def _location(n: int, backend: str, cache: Path, url: str | None) -> str:
    if backend == "gpkg":
        return str(cache / f"e2e-{n}.gpkg")
    return f"{url}?schema=e2e_{n}"


def build_store(n: int, backend: str, cache: Path, url: str | None) -> str:
    """The store of ``n`` synthetic buildings (built once; a marker file says it is complete).

    Written with the stores' own bulk path (``insert_batch``, one transaction per million
    features) but without the journal: loading is not what this benchmark times.
    """
    import geopandas as gpd
    import shapely

    from ort_geo import open_store
    from ort_geo.features import FeatureBatch, objects

    from .synthetic import ETATS, generate

    location = _location(n, backend, cache, url)
    marker = cache / f"e2e-{n}-{backend}.done"
    if marker.exists():
        return location
    data = generate(cache / f"data-{n}-2000", n, 2000)
    if backend == "gpkg":
        Path(location).unlink(missing_ok=True)
    else:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS e2e_{n} CASCADE")
    start = time.perf_counter()
    store = open_store(location, create=True)

    def load(layer: str, ids, columns: dict, geoms) -> None:
        spec = store.spec(layer)
        batch = FeatureBatch(objects(list(ids)), {k: objects(list(v)) if not isinstance(
            v, np.ndarray) else v for k, v in columns.items()}, np.asarray(geoms, dtype=object))
        with store._transaction() as tx:
            tx.insert_batch(spec, batch)

    zones = gpd.read_file(data / "zones.gpkg")
    load("secteurs_ort", zones["id"], {"nom": zones["id"]},
         [shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in zones.geometry])
    lines = gpd.read_file(data / "lines.gpkg")
    load("mobilites_actives", [f"L{i:06d}" for i in range(len(lines))],
         {"statut": lines["statut"]}, lines.geometry.to_numpy())
    arr = {k: np.load(data / f"{k}.npy", mmap_mode="r") for k in (
        "b_x", "b_y", "b_nb_logements", "b_nb_logements_vacants", "b_annee_debut_vacance",
        "b_etat", "b_habitat_indigne", "b_rdc_vacant", "c_x", "c_y", "c_vacant", "a_x", "a_y",
        "a_orientation", "a_cout_ht")}
    load("commerces", [f"C{i:08d}" for i in range(len(arr["c_x"]))],
         {"vacant": arr["c_vacant"].astype(bool)}, shapely.points(arr["c_x"], arr["c_y"]))
    load("actions", [f"A{i:06d}" for i in range(len(arr["a_x"]))],
         {"orientation": arr["a_orientation"].astype(np.int64), "cout_ht": arr["a_cout_ht"]},
         shapely.points(arr["a_x"], arr["a_y"]))
    if backend == "postgis":  # the index is built once at the end, far faster than row by row
        with store._connection() as conn:
            conn.execute(f'DROP INDEX "{store.schema}"."batiments_geom_gist"')
    etats = np.array([None, *ETATS], dtype=object)
    step = 1_000_000
    for s in range(0, n, step):
        e = min(n, s + step)
        x, y = arr["b_x"][s:e], arr["b_y"][s:e]
        debut = arr["b_annee_debut_vacance"][s:e].astype(object)
        debut[debut == 0] = None
        load("batiments", [f"B{i:09d}" for i in range(s, e)], {
            "code_insee": np.full(e - s, "00000", dtype=object),
            "nb_logements": arr["b_nb_logements"][s:e].astype(np.int64),
            "nb_logements_vacants": arr["b_nb_logements_vacants"][s:e].astype(np.int64),
            "annee_debut_vacance": debut, "etat": etats[arr["b_etat"][s:e]],
            "habitat_indigne": arr["b_habitat_indigne"][s:e].astype(bool),
            "rdc_vacant": arr["b_rdc_vacant"][s:e].astype(bool),
        }, shapely.box(x - SIDE / 2, y - SIDE / 2, x + SIDE / 2, y + SIDE / 2))
        print(f"   … {e:,} buildings written ({time.perf_counter() - start:.0f} s)", flush=True)
    if backend == "postgis":
        with store._connection() as conn:
            conn.execute(f'CREATE INDEX "batiments_geom_gist" ON {store._t("batiments")} '
                         "USING gist (geom)")
            conn.execute(f"ANALYZE {store._t('batiments')}")
    store.close()
    marker.write_text(location)
    print(f"   store built in {time.perf_counter() - start:.0f} s: {location}", flush=True)
    return location


# -- the methods (each run in its own process by ``python -m benchmarks.end_to_end run``) -------

def _frame_of_records(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    frame = frame[frame["id"] != "territoire"].set_index("id")
    return frame


def run_library(location: str) -> pd.DataFrame:
    from ort_geo import open_store
    from ort_geo.stats import sector_stats

    with open_store(location) as store:
        frame = sector_stats(store, "secteurs_ort", reference_year=REFERENCE_YEAR)
    return frame[frame["id"] != "territoire"].set_index("id")


def _duckdb(location: str):
    import duckdb
    from duckdb_extensions import import_extension

    con = duckdb.connect()
    con.execute("SET threads = 2")
    import_extension("spatial", con=con)
    con.load_extension("spatial")
    if location.startswith("postgresql"):
        import_extension("postgres_scanner", con=con)
        con.load_extension("postgres_scanner")
        conninfo, schema = location.split("?schema=")
        con.execute(f"ATTACH '{conninfo}' AS pg (TYPE postgres, READ_ONLY)")

        def table(layer: str, cols: str) -> str:
            sql = f"SELECT ST_AsBinary(geom) AS wkb, {cols} FROM {schema}.{layer}"
            return (f"(SELECT ST_GeomFromWKB(wkb) AS geom, * EXCLUDE (wkb) FROM "
                    f"postgres_query('pg', '{sql}'))")
    else:
        def table(layer: str, cols: str) -> str:
            # keep_wkb: DuckDB's own WKB reader (its Arrow conversion refuses layers of mixed
            # geometry types such as actions).
            return (f"(SELECT ST_GeomFromWKB(geom) AS geom, {cols} FROM "
                    f"ST_Read('{location}', layer='{layer}', keep_wkb=true))")
    return con, table


def run_duckdb(location: str) -> pd.DataFrame:
    con, table = _duckdb(location)
    ref = REFERENCE_YEAR - 2
    con.execute(f"CREATE TABLE z AS SELECT id, geom FROM {table('secteurs_ort', 'id')}")
    bb = con.execute(f"""
    SELECT z.id, count(*) AS batiments, sum(nb_logements) AS logements,
      sum(nb_logements_vacants) AS logements_vacants,
      sum(CASE WHEN annee_debut_vacance <= {ref} THEN nb_logements_vacants ELSE 0 END)
        AS vacants_longue_duree,
      sum((etat IN ('degrade', 'tres_degrade'))::INT) AS batiments_degrades,
      sum(habitat_indigne::INT) AS habitat_indigne, sum(rdc_vacant::INT) AS rdc_vacants
    FROM (SELECT ST_PointOnSurface(geom) AS p, * EXCLUDE (geom) FROM {table(
        'batiments', 'nb_logements, nb_logements_vacants, annee_debut_vacance, etat, '
        'habitat_indigne, rdc_vacant')}) b
    JOIN z ON ST_Intersects(z.geom, b.p) GROUP BY z.id""").df().set_index("id")
    cc = con.execute(f"""
    SELECT z.id, count(*) AS commerces, sum(vacant::INT) AS commerces_vacants
    FROM {table('commerces', 'vacant')} p JOIN z ON ST_Intersects(z.geom, p.geom)
    GROUP BY z.id""").df().set_index("id")
    aa = con.execute(f"""
    SELECT z.id, count(*) AS actions, sum(cout_ht) AS cout_total,
      sum((orientation = 1)::INT) AS actions_o1, sum((orientation = 2)::INT) AS actions_o2,
      sum((orientation = 3)::INT) AS actions_o3, sum((orientation = 4)::INT) AS actions_o4
    FROM {table('actions', 'orientation, cout_ht')} p JOIN z ON ST_Intersects(z.geom, p.geom)
    GROUP BY z.id""").df().set_index("id")
    ll = con.execute(f"""
    SELECT z.id,
      sum(CASE WHEN statut = 'existant' THEN ST_Length(ST_Intersection(z.geom, l.geom)) END)
        / 1000 AS km_mobilites_existantes,
      sum(CASE WHEN statut = 'projete' THEN ST_Length(ST_Intersection(z.geom, l.geom)) END)
        / 1000 AS km_mobilites_projetees
    FROM {table('mobilites_actives', 'statut')} l JOIN z ON ST_Intersects(z.geom, l.geom)
    GROUP BY z.id""").df().set_index("id")
    ids = con.execute("SELECT id FROM z").df()["id"]
    return pd.concat([bb, cc, aa, ll], axis=1).reindex(ids)


def run_geopandas(location: str) -> pd.DataFrame:
    import geopandas as gpd
    import shapely

    def read(layer: str, columns: list[str]) -> gpd.GeoDataFrame:
        return gpd.read_file(location, layer=layer, columns=columns)

    zones = read("secteurs_ort", ["id"])
    b = read("batiments", ["nb_logements", "nb_logements_vacants", "annee_debut_vacance", "etat",
                           "habitat_indigne", "rdc_vacant"])
    b = b.set_geometry(shapely.point_on_surface(b.geometry.to_numpy()), crs=2154)
    b["vacants_longue_duree"] = np.where(b["annee_debut_vacance"] <= REFERENCE_YEAR - 2,
                                         b["nb_logements_vacants"], 0)
    b["batiments_degrades"] = b["etat"].isin(["degrade", "tres_degrade"])
    j = gpd.sjoin(b, zones, predicate="intersects")
    out = [j.groupby("id").agg(
        batiments=("nb_logements", "size"), logements=("nb_logements", "sum"),
        logements_vacants=("nb_logements_vacants", "sum"),
        vacants_longue_duree=("vacants_longue_duree", "sum"),
        batiments_degrades=("batiments_degrades", "sum"),
        habitat_indigne=("habitat_indigne", "sum"), rdc_vacants=("rdc_vacant", "sum"))]
    del j, b
    c = read("commerces", ["vacant"])
    out.append(gpd.sjoin(c, zones, predicate="intersects").groupby("id").agg(
        commerces=("vacant", "size"), commerces_vacants=("vacant", "sum")))
    a = read("actions", ["orientation", "cout_ht"])
    aj = gpd.sjoin(a, zones, predicate="intersects")
    for k in (1, 2, 3, 4):
        aj[f"actions_o{k}"] = aj["orientation"] == k
    out.append(aj.groupby("id").agg(
        actions=("orientation", "size"), cout_total=("cout_ht", "sum"),
        **{f"actions_o{k}": (f"actions_o{k}", "sum") for k in (1, 2, 3, 4)}))
    lines = read("mobilites_actives", ["statut"])
    lj = gpd.sjoin(lines, zones, predicate="intersects")
    lj["km"] = shapely.length(shapely.intersection(
        lj.geometry.to_numpy(), zones.geometry.to_numpy()[lj["index_right"].to_numpy()])) / 1000
    km = lj.pivot_table(index="id", columns="statut", values="km", aggfunc="sum")
    out.append(km.rename(columns={"existant": "km_mobilites_existantes",
                                  "projete": "km_mobilites_projetees"}))
    return pd.concat(out, axis=1).reindex(zones["id"])


METHODS = {"library": run_library, "duckdb": run_duckdb, "geopandas": run_geopandas}


def _run_method(method: str, location: str, out: str) -> None:
    import resource

    start = time.perf_counter()
    frame = METHODS[method](location)
    seconds = time.perf_counter() - start
    frame[COUNTS + FLOATS].to_pickle(out)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime,
                      "peak_mib": usage.ru_maxrss / 1024}))


# -- the run -------------------------------------------------------------------------------------

class ServerCPU:
    """CPU seconds of the PostgreSQL backends serving one method, while it runs: its processes
    connect with ``PGAPPNAME`` set (libpq takes it in every client — psycopg and DuckDB's
    scanner alike), their backends are found by ``application_name`` and their CPU read from
    ``/proc`` (the server must run on this machine; else ``seconds`` stays None)."""

    def __init__(self, url: str | None, app: str) -> None:
        self.url, self.app = url, app
        self.seconds: float | None = None
        self._ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ServerCPU:
        if self.url:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.url:
            self._stop.set()
            self._thread.join()

    def _watch(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                own = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                if not Path(f"/proc/{own}/stat").exists():
                    return  # a server elsewhere: its CPU is not measured
                while True:
                    for (pid,) in conn.execute(
                            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                            (self.app,)).fetchall():
                        try:
                            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
                        except OSError:
                            continue  # ended meanwhile: its last sample stands
                        utime, stime = fields.split()[11:13]
                        self._ticks[pid] = max(self._ticks.get(pid, 0), int(utime) + int(stime))
                    if self._stop.wait(0.1):
                        break
        except psycopg.Error:
            return
        self.seconds = sum(self._ticks.values()) / os.sysconf("SC_CLK_TCK")


def _cli(location: str, out: Path, env: dict[str, str] | None = None
         ) -> tuple[dict, pd.DataFrame]:
    exe = Path(sys.executable).with_name("ort-geo")
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%e %U %S %M", str(exe), "stats", "secteurs_ort", "--store", location,
         "--format", "json", "--annee", str(REFERENCE_YEAR), "--sortie", str(out)],
        capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    wall, user, system, kib = proc.stderr.strip().splitlines()[-1].split()
    frame = _frame_of_records(json.loads(out.read_text()))
    return ({"seconds": float(wall), "cpu_s": float(user) + float(system),
             "peak_mib": int(kib) / 1024}, frame[COUNTS + FLOATS])


def _compare(frames: dict[str, pd.DataFrame]) -> bool:
    ref = frames["ort-geo stats"].astype(float).fillna(0)
    same = True
    for name, frame in frames.items():
        other = frame.reindex(ref.index).astype(float).fillna(0)
        counts = np.array_equal(ref[COUNTS].to_numpy(), other[COUNTS].to_numpy())
        floats = np.allclose(ref[FLOATS].to_numpy(), other[FLOATS].to_numpy(), rtol=1e-9,
                             atol=1e-6)
        if name != "ort-geo stats":
            diff = int((ref[COUNTS].to_numpy() != other[COUNTS].to_numpy()).sum())
            print(f"   same figures as {name}: counts "
                  f"{'yes' if counts else f'NO ({diff} cells differ)'}, "
                  f"costs and km {'yes' if floats else 'NO'}")
        same &= counts and floats
    return same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.end_to_end")
    parser.add_argument("--buildings", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--backend", choices=["auto", "gpkg", "postgis"], default="auto")
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("ORT_GEO_BENCH_CACHE", "out/bench")))
    parser.add_argument("--url", default=os.environ.get("ORT_GEO_TEST_POSTGIS"),
                        help="PostGIS database for the large stores ($ORT_GEO_TEST_POSTGIS)")
    parser.add_argument("--methods", nargs="+", default=["cli", *METHODS],
                        choices=["cli", *METHODS])
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per method, best kept (default: 3 up to 2 M, else 1)")
    args = parser.parse_args(argv)
    if not shutil.which("time", path="/usr/bin"):
        parser.error("/usr/bin/time manque (paquet Debian « time »)")
    args.cache.mkdir(parents=True, exist_ok=True)
    ok = True
    table: list[tuple[str, str, dict, dict]] = []  # store, method, result, ort-geo stats' result
    for n in args.buildings:
        backend = args.backend if args.backend != "auto" else (
            "gpkg" if n <= GPKG_MAX else "postgis")
        if backend == "postgis" and not args.url:
            parser.error("give --url or set ORT_GEO_TEST_POSTGIS for a PostGIS store")
        print(f"== {n:,} buildings, 2,000 sectors, {backend} store", flush=True)
        location = build_store(n, backend, args.cache, args.url)
        repeat = args.repeat or (3 if n <= GPKG_MAX else 1)
        results: dict[str, dict] = {}
        frames: dict[str, pd.DataFrame] = {}
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "postgis":
                # A first pass over 20 M rows reads them from disk (measured: the first method
                # timed took 275 s, the same command run again 190 s): one untimed run warms
                # PostgreSQL's and the system's caches for every method alike.
                print("   warm-up: one untimed sector_stats run", flush=True)
                subprocess.run([sys.executable, "-m", "benchmarks.end_to_end", "run", "library",
                                location, str(Path(tmp) / "warmup.out")], capture_output=True)
            for method in args.methods:
                if method == "duckdb" and backend == "gpkg":
                    # Not the layers' geometry types (each holds one type; a lone ST_Read of
                    # any of them works): DuckDB 1.5.5's ST_Read fails at random once joined —
                    # « Unsupported geometry type in WKB » on 1 or 2 threads, with or without
                    # keep_wkb, or a segfault in spatial.duckdb_extension; its sqlite scanner
                    # reads the GEOMETRY column as VARCHAR.
                    print("   duckdb: skipped on GeoPackage (DuckDB 1.5.5's ST_Read fails at "
                          "random in the join: « Unsupported geometry type in WKB » or a "
                          "segfault); compared on PostGIS")
                    continue
                if method == "geopandas" and backend != "gpkg":
                    print("   geopandas: skipped on PostGIS (20 M footprints as shapely objects "
                          "exceed this machine's memory)")
                    continue
                runs = []
                # The PostgreSQL server's CPU counts too: the method's backends are found by
                # the application name its process connects with.
                app = f"ort-geo-bench-{method}"
                env = {**os.environ, "PGAPPNAME": app}
                for _ in range(repeat):
                    out = Path(tmp) / f"{method}.out"
                    with ServerCPU(args.url if backend == "postgis" else None, app) as server:
                        if method == "cli":
                            r, frame = _cli(location, out, env)
                        else:
                            proc = subprocess.run(
                                [sys.executable, "-m", "benchmarks.end_to_end", "run", method,
                                 location, str(out)], capture_output=True, text=True, env=env)
                            if proc.returncode != 0:
                                print(f"   {method}: FAILED\n{proc.stderr[-2000:]}", flush=True)
                                ok = False
                                break
                            r = json.loads(proc.stdout.strip().splitlines()[-1])
                            frame = pd.read_pickle(out)
                    r["server_cpu_s"] = server.seconds
                    runs.append(r)
                if not runs:
                    continue
                name = {"cli": "ort-geo stats", "library": "sector_stats"}.get(method, method)
                best = min(runs, key=lambda run: run["seconds"])
                best["cpu_s"] = min(run["cpu_s"] for run in runs)
                best["peak_mib"] = max(run["peak_mib"] for run in runs)
                servers = [run["server_cpu_s"] for run in runs if run["server_cpu_s"] is not None]
                best["server_cpu_s"] = min(servers) if servers else None
                results[name], frames[name] = best, frame
                server_text = ("" if best["server_cpu_s"] is None
                               else f" + PostgreSQL {best['server_cpu_s']:7.2f} s")
                print(f"   {name:15s} {best['seconds']:8.2f} s  (CPU {best['cpu_s']:7.2f} s"
                      f"{server_text})   peak {best['peak_mib']:7.0f} MiB", flush=True)
        if "ort-geo stats" in frames:
            same = _compare(frames)
            ok &= same
            base = results["ort-geo stats"]
            label = f"{'GeoPackage' if backend == 'gpkg' else 'PostGIS'} {n:,}"
            table += [(label if i == 0 else "", name, r, base)
                      for i, (name, r) in enumerate(results.items())]
            print(f"   figures identical across methods: {'yes' if same else 'NO'}")
            lib = results.get("sector_stats")
            for name, r in results.items():
                if name in ("ort-geo stats", "sector_stats"):
                    continue
                text = (f"   {name}: {r['seconds'] / base['seconds']:.1f}x the time of ort-geo "
                        f"stats (CPU {r['cpu_s'] / base['cpu_s']:.1f}x)")
                if lib:
                    text += (f", {r['seconds'] / lib['seconds']:.1f}x that of sector_stats "
                             f"(CPU {r['cpu_s'] / lib['cpu_s']:.1f}x)")
                print(text + f"; {r['peak_mib'] / base['peak_mib']:.1f}x its peak memory")
    if table:
        print("\n| store | method | wall | CPU | PostgreSQL CPU | peak | wall / ort-geo stats |")
        print("|---|---|---|---|---|---|---|")
        for label, name, r, base in table:
            server = "" if r.get("server_cpu_s") is None else f"{r['server_cpu_s']:.2f} s"
            print(f"| {label} | {name} | {r['seconds']:.2f} s | {r['cpu_s']:.2f} s | {server} | "
                  f"{r['peak_mib']:,.0f} MiB | {r['seconds'] / base['seconds']:.1f}x |")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        _run_method(*sys.argv[2:5])
    else:
        sys.exit(main())
