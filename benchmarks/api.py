"""``python -m benchmarks.api``: API service time under ``wrk``, on both backends, each route against
the server's own trivial route (``/conformance``) and against the fastest Python peers on the same
data, in one run.

The store: the Val d'Argent demo (``ort-geo build``) plus ``--buildings`` generated footprints over
its communes' extent, cached in ``--cache``; the PostGIS store is its copy (``ort-geo copy``'s
engine) in the schema ``bench_api_<n>`` of ``--url`` (default ``$ORT_GEO_TEST_POSTGIS``), kept for
the next run. Servers, one at a time, each with as many worker processes as ``ort-geo serve``
starts by default (one per core, at most 8):

- ort-geo on the GeoPackage and on PostGIS (called with a staff key: it authenticates every
  request and enforces roles, which the peers do not do);
- TiPg (PyPI ``tipg``) on the same PostGIS tables, with uvicorn;
- pygeoapi (PyPI ``pygeoapi``) on the same GeoPackage, with its GeoPackage provider (through
  SpatiaLite: Debian ``libsqlite3-mod-spatialite``, loaded by ``pysqlite3-binary``).

The peers are installed, on first use, in their own virtual environments under ``--cache``
(``venv-tipg``, ``venv-pygeoapi``): benchmark tools, not dependencies of ort-geo.

Routes: ``/conformance``; the items of the small collection ``secteurs_ort``; a 100-building page
of ``batiments`` in a 600 m ``bbox`` (CRS84, as web clients send it) — one fixed box ("fixed"),
500 boxes across the territory that a ``wrk`` Lua script takes in turn ("varied": a box comes
back every 500 requests, as a map's views do), and boxes never asked twice in the run ("cold":
each connection level its own :data:`COLD_BOXES`, each ``wrk`` thread its own half of them, so
that only the features overlapping boxes share are served from texts the server keeps — the
read and the writing of nearly every feature). ``wrk`` (Debian ``wrk``) loads each route at 1, 8
and 32 connections for ``--seconds``, one route after the other (the cold boxes would flush what
a server keeps of the varied ones). Reported: requests/s, p99 latency, CPU per request of the
server's processes and of the PostgreSQL backends serving them (the same cores: on a busy
machine the steadier figure), the ratios to the same server's ``/conformance`` (targets at 32
connections: small collection within 2x, bbox page within 4x, on throughput and p99) and
ort-geo's throughput over each peer's on the routes both serve.

    ORT_GEO_TEST_POSTGIS=postgresql://… python -m benchmarks.api --buildings 200000

``--editing`` adds the editing figures: a PATCH of a sector alone (median of 20) and 8 concurrent
editors incrementing its version with ``If-Match``, retrying on 412 (no lost update allowed).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SECTOR = "smam-centre-ville"
CONNECTIONS = (1, 8, 32)
BOX_METRES = 600.0
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: The peers, each in its own virtual environment (lower bounds: the versions this was run with).
PEERS = {
    "tipg": ["tipg>=1.0", "uvicorn>=0.30"],
    "pygeoapi": ["pygeoapi>=0.18", "pysqlite3-binary>=0.5", "uvicorn>=0.30"],
}
ROOT = Path(__file__).resolve().parents[1]


# -- data -------------------------------------------------------------------------------------

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


def postgis_copy(gpkg: Path, url: str, n: int) -> str:
    """The store copied into the schema ``bench_api_<n>`` (kept: copied once)."""
    import psycopg

    from ort_geo import open_store
    from ort_geo.copy import copy_store

    schema = f"bench_api_{n}"
    location = f"{url}?schema={schema}"
    with psycopg.connect(url, autocommit=True) as conn:
        done = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".bench_done',)).fetchone()[0]
        if done is not None:
            return location
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    pg = open_store(location, create=True)
    copy_store(open_store(gpkg), pg)
    pg.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'ANALYZE "{schema}".batiments')
        conn.execute(f'CREATE TABLE "{schema}".bench_done ()')
    return location


def boxes(gpkg: Path, count: int, seed: int = 11) -> tuple[list[str], str]:
    """``count`` CRS84 boxes of about 600 m spread over the buildings, and the fixed box (around
    the demo's town-centre sector), as ``bbox`` values."""
    from pyproj import Transformer

    from ort_geo import open_store

    store = open_store(gpkg)
    minx, miny, maxx, maxy = store.extent("communes")
    cx, cy = store.read("secteurs_ort", ids=[SECTOR]).geometry.iloc[0].centroid.coords[0]
    store.close()
    to_lonlat = Transformer.from_crs(2154, 4326, always_xy=True)
    rng = np.random.default_rng(seed)
    corners = rng.uniform([minx, miny], [maxx - BOX_METRES, maxy - BOX_METRES], (count, 2))

    def bbox(x: float, y: float) -> str:
        lon0, lat0 = to_lonlat.transform(x, y)
        lon1, lat1 = to_lonlat.transform(x + BOX_METRES, y + BOX_METRES)
        return f"{lon0:.6f},{lat0:.6f},{lon1:.6f},{lat1:.6f}"

    half = BOX_METRES / 2
    return [bbox(x, y) for x, y in corners], bbox(cx - half, cy - half)


# -- servers ----------------------------------------------------------------------------------

def workers() -> int:
    from ort_geo.cli.serve import default_workers

    return default_workers()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Base(str):
    """A server's base URL, with the process id of the server (its workers are its children)."""

    pid: int

    def __new__(cls, url: str, pid: int) -> Base:
        self = super().__new__(cls, url)
        self.pid = pid
        return self


@contextmanager
def running(name: str, argv: list[str], ready: str, env: dict[str, str] | None = None,
            port: int | None = None):
    """A server process on a free loopback port (``{port}`` in ``argv``), until the block ends."""
    import httpx

    port = port or _free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - open while the server runs
    # Its own process group: the workers go with it (a peer's workers still busy with the
    # requests of a route wrk has left would run on beside the next server's measurements).
    proc = subprocess.Popen([a.replace("{port}", str(port)) for a in argv],
                            env={**os.environ, **(env or {})}, stdout=log, stderr=log,
                            cwd=ROOT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # workers import their stack: slow on a busy machine
        while True:
            try:
                if httpx.get(base + ready, timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"{name} n'a pas démarré :\n"
                                   f"{log.read().decode(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield Base(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # workers left behind
        log.close()


def peer_python(cache: Path, peer: str) -> Path:
    """The Python of the peer's own virtual environment (created and filled on first use)."""
    folder = cache / f"venv-{peer}"
    python = folder / "bin" / "python"
    done = folder / ".installed"
    if not done.exists():
        print(f"   installing {peer} in {folder} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEERS[peer]],
                       check=True)
        done.write_text(" ".join(PEERS[peer]))
    return python


def pygeoapi_config(gpkg: Path, folder: Path, python: Path) -> dict[str, str]:
    """pygeoapi's configuration (the store's sectors and buildings) and OpenAPI document."""
    import yaml
    from pyproj import Transformer

    from ort_geo import open_store

    store = open_store(gpkg)
    to_lonlat = Transformer.from_crs(2154, 4326, always_xy=True)
    bbox = list(to_lonlat.transform_bounds(*store.extent("communes")))
    store.close()
    url = "http://127.0.0.1"
    provider = {"type": "feature", "name": "SQLiteGPKG", "data": str(gpkg), "id_field": "id",
                "storage_crs": "http://www.opengis.net/def/crs/EPSG/0/2154",
                "crs": [CRS84, "http://www.opengis.net/def/crs/EPSG/0/2154"]}
    resources = {
        name: {"type": "collection", "title": name, "description": name, "keywords": [name],
               "extents": {"spatial": {"bbox": bbox, "crs": CRS84}},
               "providers": [{**provider, "table": name}]}
        for name in ("secteurs_ort", "batiments")}
    config = {
        "server": {"bind": {"host": "127.0.0.1", "port": 0}, "url": url,
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
        "resources": resources,
    }
    cfg = folder / "pygeoapi.yml"
    cfg.write_text(yaml.safe_dump(config, allow_unicode=True))
    openapi = folder / "pygeoapi-openapi.yml"
    proc = subprocess.run([str(python), "-m", "benchmarks.pygeoapi_server", "openapi", str(cfg),
                           str(openapi)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise RuntimeError(f"configuration pygeoapi refusée :\n{proc.stderr[-2000:]}")
    return {"PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)}


# -- load -------------------------------------------------------------------------------------

@dataclass
class Load:
    rps: float
    p99: float  # ms
    errors: int
    #: CPU per request (ms) of the server's processes and of the PostgreSQL backends serving
    #: them (same cores: a query's CPU is the request's too); None when not measured.
    server_ms: float | None = None
    database_ms: float | None = None


class CPU:
    """CPU ticks of a server's process tree and of the PostgreSQL backends its processes are
    connected to (found by their client ports in ``pg_stat_activity``; ``url`` None, or a
    server on another machine: not measured)."""

    def __init__(self, pid: int, url: str | None) -> None:
        self.pid, self.url = pid, url

    def tree(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text()
                                                   .rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        found, frontier = [self.pid], [self.pid]
        while frontier:
            frontier = [p for p, parent in parents.items() if parent in frontier]
            found += frontier
        return found

    def backends(self, pids: list[int]) -> list[int]:
        if not self.url:
            return []
        import psycopg

        inodes = set()
        for pid in pids:
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    link = os.readlink(fd)
                    if link.startswith("socket:["):
                        inodes.add(link[8:-1])
            except OSError:
                continue
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE client_port = "
                                "ANY(%s)", (sorted(ports),)).fetchall()
        return [r[0] for r in rows if Path(f"/proc/{r[0]}").exists()]

    @staticmethod
    def ticks(pids: list[int]) -> dict[int, int]:
        out = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = int(fields[11]) + int(fields[12])
        return out

    def sample(self) -> tuple[dict[int, int], dict[int, int]]:
        pids = self.tree()
        return self.ticks(pids), self.ticks(self.backends(pids))

    def per_request(self, before: tuple[dict[int, int], dict[int, int]], requests: float
                    ) -> tuple[float, float | None]:
        after = self.sample()
        hz = os.sysconf("SC_CLK_TCK")
        server, database = (sum(t - b.get(pid, 0) for pid, t in a.items())
                            for a, b in zip(after, before, strict=True))
        per = 1000 / hz / max(requests, 1)
        return server * per, (database * per if self.url and after[1] else None)


def lua_script(folder: Path, path: str, values: list[str], extra: str,
               spread: bool = False) -> Path:
    """A wrk script sending ``path?bbox=<value>&<extra>``, the next value at each request; every
    wrk thread from the first value, or (``spread``) each from its own half of them."""
    script = folder / f"bbox-{uuid.uuid4().hex[:6]}.lua"
    rows = ",\n".join(f'  "{v}"' for v in values)
    start = ("local threads = 0\nfunction setup(thread)\n"
             "  thread:set('first', threads * math.floor(#boxes / 2))\n  threads = threads + 1\nend\n"
             "function init(args)\n  i = first\nend\n") if spread else ""
    script.write_text(
        f"local boxes = {{\n{rows}\n}}\ni = 0\n{start}"
        "request = function()\n  i = i % #boxes + 1\n"
        f'  return wrk.format(nil, "{path}?{extra}bbox=" .. boxes[i])\nend\n')
    return script


def wrk(url: str, connections: int, seconds: int, headers: dict[str, str],
        script: Path | None = None) -> Load:
    argv = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds}s",
            "--timeout", "30s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    proc = subprocess.run([*argv, url], capture_output=True, text=True)
    out = proc.stdout
    if proc.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk a échoué sur {url} : {out}{proc.stderr}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    found = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(found.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[found.group(2)] \
        if found else float("nan")
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"timeout (\d+)"):
        hit = re.search(pattern, out)
        errors += int(hit.group(1)) if hit else 0
    if errors:  # wrk counts them as requests: keep the successes only
        total = int(re.search(r"(\d+) requests in", out).group(1))
        rate *= max(total - errors, 0) / max(total, 1)
    return Load(rate, p99, errors)


@dataclass
class Server:
    """What one server answers: its label, how to start it and the paths of each route."""

    label: str
    backend: str
    start: object  # a context manager factory returning the base URL
    routes: dict[str, str]  # route -> path (the bbox routes: the items path)
    items_extra: str = ""  # query parameters before bbox (f=json for pygeoapi)
    headers: dict[str, str] | None = None


#: Boxes of the cold route per connection level (half per wrk thread: at ~1,000 pages/s, room
#: for runs of 20 s before a box comes back).
COLD_BOXES = 40_000
#: Seconds of warm-up of the varied route: the steady state it measures is every worker process
#: having met each of its boxes (a map's views come back). At ~1,000 pages/s, 4 s is 8 passes over
#: the 500 boxes, sent on connections spread over the workers: a worker has missed a box with a
#: chance of 2^-8. One second left ~a third of the boxes unseen by each worker, and their first
#: visits (7 % of the run) decided the route's p99.
VARIED_WARM_UP = 4

ROUTES = ("/conformance", "small collection", "bbox page, fixed", "bbox page, varied",
          "bbox page, cold")


def measure(server: Server, connections: tuple[int, ...], seconds: int, box_values: list[str],
            fixed_box: str, cold_values: list[str], folder: Path,
            routes: tuple[str, ...] = ROUTES, url: str | None = None
            ) -> dict[tuple[str, int], Load]:
    import httpx

    results: dict[tuple[str, int], Load] = {}
    headers = server.headers or {}
    with server.start() as base:  # type: ignore[operator]
        items = server.routes["bbox page, varied"]
        # What each server finds in the fixed box (ort-geo projects a CRS84 box exactly, the
        # peers by its corners: a few buildings on the edges may differ).
        page = httpx.get(f"{base}{items}?{server.items_extra}limit=100&bbox={fixed_box}",
                         headers=headers, timeout=120).json()
        print(f"   {server.label}: fixed box, {page.get('numberMatched', '?')} buildings "
              f"matched, {len(page['features'])} returned", flush=True)
        script = lua_script(folder, items, box_values, server.items_extra + "limit=100&")
        # The cold boxes of each level its own: a level asking the last one's again would be
        # served from the texts kept at the last one.
        share = len(cold_values) // len(connections)
        cold = {c: lua_script(folder, items, cold_values[i * share:(i + 1) * share],
                              server.items_extra + "limit=100&", spread=True)
                for i, c in enumerate(connections)}
        urls = {
            "/conformance": base + server.routes["/conformance"],
            "small collection": base + server.routes["small collection"],
            "bbox page, fixed": f"{base}{items}?{server.items_extra}limit=100&bbox={fixed_box}",
        }
        # Each route at every level in turn: the cold route's 40,000 boxes flush the boxes a
        # server keeps, and the varied route measured right after them would count the first
        # visit of each box by each worker (its p99) — the cold route's figure, not its own.
        for route in routes:
            for c in connections:
                target, lua = ((base, script) if route == "bbox page, varied" else
                               (base, cold[c]) if route == "bbox page, cold" else
                               (urls[route], None))
                # Warm-up (cold boxes: with the varied ones, or the run would ask them again).
                warm = VARIED_WARM_UP if route == "bbox page, varied" else 1
                wrk(target, c, warm, headers, script if route == "bbox page, cold" else lua)
                cpu = CPU(base.pid, url if server.backend == "PostGIS" else None)
                before = cpu.sample()
                load = results[(route, c)] = wrk(target, c, seconds, headers, lua)
                load.server_ms, load.database_ms = cpu.per_request(before, load.rps * seconds)
                note = f"  errors {load.errors}" if load.errors else ""
                db = "" if load.database_ms is None else f" + PostgreSQL {load.database_ms:.2f}"
                print(f"   {server.label:22s} {c:2d} conn  {route:18s} {load.rps:8.1f} req/s  "
                      f"p99 {load.p99:8.1f} ms  CPU/request: server {load.server_ms:.2f}{db} "
                      f"ms{note}", flush=True)
    return results


# -- editing ----------------------------------------------------------------------------------

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

    with httpx.Client(timeout=120) as client:
        first = client.get(url, headers={"X-API-Key": key}).json()["properties"]["version"] or 1
        alone = [bump(client)[1] for _ in range(20)]

    def editor(_: int) -> tuple[int, int]:
        ok = retries = 0
        with httpx.Client(timeout=120) as client:
            while ok < 5:
                done, _ms = bump(client)
                ok += done
                retries += not done
        return ok, retries

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(editor, range(8)))
    with httpx.Client(timeout=120) as client:
        last = client.get(url, headers={"X-API-Key": key}).json()["properties"]["version"]
    ok = sum(r[0] for r in results) + 20
    return statistics.median(alone), ok, sum(r[1] for r in results), last - first


# -- report -----------------------------------------------------------------------------------

def report(table: dict[str, dict[tuple[str, int], Load]], connections: tuple[int, ...]) -> None:
    routes = ("small collection", "bbox page, fixed", "bbox page, varied", "bbox page, cold")
    print("\n== ratio to the same server's /conformance (throughput: conformance/route; "
          "p99: route/conformance; targets at 32 connections: small collection <= 2, "
          "bbox page <= 4)")
    print(f"   {'server':22s} conn  " + "  ".join(f"{r:>24s}" for r in routes))
    for label, results in table.items():
        for c in connections:
            ref = results[("/conformance", c)]
            cells = []
            for route in routes:
                load = results.get((route, c))
                if load is None:  # not measured (--routes)
                    cells.append("-")
                    continue
                thr = ref.rps / load.rps if load.rps else float("inf")
                cells.append(f"{thr:9.1f}x / {load.p99 / ref.p99:7.1f}x")
            print(f"   {label:22s} {c:4d}  " + "  ".join(f"{cell:>24s}" for cell in cells))
    pairs = [("ort-geo PostGIS", "TiPg"), ("ort-geo GeoPackage", "pygeoapi")]
    for ours, theirs in pairs:
        if ours not in table or theirs not in table:
            continue
        print(f"\n== {ours} / {theirs} (throughput ratio: > 1 means ort-geo serves more "
              "requests per second; p99 ratio: theirs / ours)")
        for c in connections:
            cells = []
            for route in ("/conformance", *routes):
                if (route, c) not in table[ours] or (route, c) not in table[theirs]:
                    continue
                a, b = table[ours][(route, c)], table[theirs][(route, c)]
                thr = a.rps / b.rps if b.rps else float("inf")
                cells.append(f"{route} {thr:.2f}x / p99 {b.p99 / a.p99:.2f}x")
            print(f"   {c:2d} conn  " + "   ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api")
    parser.add_argument("--buildings", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, nargs="+", default=list(CONNECTIONS))
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("ORT_GEO_BENCH_CACHE", "out/bench")))
    parser.add_argument("--url", default=os.environ.get("ORT_GEO_TEST_POSTGIS"))
    parser.add_argument("--servers", nargs="+",
                        default=["ort-geo-gpkg", "pygeoapi", "ort-geo-postgis", "tipg"],
                        choices=["ort-geo-gpkg", "pygeoapi", "ort-geo-postgis", "tipg"])
    parser.add_argument("--routes", nargs="+", default=["small", "fixed", "varied", "cold"],
                        choices=["small", "fixed", "varied", "cold"],
                        help="routes measured besides /conformance (always measured: the "
                             "reference of every ratio); fewer for a quicker run")
    parser.add_argument("--editing", action="store_true",
                        help="also time PATCHes alone and under 8 concurrent editors")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        parser.error("wrk manque : apt-get install wrk")
    needs_pg = {"ort-geo-postgis", "tipg"} & set(args.servers)
    if needs_pg and not args.url:
        parser.error("PostGIS : donnez --url ou ORT_GEO_TEST_POSTGIS (ou --servers sans "
                     "ort-geo-postgis ni tipg)")
    from ort_geo import auth, open_store

    args.cache = args.cache.resolve()
    args.cache.mkdir(parents=True, exist_ok=True)
    n_workers = workers()
    print(f"== {args.buildings:,} generated buildings + the Val d'Argent demo; every server with "
          f"{n_workers} worker process(es); wrk {args.seconds:g} s per route at "
          f"{args.connections} connections; cache {args.cache}", flush=True)
    gpkg = build(args.cache, args.buildings)
    pg = postgis_copy(gpkg, args.url, args.buildings) if needs_pg else None
    box_values, fixed_box = boxes(gpkg, 500)
    cold_values, _ = boxes(gpkg, COLD_BOXES * len(args.connections), seed=12)
    exe = str(Path(sys.executable).with_name("ort-geo"))
    keys: dict[str, str] = {}
    for location in (str(gpkg), pg):
        if location is not None:
            with open_store(location) as st:
                keys[location] = auth.create_key(st, f"bench-{uuid.uuid4().hex[:6]}", "editor")
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    servers: dict[str, Server] = {}
    ogc = {"/conformance": "/conformance", "small collection": "/collections/secteurs_ort/items",
           "bbox page, varied": "/collections/batiments/items"}

    def ort_geo(location: str):
        return lambda: running("ort-geo", [exe, "serve", "--store", location, "--port", "{port}"],
                               "/conformance")

    if "ort-geo-gpkg" in args.servers:
        servers["ort-geo GeoPackage"] = Server("ort-geo GeoPackage", "GeoPackage",
                                               ort_geo(str(gpkg)), ogc,
                                               headers={"X-API-Key": keys[str(gpkg)]})
    if "pygeoapi" in args.servers:
        py_pygeoapi = peer_python(args.cache, "pygeoapi")
        env_pygeoapi = pygeoapi_config(gpkg, folder, py_pygeoapi)
        servers["pygeoapi"] = Server(
            "pygeoapi", "GeoPackage",
            lambda: running("pygeoapi", [str(py_pygeoapi), "-m", "benchmarks.pygeoapi_server",
                                         "serve", "{port}", str(n_workers)],
                            "/collections/batiments?f=json", env_pygeoapi),
            {"/conformance": "/conformance?f=json",
             "small collection": "/collections/secteurs_ort/items?f=json",
             "bbox page, varied": "/collections/batiments/items"}, items_extra="f=json&")
    if "ort-geo-postgis" in args.servers and pg is not None:
        servers["ort-geo PostGIS"] = Server("ort-geo PostGIS", "PostGIS", ort_geo(pg), ogc,
                                            headers={"X-API-Key": keys[pg]})
    if "tipg" in args.servers and pg is not None:
        py_tipg = peer_python(args.cache, "tipg")
        schema = f"bench_api_{args.buildings}"
        env_tipg = {"DATABASE_URL": args.url, "TIPG_DB_SCHEMAS": f'["{schema}"]',
                    "TIPG_DB_FUNCTIONS": "[]"}
        servers["TiPg"] = Server(
            "TiPg", "PostGIS",
            lambda: running("TiPg", [str(py_tipg), "-m", "benchmarks.peer_server",
                                     "tipg.main:app", "{port}", str(n_workers)],
                            "/conformance", env_tipg),
            {"/conformance": "/conformance",
             "small collection": f"/collections/{schema}.secteurs_ort/items",
             "bbox page, varied": f"/collections/{schema}.batiments/items"})
    table: dict[str, dict[tuple[str, int], Load]] = {}
    connections = tuple(args.connections)
    chosen = {"small": "small collection", "fixed": "bbox page, fixed",
              "varied": "bbox page, varied", "cold": "bbox page, cold"}
    routes = ("/conformance", *(chosen[r] for r in ("small", "fixed", "varied", "cold")
                                if r in args.routes))
    try:
        for label, server in servers.items():
            print(f"-- {label} ({server.backend})", flush=True)
            table[label] = measure(server, connections, args.seconds, box_values, fixed_box,
                                   cold_values, folder, routes, args.url)
        report(table, connections)
        if args.editing:
            for location in (str(gpkg), pg):
                if location is None:
                    continue
                with running("ort-geo", [exe, "serve", "--store", location, "--port", "{port}"],
                             "/conformance") as base:
                    median, ok, retries, delta = editing(base, keys[location])
                print(f"   PATCH on {'PostGIS' if location == pg else 'GeoPackage'}: alone "
                      f"{median:.0f} ms (median of 20); 8 concurrent editors: {ok} successful "
                      f"PATCHes, {retries} refused (412) and retried, version +{delta} — "
                      f"{'no lost update' if delta == ok else 'LOST UPDATES'}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for location, key in keys.items():
            with open_store(location) as st:
                auth.revoke_key(st, key.partition(".")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
