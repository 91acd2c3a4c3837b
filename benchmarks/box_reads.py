"""``python -m benchmarks.box_reads``: the GeoPackage's ``bbox`` page read in process
(``Store.read_batch``, what the API's items route calls) — this checkout against a baseline
commit, in the same run.

The store is ``benchmarks.api``'s (the Val d'Argent demo plus ``--buildings`` generated buildings,
built once in ``--cache``; only read here). The boxes are that benchmark's: its fixed 600 m CRS84
box, and 200 boxes spread over the territory, projected as the API does (``parse_bbox``); each
read asks 100 buildings, all fields, counted. Each version runs in its own process (the
baseline's ``ort_geo`` and ``api`` extracted from git and put first on ``PYTHONPATH``), with 1 and
then ``--threads`` threads reading at once for ``--seconds`` each. Reported per read: CPU time
(the process's, all threads), context switches (GIL hand-offs between the threads: Python's
sqlite3 releases the GIL at every fetched row) and wall-clock reads per second (the machine's
load moves this one; the CPU time is what the code costs).

    python -m benchmarks.box_reads --cache /work/bench-cache --baseline 2c66511
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path


def _reader(read, values: list[str], k: int, stop: threading.Event, counts: list[int]) -> None:
    """Read the boxes in turn (each thread from its own place) until told to stop."""
    done = 0
    while not stop.is_set():
        read(values[(done * 7 + k) % len(values)])
        done += 1
    counts.append(done)


def measure(store_path: Path, threads: list[int], seconds: float) -> list[dict]:
    """This process's figures (run by each version in its own interpreter)."""
    from api import geojson
    from benchmarks.api import boxes
    from ort_geo import open_store

    varied, fixed = boxes(store_path, 200)
    store = open_store(store_path)
    spec = store.spec("batiments")
    columns = [n for n in spec.field_names if n != spec.key]

    def read(value: str) -> int:
        query = geojson.parse_bbox(value, geojson.CRS84, storage=store.epsg)
        _, matched = store.read_batch("batiments", columns=columns, limit=100, count=True,
                                      bbox=query.envelope, area=query.area)
        return matched

    matched = [read(v) for v in [fixed, *varied]]  # both versions must find the same
    out = []
    for name, values in (("fixed", [fixed]), ("varied", varied)):
        for n in threads:
            stop, counts = threading.Event(), []
            workers = [threading.Thread(target=_reader, args=(read, values, k, stop, counts))
                       for k in range(n)]
            usage, cpu, wall = resource.getrusage(resource.RUSAGE_SELF), time.process_time(), \
                time.perf_counter()
            for w in workers:
                w.start()
            time.sleep(seconds)
            stop.set()
            for w in workers:
                w.join()
            after = resource.getrusage(resource.RUSAGE_SELF)
            total = sum(counts)
            out.append({"box": name, "threads": n, "matched": matched,
                        "rate": total / (time.perf_counter() - wall),
                        "cpu": (time.process_time() - cpu) / total * 1e3,
                        "switches": (after.ru_nvcsw + after.ru_nivcsw - usage.ru_nvcsw
                                     - usage.ru_nivcsw) / total})
    store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.box_reads")
    parser.add_argument("--baseline", default="2c66511",
                        help="commit to compare with (default: main before the R-tree walk)")
    parser.add_argument("--buildings", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("ORT_GEO_BENCH_CACHE", "out/bench")))
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # one version's process
    args = parser.parse_args(argv)
    threads = sorted({1, args.threads})
    from benchmarks.edit_service import as_version_worker, baseline_tree, version_worker

    if args.worker is not None:
        as_version_worker(__file__)
        print(json.dumps(measure(args.worker, threads, args.seconds)))
        return 0
    from benchmarks.api import build

    store_path = build(args.cache.resolve(), args.buildings)
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="ort-geo-bench-box-") as tmp:
        for name, pythonpath in (("baseline", baseline_tree(args.baseline, Path(tmp))),
                                 ("this", None)):
            results[name], said = version_worker(
                __file__, ["--worker", str(store_path), "--threads", str(args.threads),
                           "--seconds", str(args.seconds)], pythonpath, Path(tmp))
            print(f"{name}: {said}", flush=True)
            for row in results[name]:
                print(f"{name:8s} {row['box']:6s} box {row['threads']:2d} thread(s): "
                      f"{row['rate']:6.0f} reads/s, CPU "
                      f"{row['cpu']:5.2f} ms/read, {row['switches']:5.1f} context switches/read",
                      flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    same = results["baseline"][0]["matched"] == results["this"][0]["matched"]
    print(f"same numberMatched in every box (fixed: {results['this'][0]['matched'][0]}): "
          + ("yes" if same else "NO"))
    print(f"\nBaseline {args.baseline} / this checkout, CPU per read (> 1 = cheaper now):")
    for old, new in zip(results["baseline"], results["this"], strict=True):
        print(f"  {new['box']:6s} box, {new['threads']:2d} thread(s): ×{old['cpu'] / new['cpu']:.2f}"
              f" (context switches {old['switches']:.1f} -> {new['switches']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
