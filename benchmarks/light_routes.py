"""``python -m benchmarks.light_routes``: does a light route keep answering while heavy geometry
requests run? ``/conformance`` latency (median, p95, max) with ``--heavy`` concurrent posted
perimeters of ``--vertices`` vertices in flight, against ``ort-geo serve`` (one server process)
with the geometry pool (``--geometry-processes 2``, the default) and without it
(``--geometry-processes 0``: parsing, checks and joins in the server's threads, as before), in
the same run, each after a baseline with no heavy request (the machine may be loaded by others:
the baseline says how much of a latency is the machine's). Also printed: CPU seconds of the
server process and of its pool during the heavy phase (what the GIL-bound work cost, and where
it ran), and the ratios threads / pool.

    python -m benchmarks.light_routes                  # 4 x 190,000 vertices, 20,000 buildings
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

from .served_store import SIDE, TO_LONLAT, X0, Y0, Server, build_store, free_port

GEOJSON = {"Content-Type": "application/geo+json"}


def perimeter(vertices: int, radius_m: float = 1500.0) -> bytes:
    """A circle of ``vertices`` vertices (CRS84 GeoJSON) in the middle of the store's buildings."""
    import json

    cx, cy = X0 + SIDE / 2, Y0 + SIDE / 2
    angles = [2 * math.pi * k / vertices for k in range(vertices)]
    xs = [cx + radius_m * math.cos(a) for a in angles]
    ys = [cy + radius_m * math.sin(a) for a in angles]
    lon, lat = TO_LONLAT.transform(xs, ys)
    ring = [[round(x, 7), round(y, 7)] for x, y in zip(lon, lat, strict=True)]
    return json.dumps({"type": "Polygon", "coordinates": [[*ring, ring[0]]]}).encode()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of living processes (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rpartition(")")[2].split()[1])
            except OSError:
                continue
    found, frontier = [], [pid]
    while frontier:
        frontier = [c for c, p in parents.items() if p in frontier]
        found += frontier
    return found


def probe(url: str, until: threading.Event | None, count: int, pace: float) -> list[float]:
    """``/conformance`` latencies, one request every ``pace`` s: ``count`` of them, or until
    ``until`` is set."""
    latencies = []
    with httpx.Client(timeout=60) as http:
        while (until is None and len(latencies) < count) or (until is not None
                                                             and not until.is_set()):
            start = time.perf_counter()
            http.get(f"{url}/conformance").raise_for_status()
            latencies.append(time.perf_counter() - start)
            time.sleep(pace)
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"n": len(ordered), "median": 1000 * statistics.median(ordered),
            "p95": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max": 1000 * ordered[-1]}


def run(store: Path, processes: int, body: bytes, heavy: int, pace: float
        ) -> dict[str, object]:
    port = free_port()
    exe = str(Path(sys.executable).with_name("ort-geo"))
    server = Server(f"ort-geo ({processes} processus de calcul)",
                    [exe, "serve", "--store", str(store), "--port", str(port), "--workers", "1",
                     "--geometry-processes", str(processes)], port)
    try:
        server.wait("/conformance", timeout=180)
        url = server.url
        # Warm-up, not measured: the pool starts at its first heavy request.
        httpx.post(f"{url}/batiments/within", content=body, headers=GEOJSON,
                   timeout=600).raise_for_status()
        baseline = probe(url, None, 100, pace)
        done = threading.Event()
        statuses: list[int] = []

        def post() -> None:
            with httpx.Client(timeout=600) as http:
                statuses.append(http.post(f"{url}/batiments/within", content=body,
                                          headers=GEOJSON).status_code)

        family = descendants(server.proc.pid)
        server_cpu, pool_cpu = cpu_seconds([server.proc.pid]), cpu_seconds(family)
        clients = [threading.Thread(target=post) for _ in range(heavy)]
        started = time.perf_counter()
        for c in clients:
            c.start()
        watcher = threading.Thread(target=lambda: ([c.join() for c in clients], done.set()))
        watcher.start()
        during = probe(url, done, 0, pace)
        watcher.join()
        wall = time.perf_counter() - started
        if statuses != [200] * heavy:
            raise RuntimeError(f"requêtes lourdes en échec : {statuses}")
        return {"baseline": summary(baseline), "during": summary(during), "wall": wall,
                "server_cpu": cpu_seconds([server.proc.pid]) - server_cpu,
                "pool_cpu": cpu_seconds(descendants(server.proc.pid)) - pool_cpu}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.light_routes")
    parser.add_argument("--buildings", type=int, default=20_000)
    parser.add_argument("--vertices", type=int, default=190_000)
    parser.add_argument("--heavy", type=int, default=4, help="concurrent heavy requests")
    parser.add_argument("--pace", type=float, default=0.02,
                        help="seconds between two /conformance requests")
    parser.add_argument("--data", type=Path, default=Path("out/bench-light"))
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    store = build_store(args.data / f"batiments-{args.buildings}.gpkg", args.buildings)
    body = perimeter(args.vertices)
    print(f"== /conformance while {args.heavy} perimeters of {args.vertices:,} vertices "
          f"({len(body) / 2**20:.1f} MiB each) run; {args.buildings:,} buildings; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    results = {}
    for name, processes in (("threads (before)", 0), ("pool (after)", 2)):
        r = results[name] = run(store, processes, body, args.heavy, args.pace)
        for phase in ("baseline", "during"):
            s = r[phase]
            label = "no heavy request" if phase == "baseline" else "heavy in flight"
            print(f"  {name:17} {label:17} n={s['n']:4}  median {s['median']:7.1f} ms  "
                  f"p95 {s['p95']:7.1f} ms  max {s['max']:7.1f} ms", flush=True)
        print(f"  {name:17} heavy phase {r['wall']:.1f} s wall; CPU: server process "
              f"{r['server_cpu']:.2f} s, geometry pool {r['pool_cpu']:.2f} s", flush=True)
    before, after = results["threads (before)"]["during"], results["pool (after)"]["during"]
    base = results["pool (after)"]["baseline"]
    for key in ("median", "p95", "max"):
        print(f"  {key:6}: threads / pool = {before[key] / after[key]:5.1f}x ; "
              f"pool during heavy / baseline = {after[key] / base[key]:5.1f}x")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
