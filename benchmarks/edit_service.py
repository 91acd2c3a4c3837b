"""``python -m benchmarks.edit_service``: a PATCH of a sector through ``ort-geo serve``, alone and
under 8 concurrent editors, on both backends — this checkout against a baseline commit, in the
same run.

The store is the Val d'Argent demo (``ort-geo build``, cached in ``--cache``) plus ``--sectors``
small generated sectors (the rule check of the baseline reads whole layers); each version of the
code serves its own copy (a GeoPackage file; a fresh PostGIS schema of ``--url``, default
``$ORT_GEO_TEST_POSTGIS``). The baseline's ``ort_geo`` and ``api`` are extracted from git
(``git archive``) and put first on ``PYTHONPATH`` of its server. Each server runs with its default
worker count. Measured:

* **PATCH alone**: ``--patches`` PATCHes of the main centre-ville sector in a row (its version + 1,
  ``If-Match`` the ETag of the previous answer), median and p95 wall time of each request, and
  the server's CPU time per PATCH (all its processes, from ``/proc``: the machine may be busy,
  CPU time is what the code costs);
* **8 concurrent editors**: each GETs the sector, PATCHes its version + 1 with ``If-Match`` and
  retries on 412 until it has ``--rounds`` successes: throughput of successful PATCHes, statuses
  seen (anything but 200/412 is a failure), and the check that the version grew by exactly the
  number of successes and the journal by as many entries (no lost update).

    ORT_GEO_TEST_POSTGIS=postgresql://… python -m benchmarks.edit_service --baseline 6dc967d
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

SECTOR = "smam-centre-ville"
ROOT = Path(__file__).resolve().parents[1]
PATCH_HEADERS = {"Content-Type": "application/merge-patch+json"}


def build(cache: Path, sectors: int) -> Path:
    """The demo store plus ``sectors`` small sectors in a free corner of the main town."""
    import geopandas as gpd
    import shapely

    from ort_geo import open_store

    path = cache / f"edit-demo-{sectors}.gpkg"
    if path.exists() and path.with_suffix(".done").exists():
        return path
    path.unlink(missing_ok=True)
    subprocess.run([str(Path(sys.executable).with_name("ort-geo")), "build", "--store",
                    str(path)], check=True, stdout=subprocess.DEVNULL)
    if sectors:
        with open_store(path) as st:
            communes = st.read("communes")
            town = communes[communes["code_insee"] == "68298"].geometry.iloc[0]
            taken = shapely.union_all(st.read("secteurs_ort").geometry.values).buffer(50)
            x0, y0, x1, y1 = town.bounds
            boxes: list = []
            for y in np.arange(y0, y1, 60.0):
                for x in np.arange(x0, x1, 60.0):
                    box = shapely.box(x, y, x + 40, y + 40)
                    if len(boxes) < sectors and town.contains(box.buffer(5)) \
                            and not box.intersects(taken):
                        boxes.append(box)
            st.write("secteurs_ort", gpd.GeoDataFrame(
                {"id": [f"gen-{k:04d}" for k in range(len(boxes))], "nom": "généré",
                 "type": "quartier", "code_insee": "68298", "version": 1},
                geometry=boxes, crs=st.crs), author="banc d'essai")
    path.with_suffix(".done").write_text("ok")
    return path


def baseline_tree(rev: str, into: Path) -> Path:
    """``ort_geo`` and ``api`` of commit ``rev``, extracted under ``into``."""
    archive = into / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev, "ort_geo",
                    "api"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "src", filter="data")
    return into / "src"


def version_worker(script: str, argv: list[str], pythonpath: Path | None, cwd: Path,
                   env: dict[str, str] | None = None) -> tuple[Any, str]:
    """Run benchmark ``script`` (a file) with ``argv`` as one version's process: as a script
    (``-m`` would put this checkout first on ``sys.path``), that version's ``ort_geo`` and
    ``api`` (``pythonpath``; None: this checkout's) first, then this checkout (benchmarks).
    Returns the JSON its last line of output holds, and its last line of errors."""
    path = os.pathsep.join(str(p) for p in (pythonpath, ROOT) if p is not None)
    done = subprocess.run([sys.executable, str(Path(script).resolve()), *argv], cwd=cwd,
                          env={**os.environ, **(env or {}), "PYTHONPATH": path},
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr.strip().splitlines()[-1]


def as_version_worker(script: str) -> None:
    """In a process :func:`version_worker` started: leave the script's folder off ``sys.path``
    (``api`` would be benchmarks/api.py) and say which ``ort_geo`` runs, on standard error."""
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(script).parent]
    import ort_geo

    print(f"ort_geo from {Path(ort_geo.__file__).parent}", file=sys.stderr)


@contextmanager
def serve(location: str, pythonpath: Path | None):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.Popen([str(Path(sys.executable).with_name("ort-geo")), "serve", "--store",
                             location, "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # workers import the stack: slow on a busy machine
        while True:
            try:
                if httpx.get(f"{base}/conformance", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("le serveur n'a pas démarré") from None
                time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        todo += children.get(p, [])
    return total


def patch_alone(base: str, key: str, n: int, pid: int) -> dict[str, float]:
    url = f"{base}/collections/secteurs_ort/items/{SECTOR}"
    times = []
    with httpx.Client(timeout=120, headers={"X-API-Key": key}) as client:
        current = client.get(url)
        etag, version = current.headers["etag"], current.json()["properties"]["version"] or 1
        for i in range(n + 3):  # three warm-up PATCHes (imports, caches)
            if i == 3:
                cpu = cpu_seconds(pid)
            start = time.perf_counter()
            resp = client.patch(url, json={"properties": {"version": version + 1}},
                                headers={**PATCH_HEADERS, "If-Match": etag})
            if i >= 3:
                times.append((time.perf_counter() - start) * 1000)
            if resp.status_code != 200:
                raise RuntimeError(f"PATCH {resp.status_code} : {resp.text}")
            etag, version = resp.headers["etag"], version + 1
    cpu = cpu_seconds(pid) - cpu
    return {"median": statistics.median(times), "p95": float(np.percentile(times, 95)),
            "cpu": cpu / n * 1000}


def editors(base: str, key: str, store, editors: int, rounds: int, pid: int) -> dict:
    url = f"{base}/collections/secteurs_ort/items/{SECTOR}"
    first = store.get("secteurs_ort", SECTOR).properties["version"] or 1
    journal = len(store.history("secteurs_ort", SECTOR))
    statuses: list[int] = []

    def editor(_: int) -> int:
        won = 0
        with httpx.Client(timeout=120, headers={"X-API-Key": key}) as client:
            while won < rounds:
                current = client.get(url)
                statuses.append(current.status_code)
                resp = client.patch(url, json={"properties": {
                    "version": (current.json()["properties"]["version"] or 1) + 1}},
                    headers={**PATCH_HEADERS, "If-Match": current.headers["etag"]})
                statuses.append(resp.status_code)
                won += resp.status_code == 200
                if resp.status_code not in (200, 412):
                    break
        return won

    cpu = cpu_seconds(pid)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(editors) as pool:
        ok = sum(pool.map(editor, range(editors)))
    wall = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu
    return {"ok": ok, "wall": wall, "rate": ok / wall, "cpu": cpu / max(ok, 1) * 1000,
            "refused": statuses.count(412), "failed": len(statuses) - statuses.count(200)
            - statuses.count(412),
            "version": (store.get("secteurs_ort", SECTOR).properties["version"] or 1) - first,
            "journal": len(store.history("secteurs_ort", SECTOR)) - journal}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.edit_service")
    parser.add_argument("--baseline", default="6dc967d",
                        help="commit to compare with (default: main before issue 16's edits)")
    parser.add_argument("--sectors", type=int, default=200)
    parser.add_argument("--patches", type=int, default=30)
    parser.add_argument("--editors", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("ORT_GEO_BENCH_CACHE", "out/bench")))
    parser.add_argument("--url", default=os.environ.get("ORT_GEO_TEST_POSTGIS"))
    args = parser.parse_args(argv)
    from ort_geo import auth, open_store
    from ort_geo.copy import copy_store

    args.cache.mkdir(parents=True, exist_ok=True)
    source = build(args.cache, args.sectors)
    # Wall times depend on the machine's load (server CPU does not): print it with them.
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    schemas: list[str] = []
    results: dict[tuple[str, str], dict] = {}
    with tempfile.TemporaryDirectory(prefix="ort-geo-bench-edit-") as tmp:
        versions = {"baseline": baseline_tree(args.baseline, Path(tmp)), "this": None}
        try:
            for backend in ["GeoPackage"] + (["PostGIS"] if args.url else []):
                for name, pythonpath in versions.items():
                    if backend == "GeoPackage":
                        location = str(Path(tmp) / f"{name}.gpkg")
                        shutil.copyfile(source, location)
                    else:
                        schemas.append(f"bench_edit_{uuid.uuid4().hex[:8]}")
                        location = f"{args.url}?schema={schemas[-1]}"
                        with open_store(location, create=True) as pg, \
                                open_store(source) as gpkg:
                            copy_store(gpkg, pg)
                    store = open_store(location)
                    key = auth.create_key(store, f"bench-{uuid.uuid4().hex[:6]}", "editor")
                    with serve(location, pythonpath) as (base, pid):
                        alone = patch_alone(base, key, args.patches, pid)
                        load = editors(base, key, store, args.editors, args.rounds, pid)
                    store.close()
                    results[backend, name] = {"alone": alone, "load": load}
                    print(f"{backend:10s} {name:8s} PATCH alone: median {alone['median']:6.1f} ms"
                          f", p95 {alone['p95']:6.1f} ms, server CPU {alone['cpu']:5.1f} ms | "
                          f"{args.editors} editors: {load['rate']:5.1f} PATCH/s, "
                          f"CPU {load['cpu']:5.1f} ms/PATCH, {load['ok']} successes, "
                          f"{load['refused']} × 412, {load['failed']} other statuses, version "
                          f"+{load['version']}, journal +{load['journal']} — "
                          + ("no lost update" if load["version"] == load["journal"]
                             == load["ok"] and not load["failed"] else "FAILED"), flush=True)
        finally:
            if schemas:
                import psycopg

                with psycopg.connect(args.url, autocommit=True) as conn:
                    for schema in schemas:
                        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print(f"\nRatios (baseline {args.baseline} / this checkout, same run; > 1 = faster now):")
    for backend in sorted({b for b, _ in results}):
        old, new = results[backend, "baseline"], results[backend, "this"]
        print(f"  {backend:10s} PATCH alone median ×{old['alone']['median'] / new['alone']['median']:.1f}"
              f", p95 ×{old['alone']['p95'] / new['alone']['p95']:.1f}, CPU "
              f"×{old['alone']['cpu'] / new['alone']['cpu']:.1f}; 8 editors throughput "
              f"×{new['load']['rate'] / max(old['load']['rate'], 1e-9):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
