"""``python -m benchmarks.territories``: ``ort-geo init`` for every Petites villes de demain town.

Measures the user's path, as CLI processes:

- baseline: ``--loop`` towns, each with its own ``ort-geo init --pvd CODE`` process (what a shell
  loop over the list does: every process loads Python, the libraries and the commune reference);
- batch: one ``ort-geo init --pvd-liste LIST --dossier DIR`` process over the whole list (the
  reference is read once), with its total time and every failure it lists.

Then prints the time per town of both and their ratio, the stores made per CRS and each failure.

    python -m benchmarks.territories --liste ../shared/data/programmes/pvd_communes_anct_2021-01-22.csv
    python -m benchmarks.territories --liste pvd.csv --limite 50 --boucle 3   # a quick look
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LIST = ROOT.parent / "shared" / "data" / "programmes" / "pvd_communes_anct_2021-01-22.csv"


def _ort_geo() -> list[str]:
    exe = Path(sys.executable).with_name("ort-geo")
    return [str(exe)] if exe.exists() else ["ort-geo"]


def _run(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(_ort_geo() + args, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"})
    return time.perf_counter() - start, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.territories")
    parser.add_argument("--liste", type=Path, default=DEFAULT_LIST,
                        help="CSV of PVD towns (column insee_com)")
    parser.add_argument("--limite", type=int, default=None, help="only the first N towns")
    parser.add_argument("--boucle", type=int, default=5,
                        help="towns created one process each, for the baseline")
    parser.add_argument("--dossier", type=Path, default=None,
                        help="keep the stores here (default: a temporary folder, removed)")
    args = parser.parse_args(argv)

    with args.liste.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if args.limite:
        rows = rows[:args.limite]
    work = args.dossier or Path(tempfile.mkdtemp(prefix="ort-geo-bench-territories-"))
    work.mkdir(parents=True, exist_ok=True)
    listing = work / "liste.csv"
    with listing.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["insee_com"])
        writer.writerows([r["insee_com"]] for r in rows)
    try:
        loop_codes = [r["insee_com"] for r in rows if r["insee_com"].isdigit()
                      or r["insee_com"][:2] in ("2A", "2B")][:args.boucle]
        loop_times = []
        for code in loop_codes:
            seconds, done = _run(["init", str(work / "boucle" / f"{code}.gpkg"), "--pvd", code])
            if done.returncode != 0:
                print(f"boucle : {code} a échoué : {done.stderr.strip()}", file=sys.stderr)
                return 1
            loop_times.append(seconds)
        seconds, done = _run(["init", "--pvd-liste", str(listing), "--dossier",
                              str(work / "lot")])
        print(done.stdout.strip())
        if done.returncode != 0:
            print(done.stderr.strip(), file=sys.stderr)
            return 1
        per_town_loop = sum(loop_times) / max(len(loop_times), 1)
        per_town_batch = seconds / max(len(rows), 1)
        print(f"\nbatch: {len(rows)} towns in one process, {seconds:.1f} s "
              f"({per_town_batch:.2f} s per town)")
        print(f"loop baseline: {len(loop_times)} towns, one process each, "
              f"{per_town_loop:.2f} s per town (same run)")
        if per_town_batch:
            print(f"per town, batch vs loop: x{per_town_loop / per_town_batch:.1f} faster; "
                  f"the loop would take {per_town_loop * len(rows) / 60:.1f} min for the list")
        stores = sorted((work / "lot").glob("*.gpkg"))
        size = sum(p.stat().st_size for p in stores) / 1e6
        print(f"stores: {len(stores)} GeoPackages, {size:.0f} MB")
    finally:
        if args.dossier is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
