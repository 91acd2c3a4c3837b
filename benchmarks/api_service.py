"""``python -m benchmarks.api_service``: API service time under ``wrk``, each route against the
server's own trivial route (``/conformance``) in the same run, on both backends.

The store: the Val d'Argent demo (``ort-geo build``) plus ``--buildings`` generated footprints in
its communes' extent (cached in ``--cache``); the PostGIS store is its copy (``ort-geo copy``'s
engine) in a fresh schema of ``--url`` (default ``$ORT_GEO_TEST_POSTGIS``). ``ort-geo serve``
runs with its default worker count; ``wrk`` (Debian package ``wrk``) loads each route at 1, 8 and
32 connections for ``--seconds``; reported: requests/s, p99 latency and the ratios to
``/conformance`` (targets: small collection within 2x, a 100-building bbox page within 4x).
Then editing: a PATCH of a sector alone (median of 20), and 8 concurrent editors each
incrementing the sector's version with If-Match, retrying on 412: the final version must count
every successful PATCH (no lost update).

    ORT_GEO_TEST_POSTGIS=postgresql://… python -m benchmarks.api_service --buildings 200000
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SECTOR = "smam-centre-ville"


def build(cache: Path, n: int) -> Path:
    """The demo store plus ``n`` generated buildings (built once)."""
    import geopandas as gpd
    import shapely

    from ort_geo import open_store

    path = cache / f"api-demo-{n}.gpkg"
    if path.exists() and path.with_suffix(".done").exists():
        return path
    path.unlink(missing_ok=True)
    exe = Path(sys.executable).with_name("ort-geo")
    subprocess.run([str(exe), "build", "--store", str(path)], check=True,
                   stdout=subprocess.DEVNULL)
    store = open_store(path)
    minx, miny, maxx, maxy = store.extent("communes")
    rng = np.random.default_rng(16)
    x, y = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
    frame = gpd.GeoDataFrame({
        "id": [f"gen{i:07d}" for i in range(n)], "code_insee": "68298",
        "nb_logements": rng.integers(0, 10, n), "demo": True,
        "source": "données de démonstration générées"},
        geometry=shapely.box(x, y, x + 12, y + 9), crs=2154)
    store.write("batiments", frame, author="benchmark")
    store.close()
    path.with_suffix(".done").write_text("ok")
    return path


@contextmanager
def serve(location: str):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("ort-geo")
    log = open(os.environ.get("ORT_GEO_BENCH_LOG", os.devnull), "w")  # noqa: SIM115
    proc = subprocess.Popen([str(exe), "serve", "--store", location, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 300  # workers import the stack: slow on a busy machine
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/conformance", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def wrk(url: str, connections: int, seconds: int, key: str) -> tuple[float, float]:
    """(requests/s, p99 latency in ms) of ``wrk`` on one URL."""
    proc = subprocess.run(
        ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds}s",
         "--timeout", "30s", "--latency", "-H", f"X-API-Key: {key}", url],
        capture_output=True, text=True)
    out = proc.stdout
    if proc.returncode != 0:
        raise RuntimeError(f"wrk a échoué sur {url} : {proc.stdout}{proc.stderr}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    p99 = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk: erreurs HTTP sur {url}\n{out}")
    return rate, p99


def editing(base: str, key: str) -> tuple[float, int, int, int]:
    """(median ms of a PATCH alone, successes, 412 retries, final - initial version)."""
    import httpx

    url = f"{base}/collections/secteurs_ort/items/{SECTOR}"
    headers = {"X-API-Key": key, "Content-Type": "application/merge-patch+json"}

    def bump(client: httpx.Client) -> tuple[bool, float]:
        current = client.get(url, headers={"X-API-Key": key})
        version = current.json()["properties"]["version"] or 1
        start = time.perf_counter()
        resp = client.patch(url, json={"properties": {"version": version + 1}},
                            headers={**headers, "If-Match": current.headers["etag"]})
        assert resp.status_code in (200, 412), resp.text
        return resp.status_code == 200, (time.perf_counter() - start) * 1000

    with httpx.Client(timeout=60) as client:
        first = client.get(url, headers={"X-API-Key": key}).json()["properties"]["version"] or 1
        alone = [bump(client)[1] for _ in range(20)]

    def editor(_: int) -> tuple[int, int]:
        ok = retries = 0
        with httpx.Client(timeout=60) as client:
            while ok < 5:
                done, _ms = bump(client)
                ok += done
                retries += not done
        return ok, retries

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(editor, range(8)))
    with httpx.Client(timeout=60) as client:
        last = client.get(url, headers={"X-API-Key": key}).json()["properties"]["version"]
    ok = sum(r[0] for r in results) + 20
    return statistics.median(alone), ok, sum(r[1] for r in results), last - first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_service")
    parser.add_argument("--buildings", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("ORT_GEO_BENCH_CACHE", "out/bench")))
    parser.add_argument("--url", default=os.environ.get("ORT_GEO_TEST_POSTGIS"))
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        parser.error("wrk manque : apt-get install wrk")
    from ort_geo import auth, open_store
    from ort_geo.copy import copy_store

    args.cache.mkdir(parents=True, exist_ok=True)
    gpkg = build(args.cache, args.buildings)
    stores = [("GeoPackage", str(gpkg))]
    schema = None
    if args.url:
        schema = f"bench_api_{uuid.uuid4().hex[:8]}"
        pg = open_store(f"{args.url}?schema={schema}", create=True)
        copy_store(open_store(gpkg), pg)
        pg.close()
        stores.append(("PostGIS", f"{args.url}?schema={schema}"))
    try:
        for name, location in stores:
            store = open_store(location)
            key = auth.create_key(store, f"bench-{uuid.uuid4().hex[:6]}", "editor")
            cx, cy = store.read("secteurs_ort", ids=[SECTOR]).geometry.iloc[0].centroid.coords[0]
            store.close()
            box = f"{cx - 300},{cy - 300},{cx + 300},{cy + 300}"
            routes = {
                "/conformance": "/conformance",
                "small collection": "/collections/secteurs_ort/items",
                "bbox page (100)": f"/collections/batiments/items?limit=100&bbox={box}"
                                   "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/2154",
            }
            print(f"== {name} ({args.buildings:,} generated buildings + demo), "
                  f"ort-geo serve default workers", flush=True)
            with serve(location) as base:
                for c in args.connections:
                    ref = None
                    for label, path in routes.items():
                        wrk(base + path, c, 1, key)  # warm-up
                        rate, p99 = wrk(base + path, c, args.seconds, key)
                        if ref is None:
                            ref = (rate, p99)
                            print(f"   {c:2d} conn  {label:18s} {rate:8.0f} req/s  p99 "
                                  f"{p99:7.1f} ms", flush=True)
                        else:
                            print(f"   {c:2d} conn  {label:18s} {rate:8.0f} req/s  p99 "
                                  f"{p99:7.1f} ms   /conformance: throughput "
                                  f"{ref[0] / rate:.1f}x, p99 {p99 / ref[1]:.1f}x", flush=True)
                median, ok, retries, delta = editing(base, key)
                print(f"   PATCH of a sector alone: {median:.0f} ms (median of 20); 8 concurrent "
                      f"editors: {ok} successful PATCHes, {retries} refused (412) and retried, "
                      f"version +{delta} — {'no lost update' if delta == ok else 'LOST UPDATES'}",
                      flush=True)
    finally:
        if schema:
            import psycopg

            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return 0


if __name__ == "__main__":
    sys.exit(main())
