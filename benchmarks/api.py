"""``python -m benchmarks.api``: the HTTP API under concurrent clients, against pygeoapi serving the
same GeoPackage, in the same run, on loopback.

Both servers run under uvicorn with one worker process; the same asyncio client (httpx) sends the
same deterministic requests to each, ``--clients`` at a time, bounded by ``--requests`` per
scenario and ``--seconds``. Reported: throughput (requests/s), p50 and p99 latency, and the ratio
ort-geo / pygeoapi. ort-geo is called with a staff key, so it returns every field as pygeoapi does
(and pays for its authentication).

Scenarios:
- ``items-page``: a page of 100 buildings at a random offset;
- ``items-bbox``: buildings in a random 600 m box (CRS84 bbox), up to 1,000;
- ``perimeter``: buildings whose representative point lies in a posted star-shaped perimeter
  (~1 km across) with ort-geo's ``POST /batiments/within``; pygeoapi has no polygon query on a
  GeoPackage, so its baseline is the perimeter's bounding box as ``bbox`` (a superset, less work).

pygeoapi (``pip install 'ort-geo[bench]'``) reads GeoPackages through SpatiaLite: on Debian,
``apt-get install libsqlite3-mod-spatialite`` (see :mod:`benchmarks.pygeoapi_server`).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

# A 24 km square of Alsace (Lambert-93), buildings clustered in towns.
X0, Y0, SIDE = 1_000_000.0, 6_790_000.0, 24_000.0
TO_LONLAT = Transformer.from_crs(2154, 4326, always_xy=True)


def build_store(path: Path, n_buildings: int, seed: int = 7) -> Path:
    """An ort-geo store with ``n_buildings`` generated buildings (written through the store)."""
    from ort_geo import auth, open_store

    done = path.with_suffix(".key")
    if path.exists() and done.exists():
        return path
    path.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    towns = rng.uniform([X0 + 2000, Y0 + 2000], [X0 + SIDE - 2000, Y0 + SIDE - 2000], (40, 2))
    which = rng.integers(0, len(towns), n_buildings)
    xy = towns[which] + rng.normal(0, 700, (n_buildings, 2))
    xy = np.clip(xy, [X0, Y0], [X0 + SIDE, Y0 + SIDE])
    w, h = rng.uniform(8, 20, n_buildings), rng.uniform(8, 16, n_buildings)
    geoms = shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + w, xy[:, 1] + h)
    vacants = np.where(rng.random(n_buildings) < 0.2, rng.integers(1, 4, n_buildings), 0)
    frame = gpd.GeoDataFrame({
        "id": [f"b{i:08d}" for i in range(n_buildings)],
        "code_insee": "68298",
        "annee_construction": rng.integers(1700, 2024, n_buildings),
        "nb_logements": rng.integers(1, 12, n_buildings),
        "nb_logements_vacants": vacants,
        "etat": rng.choice(["bon", "moyen", "degrade", "tres_degrade"], n_buildings),
        "usage": "Résidentiel", "demo": True, "source": "benchmark",
    }, geometry=geoms, crs="EPSG:2154")
    store = open_store(path, create=True)
    store.write("batiments", frame, author="benchmark")
    done.write_text(auth.create_key(store, "benchmark", "staff"))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pygeoapi_config(gpkg: Path, folder: Path, port: int) -> dict[str, str]:
    """pygeoapi's configuration and OpenAPI document for the store's buildings; its env vars."""
    import yaml

    url = f"http://127.0.0.1:{port}"
    minx, miny = TO_LONLAT.transform(X0, Y0)
    maxx, maxy = TO_LONLAT.transform(X0 + SIDE, Y0 + SIDE)
    config = {
        "server": {"bind": {"host": "127.0.0.1", "port": port}, "url": url,
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8",
                   "languages": ["fr-FR"], "limits": {"default_items": 10, "max_items": 10000},
                   "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                           "attribution": "OSM"}},
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "bench", "description": "bench", "keywords": ["bench"],
                               "keywords_type": "theme", "terms_of_service": url, "url": url},
            "license": {"name": "CC-BY 4.0", "url": url},
            "provider": {"name": "bench", "url": url},
            "contact": {"name": "bench", "position": "bench", "address": "bench",
                        "city": "bench", "stateorprovince": "bench", "postalcode": "0",
                        "country": "FR", "phone": "0", "fax": "0", "email": "a@b.c",
                        "url": url, "hours": "0", "instructions": "0",
                        "role": "pointOfContact"},
        },
        "resources": {"batiments": {
            "type": "collection", "title": "Bâtiments", "description": "Bâtiments",
            "keywords": ["batiments"],
            "extents": {"spatial": {"bbox": [minx, miny, maxx, maxy],
                                    "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
            "providers": [{
                "type": "feature", "name": "SQLiteGPKG", "data": str(gpkg), "id_field": "id",
                "table": "batiments",
                "storage_crs": "http://www.opengis.net/def/crs/EPSG/0/2154",
                "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                        "http://www.opengis.net/def/crs/EPSG/0/2154"],
            }],
        }},
    }
    cfg = folder / "pygeoapi.yml"
    cfg.write_text(yaml.safe_dump(config, allow_unicode=True))
    openapi = folder / "pygeoapi-openapi.yml"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.pygeoapi_server", "openapi",
                           str(cfg), str(openapi)], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"configuration pygeoapi refusée :\n{proc.stderr[-2000:]}")
    return {"PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)}


class Server:
    """A server process on a free loopback port, stopped on exit."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str] | None = None):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(argv, env={**os.environ, **(env or {})},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self, path: str, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + path, timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"{self.name} n'a pas démarré :\n{err[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Request:
    method: str
    path: str
    body: dict | None = None


@dataclass
class Result:
    """Successful requests (status 200): their number, latencies and features; failures."""

    count: int
    errors: int
    seconds: float
    latencies: np.ndarray
    features: int

    @property
    def rps(self) -> float:
        return self.count / self.seconds

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1000) if len(self.latencies) else float("nan")


async def _load(base: str, requests: list[Request], clients: int, seconds: float,
                headers: dict[str, str]) -> Result:
    import httpx

    queue = list(reversed(requests))
    latencies: list[float] = []
    errors = features = 0
    deadline = time.monotonic() + seconds

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal errors, features
        while queue and time.monotonic() < deadline:
            req = queue.pop()
            start = time.perf_counter()
            try:
                resp = await http.request(req.method, base + req.path, json=req.body)
            except httpx.HTTPError as exc:
                errors += 1
                print(f"    {type(exc).__name__} on {req.method} {req.path[:80]}", flush=True)
                continue
            body = resp.content
            if resp.status_code != 200:
                errors += 1
                print(f"    HTTP {resp.status_code} on {req.method} {req.path[:80]}: "
                      f"{body[:200]!r}", flush=True)
            else:
                latencies.append(time.perf_counter() - start)  # successes only
                data = json.loads(body)
                features += data.get("numberReturned", len(data.get("features", ())))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as http:
        begin = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(clients)))
        elapsed = time.perf_counter() - begin
    return Result(len(latencies), errors, elapsed, np.array(latencies), features)


def _scenarios(n_requests: int, n_buildings: int, seed: int = 11) -> dict[str, dict[str, list[Request]]]:
    rng = np.random.default_rng(seed)
    pages = rng.integers(0, max(1, n_buildings // 100), n_requests)
    boxes = rng.uniform([X0 + 1000, Y0 + 1000], [X0 + SIDE - 1600, Y0 + SIDE - 1600],
                        (n_requests, 2))
    centres = rng.uniform([X0 + 2000, Y0 + 2000], [X0 + SIDE - 2000, Y0 + SIDE - 2000],
                          (n_requests, 2))
    out: dict[str, dict[str, list[Request]]] = {"items-page": {}, "items-bbox": {},
                                                "perimeter": {}}
    page = [f"/collections/batiments/items?limit=100&offset={int(p) * 100}" for p in pages]
    out["items-page"] = {"ort-geo": [Request("GET", p) for p in page],
                         "pygeoapi": [Request("GET", p + "&f=json") for p in page]}
    bbox = []
    for x, y in boxes:
        lo = TO_LONLAT.transform(x, y)
        hi = TO_LONLAT.transform(x + 600, y + 600)
        bbox.append(f"/collections/batiments/items?limit=1000&bbox={lo[0]:.6f},{lo[1]:.6f},"
                    f"{hi[0]:.6f},{hi[1]:.6f}")
    out["items-bbox"] = {"ort-geo": [Request("GET", b) for b in bbox],
                         "pygeoapi": [Request("GET", b + "&f=json") for b in bbox]}
    ours, theirs = [], []
    for cx, cy in centres:
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        radius = np.where(np.arange(24) % 2, 250.0, 500.0)
        ring = [TO_LONLAT.transform(cx + r * np.cos(a), cy + r * np.sin(a))
                for a, r in zip(angles, radius, strict=True)]
        ring.append(ring[0])
        ours.append(Request("POST", "/batiments/within",
                            {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}))
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        theirs.append(Request("GET", f"/collections/batiments/items?limit=10000&f=json&bbox="
                                     f"{min(xs):.6f},{min(ys):.6f},{max(xs):.6f},{max(ys):.6f}"))
    out["perimeter"] = {"ort-geo": ours, "pygeoapi": theirs}
    return out


def _check_agreement(gpkg: Path, servers: dict[str, Server], requests: dict[str, list[Request]],
                     headers: dict[str, dict[str, str]]) -> None:
    """Both servers answer the same boxes with the buildings geopandas finds (else the comparison
    is void). A CRS84 box is a curved quadrilateral in Lambert-93: ort-geo matches it exactly;
    pygeoapi projects its corners, so it may differ on the box's edges — reported."""
    import re

    import httpx

    from ort_geo import open_store

    buildings = open_store(gpkg).read("batiments", columns=[]).to_crs(4326)
    edge = 0
    for i in range(5):
        path = requests["ort-geo"][i].path
        box = [float(v) for v in re.search(r"bbox=([-\d.,]+)", path).group(1).split(",")]
        truth = set(buildings.loc[buildings.intersects(shapely.box(*box)), "id"])
        for name, server in servers.items():
            req = requests[name][i]
            data = httpx.get(server.url + req.path, headers=headers[name], timeout=120).json()
            found = {str(f["properties"].get("id", f.get("id"))) for f in data["features"]}
            if name == "ort-geo" and found != truth:
                raise SystemExit(f"ort-geo diffère de geopandas sur {path}")
            if name == "pygeoapi":
                if len(found ^ truth) > 0.2 * max(len(truth), 5):
                    raise SystemExit(f"pygeoapi diffère de geopandas sur {path}")
                edge += len(found ^ truth)
    print(f"   5 bbox requests: ort-geo = geopandas; pygeoapi differs by {edge} building(s) on box "
          "edges (corner-only reprojection)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api")
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8],
                        help="concurrent clients (one run per value)")
    parser.add_argument("--requests", type=int, default=300, help="requests per scenario")
    parser.add_argument("--seconds", type=float, default=60, help="time bound per scenario")
    parser.add_argument("--data", type=Path, default=Path("out/bench-api"))
    parser.add_argument("--servers", nargs="+", default=["ort-geo", "pygeoapi"],
                        choices=["ort-geo", "pygeoapi"])
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    gpkg = args.data / f"batiments-{args.buildings}.gpkg"
    print(f"== {args.buildings:,} buildings in {gpkg}; {args.clients} concurrent clients, "
          f"{args.requests} requests per scenario (at most {args.seconds:.0f} s)", flush=True)
    t = time.perf_counter()
    build_store(gpkg, args.buildings)
    print(f"   store ready in {time.perf_counter() - t:.1f} s", flush=True)
    key = gpkg.with_suffix(".key").read_text().strip()
    # pygeoapi gets its own copy: each server reads a file no one else touches.
    theirs = args.data / f"pygeoapi-{args.buildings}.gpkg"
    if "pygeoapi" in args.servers and not theirs.exists():
        shutil.copyfile(gpkg, theirs)
    servers: dict[str, Server] = {}
    try:
        if "ort-geo" in args.servers:
            port = _free_port()
            servers["ort-geo"] = Server("ort-geo", [
                str(Path(sys.executable).with_name("ort-geo")), "serve", "--store", str(gpkg),
                "--port", str(port)], port)
        if "pygeoapi" in args.servers:
            if importlib.util.find_spec("pygeoapi") is None:
                print("pygeoapi absent : pip install 'ort-geo[bench]'", file=sys.stderr)
                return 1
            port = _free_port()
            env = _pygeoapi_config(theirs.resolve(), args.data.resolve(), port)
            servers["pygeoapi"] = Server("pygeoapi", [
                sys.executable, "-m", "benchmarks.pygeoapi_server", "serve", str(port)], port, env)
        for server in servers.values():
            server.wait("/collections/batiments")
        headers = {"ort-geo": {"X-API-Key": key}, "pygeoapi": {}}
        scenarios = _scenarios(args.requests, args.buildings)
        if len(servers) == 2:
            _check_agreement(gpkg, servers, scenarios["items-bbox"], headers)
        table: dict[tuple[str, int], dict[str, Result]] = {}
        for clients in args.clients:
            print(f"-- {clients} concurrent client(s)", flush=True)
            for scenario, by_server in scenarios.items():
                row = table[(scenario, clients)] = {}
                for name, server in servers.items():
                    warm = by_server[name][:clients]
                    asyncio.run(_load(server.url, warm, clients, args.seconds, headers[name]))
                    r = asyncio.run(_load(server.url, by_server[name], clients, args.seconds,
                                          headers[name]))
                    row[name] = r
                    print(f"  {scenario:11s} {name:9s} {r.count:5d} req {r.rps:8.1f} req/s  "
                          f"p50 {r.pct(50):8.1f} ms  p99 {r.pct(99):8.1f} ms  "
                          f"{r.features / max(r.count, 1):7.1f} features/req  "
                          f"errors {r.errors}", flush=True)
        if len(servers) == 2:
            print("== ratios ort-geo / pygeoapi (throughput: higher is better for ort-geo; "
                  "p99: pygeoapi's p99 over ort-geo's)")
            for (scenario, clients), results in table.items():
                ours, base = results["ort-geo"], results["pygeoapi"]
                note = f"  (pygeoapi errors: {base.errors})" if base.errors else ""
                if not base.count:
                    print(f"  {scenario:11s} {clients:2d} client(s)  pygeoapi answered no request "
                          f"successfully{note}", flush=True)
                    continue
                print(f"  {scenario:11s} {clients:2d} client(s)  throughput "
                      f"{ours.rps / base.rps:6.1f}×   p99 {base.pct(99) / ours.pct(99):6.1f}× "
                      f"lower{note}", flush=True)
        failed = sum(r.errors for results in table.values() for name, r in results.items()
                     if name == "ort-geo")
        return 0 if failed == 0 else 1
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
