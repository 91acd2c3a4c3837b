"""``python -m benchmarks.store_write``: bulk ``Store.write`` against a bare GeoPackage write.

N synthetic buildings in Lambert-93 (8-vertex footprints, typed attributes with gaps, as
``import_file`` hands them to the store). Baseline, measured in the same run: ``pyogrio.write_dataframe``
of the same frame into a fresh GeoPackage (no validation, no diff, no journal). Timed:

* insert: ``store.write`` of the N buildings into an empty store (validation, R-tree, journal);
* re-import: ``store.write`` (upsert) of the same N buildings with 10 % changed (5 % attributes,
  5 % geometries): fetch, diff, 10 % updated and journaled with before/after, 90 % unchanged.

    python -m benchmarks.store_write                   # 100,000 buildings
    python -m benchmarks.store_write --features 1000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from ort_geo import open_store

USAGES = np.array(["Résidentiel", "Commercial et services", "Agricole", "Annexe", None],
                  dtype=object)
ETATS = np.array(["bon", "moyen", "degrade", "tres_degrade", None], dtype=object)


def buildings(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """n building footprints (8-vertex star-shaped rings) with the attributes of a BD TOPO import."""
    rng = np.random.default_rng(seed)
    cx = rng.uniform(990_000, 1_020_000, n)
    cy = rng.uniform(6_790_000, 6_820_000, n)
    angles = (np.arange(8) + rng.uniform(-0.3, 0.3, (n, 8))) * (2 * np.pi / 8)
    radius = rng.uniform(4, 12, (n, 1)) * rng.uniform(0.7, 1.0, (n, 8))
    ring = np.stack([cx[:, None] + radius * np.cos(angles),
                     cy[:, None] + radius * np.sin(angles)], axis=-1).round(2)
    geoms = shapely.polygons(np.concatenate([ring, ring[:, :1]], axis=1))
    vacants = rng.integers(0, 3, n).astype(float)
    vacants[rng.random(n) < 0.6] = np.nan  # unknown for most buildings, as in LOVAC joins
    return gpd.GeoDataFrame(
        {
            "id": [f"BATIMENT{i:016d}" for i in range(n)],
            "rnb_id": [f"RNB{i:09d}" for i in range(n)],
            "code_insee": rng.choice(["68298", "68294", "68269", "68102"], n),
            "annee_construction": rng.integers(1700, 2024, n),
            "usage": USAGES[rng.integers(0, len(USAGES), n)],
            "nb_logements": rng.integers(0, 12, n),
            "nb_logements_vacants": vacants,
            "etat": ETATS[rng.integers(0, len(ETATS), n)],
            "rdc_commerce": rng.random(n) < 0.1,
            "source": "BD TOPO 2025",
        },
        geometry=geoms, crs=2154)


def changed(frame: gpd.GeoDataFrame, share: float = 0.1, seed: int = 1) -> gpd.GeoDataFrame:
    """A copy with ``share`` of the rows changed: half an attribute, half a 1 m shift."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    rows = rng.choice(len(frame), int(len(frame) * share), replace=False)
    half = len(rows) // 2
    out.iloc[rows[:half], out.columns.get_loc("nb_logements")] += 1
    geoms = out.geometry.to_numpy().copy()
    geoms[rows[half:]] = shapely.transform(geoms[rows[half:]], lambda c: c + 1.0)
    out[out.geometry.name] = geoms
    return out


def timed(fn):
    """(wall seconds, CPU seconds of this process, result): on a shared machine CPU time is the
    steadier figure; both are printed."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_write")
    parser.add_argument("--features", type=int, default=100_000)
    args = parser.parse_args(argv)
    n = args.features
    frame = buildings(n)
    again = changed(frame)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base, base_cpu, _ = timed(lambda: pyogrio.write_dataframe(frame, folder / "bare.gpkg",
                                                                  layer="batiments"))
        store = open_store(folder / "store.gpkg", create=True)
        print(f"== store.write of {n:,} buildings; baseline pyogrio.write_dataframe to a new "
              f"GeoPackage: {base:.2f} s wall, {base_cpu:.2f} s CPU")
        for label, data in (("insert", frame), ("re-import 10 % changed", again)):
            took, cpu, summary = timed(lambda d=data: store.write("batiments", d, author="bench"))
            print(f"  {label:23s} {took:6.2f} s wall ({n / took:7,.0f} features/s, ratio "
                  f"{took / base:5.2f}) | {cpu:6.2f} s CPU ({n / cpu:7,.0f} features/s, ratio "
                  f"{cpu / base_cpu:5.2f})")
            print(f"  {'':23s} {summary}")


if __name__ == "__main__":
    main()
