"""``python -m benchmarks.journal``: what the journal's time machinery and triggers cost.

Two measures, each against a baseline taken in the same run:

* **external edits** — GDAL (``pyogrio.write_dataframe(append=True)``, what QGIS and ogr2ogr do)
  appends N buildings to a store whose journal triggers record each one, against the same append
  into an identical store with the triggers removed;
* **the past** — ``ort-geo stats secteurs_ort`` as of a date before 1 % of the buildings changed
  (``sector_stats(store_at(store, date))``, replaying the journal), against the same statistics
  of the store as it is now.

    python -m benchmarks.journal                    # 100,000 buildings
    python -m benchmarks.journal --features 300000
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from ort_geo import open_store
from ort_geo.stats import sector_stats
from ort_geo.store import base as store_base
from ort_geo.store.journal_triggers import TRIGGER_PREFIX
from ort_geo.timeline import store_at

from .store_write import buildings, timed


def _sectors(frame: gpd.GeoDataFrame, n: int = 20) -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = frame.total_bounds
    xs = np.linspace(minx, maxx, n + 1)
    return gpd.GeoDataFrame(
        [{"id": f"s{i}", "nom": f"Secteur {i}", "type": "quartier"} for i in range(n)],
        geometry=[shapely.box(xs[i], miny, xs[i + 1], maxy) for i in range(n)], crs=2154)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.journal")
    parser.add_argument("--features", type=int, default=100_000)
    args = parser.parse_args(argv)
    n = args.features
    frame = buildings(n)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # -- external edits: GDAL appends, with and without the journal triggers -------------
        stores = {}
        for name in ("bare", "journaled"):
            stores[name] = open_store(folder / f"{name}.gpkg", create=True)
            stores[name].write("batiments", frame.iloc[:10], author="bench")
        with sqlite3.connect(stores["bare"].path) as conn:
            for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                           f"'trigger' AND name LIKE '{TRIGGER_PREFIX}%'"):
                conn.execute(f'DROP TRIGGER "{trigger}"')
        extra = frame.iloc[10:]
        took = {}
        for name, store in stores.items():
            took[name] = timed(lambda s=store: pyogrio.write_dataframe(
                extra, s.path, layer="batiments", append=True))[0]
        journaled = len(stores["journaled"].journal(author="édition externe"))
        assert journaled == len(extra), journaled
        print(f"== GDAL append of {len(extra):,} buildings (pyogrio, as QGIS or ogr2ogr)")
        print(f"  without triggers (baseline) {took['bare']:6.2f} s")
        print(f"  with the journal triggers   {took['journaled']:6.2f} s (ratio "
              f"{took['journaled'] / took['bare']:4.2f}, {journaled:,} entries journaled)")

        # -- the past: statistics as of a date before 1 % of the buildings changed ------------
        store = open_store(folder / "history.gpkg", create=True)
        clock = {"t": "2024-01-01T10:00:00.000+00:00"}
        real_now = store_base._now
        store_base._now = lambda: clock["t"]
        try:
            store.write("secteurs_ort", _sectors(frame), author="bench")
            store.write("batiments", frame, author="bench")
            changed = frame.sample(frac=0.01, random_state=1).copy()
            changed["nb_logements_vacants"] = 1
            clock["t"] = "2025-06-01T10:00:00.000+00:00"
            store.write("batiments", changed, author="bench")
        finally:
            store_base._now = real_now
        now, _, current = timed(lambda: sector_stats(store, "secteurs_ort"))
        past, _, before = timed(lambda: sector_stats(store_at(store, "2024-12-31"),
                                                     "secteurs_ort"))
        assert not current["logements_vacants"].equals(before["logements_vacants"])
        print(f"== statistics of 20 sectors over {n:,} buildings, {len(changed):,} changed since")
        print(f"  now (baseline)              {now:6.2f} s")
        print(f"  as of 2024-12-31 (replay)   {past:6.2f} s (ratio {past / now:4.2f})")


if __name__ == "__main__":
    main()
