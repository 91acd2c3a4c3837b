"""``python -m benchmarks.pg_pages``: the PostGIS ``bbox`` page read in process
(``Store.read_page``, what the API's items route calls) — this checkout against a baseline commit,
each in its own process, alternated, in one run.

The store is ``benchmarks.api``'s PostGIS copy (schema ``bench_api_<n>`` of ``--url``, default
``$ORT_GEO_TEST_POSTGIS``: the Val d'Argent demo plus ``--buildings`` generated buildings; only
read here). The boxes are that benchmark's: its fixed 600 m CRS84 box and 200 boxes spread over
the territory, projected as the API does (``parse_bbox``); each read asks 100 buildings, all
fields, counted. Two states of the caller's kept feature texts (``kept=``):

- ``kept``: every feature of every page already served (the API's steady state: a server's
  pages once the store stops changing);
- ``half``: every other feature kept (a server's cache filling up);
- ``cold``: nothing kept (a store that has just changed: every row is read).

Reported per read, single thread: CPU of the client process and of the PostgreSQL backend serving
it (its connection's server process, read from ``/proc``: same machine only), and reads per
second (moved by the machine's load; the CPU times are what the code costs).

    python -m benchmarks.pg_pages --cache /work/bench-cache --baseline 2e6b982
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def measure(url: str, seconds: float) -> list[dict]:
    """This process's figures (run by each version in its own interpreter)."""
    from api import geojson
    from benchmarks.api import CPU, boxes, build
    from ort_geo import open_store

    gpkg = build(Path(os.environ["ORT_GEO_BENCH_CACHE"]), int(os.environ["ORT_GEO_BENCH_N"]))
    varied, fixed = boxes(gpkg, 200)
    store = open_store(url)
    spec = store.spec("batiments")
    columns = [n for n in spec.field_names if n != spec.key]
    queries = {v: geojson.parse_bbox(v, geojson.CRS84, storage=store.epsg)
               for v in [fixed, *varied]}
    held: dict[int, bytes] = {}

    def kept_all(rows: list[int]) -> list[bytes | None]:
        return [held.get(r) for r in rows]

    def kept_half(rows: list[int]) -> list[bytes | None]:
        return [held.get(r) if r % 2 else None for r in rows]

    def kept_none(rows: list[int]) -> list[bytes | None]:
        return [None] * len(rows)

    def read(value: str, kept) -> tuple[int, list[int]]:
        query = queries[value]
        page = store.read_page("batiments", columns=columns, limit=100, count=True, kept=kept,
                               bbox=query.envelope, area=query.area)
        return page.matched, page.rows

    matched = []
    for v in [fixed, *varied]:  # both versions must find the same; every text held
        n, rows = read(v, kept_none)
        matched.append(n)
        held.update((r, b"{}") for r in rows)
    backend = store._local.own.info.backend_pid  # this thread's own connection
    out = []
    for state, kept in (("kept", kept_all), ("half", kept_half), ("cold", kept_none)):
        for name, values in (("fixed", [fixed]), ("varied", varied)):
            done, pg, cpu, wall = 0, CPU.ticks([backend])[backend], time.process_time(), time.perf_counter()
            while time.perf_counter() - wall < seconds:
                read(values[done % len(values)], kept)
                done += 1
            hz = os.sysconf("SC_CLK_TCK")
            out.append({"box": name, "state": state, "matched": matched,
                        "rate": done / (time.perf_counter() - wall),
                        "cpu": (time.process_time() - cpu) / done * 1e3,
                        "pg": (CPU.ticks([backend])[backend] - pg) * 1e3 / hz / done})
    store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pg_pages")
    parser.add_argument("--baseline", default="2e6b982",
                        help="commit to compare with (default: main before PostGIS skipped "
                             "the kept rows)")
    parser.add_argument("--buildings", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--url", default=os.environ.get("ORT_GEO_TEST_POSTGIS"))
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("ORT_GEO_BENCH_CACHE", "out/bench")))
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one version's process: the URL
    args = parser.parse_args(argv)
    from benchmarks.edit_service import as_version_worker, baseline_tree, version_worker

    if args.worker is not None:
        as_version_worker(__file__)
        print(json.dumps(measure(args.worker, args.seconds)))
        return 0
    if not args.url:
        parser.error("PostGIS : donnez --url ou ORT_GEO_TEST_POSTGIS")
    from benchmarks.api import build, postgis_copy

    cache = args.cache.resolve()
    url = postgis_copy(build(cache, args.buildings), args.url, args.buildings)
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, list[list[dict]]] = {"baseline": [], "this": []}
    with tempfile.TemporaryDirectory(prefix="ort-geo-bench-pg-") as tmp:
        trees = {"baseline": baseline_tree(args.baseline, Path(tmp)), "this": None}
        for k in range(args.rounds):
            for name, pythonpath in trees.items():
                rows, _ = version_worker(
                    __file__, ["--worker", url, "--seconds", str(args.seconds)], pythonpath,
                    Path(tmp), {"ORT_GEO_BENCH_CACHE": str(cache),
                                "ORT_GEO_BENCH_N": str(args.buildings)})
                results[name].append(rows)
                for row in rows:
                    print(f"round {k + 1} {name:8s} {row['state']:4s} {row['box']:6s}: "
                          f"{row['rate']:6.0f} reads/s, CPU client {row['cpu']:5.2f} + "
                          f"PostgreSQL {row['pg']:5.2f} ms/read", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    same = all(r[0]["matched"] == results["this"][0][0]["matched"]
               for runs in results.values() for r in runs)
    print(f"same numberMatched in every box (fixed: {results['this'][0][0]['matched'][0]}): "
          + ("yes" if same else "NO"))
    print(f"\nPer read, baseline {args.baseline} -> this checkout (range over the rounds):")
    for i, row in enumerate(results["this"][0]):
        def span(name: str, key: str, i: int = i) -> str:
            values = [run[i][key] for run in results[name]]
            return f"{min(values):.2f}–{max(values):.2f}"
        print(f"  {row['state']:4s} {row['box']:6s}: client {span('baseline', 'cpu')} -> "
              f"{span('this', 'cpu')} ms, PostgreSQL {span('baseline', 'pg')} -> "
              f"{span('this', 'pg')} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
