"""``python -m benchmarks.import_export``: cost of ort-geo's import and export over bare GDAL.

Synthetic building footprints in CC48 (EPSG:3948) *without* a CRS, as planners' files often are.
Baselines, measured in the same run:

* reading: ``pyogrio.read_dataframe`` + ``to_crs(2154)`` with the CRS given by hand, against
  ``read_vector`` (format check, encoding, CRS inference, emptiness and validity checks);
* importing: ``pyogrio.write_dataframe`` of that frame into a fresh GeoPackage (no validation, no
  journal, not transactional with the existing data), against ``import_file`` into a store;
* exporting: ``pyogrio.write_dataframe`` to GeoPackage, against ``export_layer`` in each format.

    python -m benchmarks.import_export                 # 100,000 footprints
    python -m benchmarks.import_export --features 1000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from ort_geo import open_store
from ort_geo.io import FORMATS, export_layer, import_file, read_vector

SUFFIX = {"gpkg": ".gpkg", "geojson": ".geojson", "shp-zip": ".zip", "csv-fr": ".csv"}


def footprints(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """n small rectangles around Sainte-Marie-aux-Mines, in CC48, with a few attributes."""
    rng = np.random.default_rng(seed)
    x = 2_005_000 + rng.uniform(0, 16_000, n)
    y = 7_229_000 + rng.uniform(0, 14_000, n)
    geoms = shapely.box(x, y, x + rng.uniform(6, 20, n), y + rng.uniform(6, 15, n))
    return gpd.GeoDataFrame(
        {"id": [f"B{i:09d}" for i in range(n)], "code_insee": "68298",
         "nb_logements": rng.integers(0, 12, n), "annee_construction": rng.integers(1700, 2024, n)},
        geometry=geoms, crs=3948)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.import_export")
    parser.add_argument("--features", type=int, default=100_000)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*crs.*not provided.*")
    n = args.features
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frame = footprints(n)
        print(f"== {n:,} footprints (CC48 without CRS)")
        for ext in (".fgb", ".gpkg", ".shp"):
            path = folder / f"batiments{ext}"
            pyogrio.write_dataframe(frame.set_crs(None, allow_override=True), path)
            base = timed(lambda p=path: pyogrio.read_dataframe(p).set_crs(3948).to_crs(2154))
            ours = timed(lambda p=path: read_vector(p))
            print(f"  read {ext:6s} baseline pyogrio+to_crs {base:6.2f} s | read_vector "
                  f"{ours:6.2f} s | ratio {ours / base:4.2f}")
        source = folder / "batiments.fgb"
        base = timed(lambda: pyogrio.write_dataframe(read_vector(source)[0],
                                                     folder / "bare.gpkg", layer="batiments"))
        store = open_store(folder / "store.gpkg", create=True)
        ours = timed(lambda: import_file(store, "batiments", source, author="bench"))
        print(f"  import baseline read_vector+pyogrio.write {base:6.2f} s | import_file "
              f"{ours:6.2f} s ({n / ours:,.0f} features/s) | ratio {ours / base:4.2f}")
        stored = store.read("batiments")
        base = timed(lambda: pyogrio.write_dataframe(stored, folder / "raw.gpkg"))
        for fmt in FORMATS:
            ours = timed(lambda f=fmt: export_layer(store, "batiments",
                                                    folder / f"export{SUFFIX[f]}", f))
            print(f"  export {fmt:8s} baseline pyogrio.write gpkg {base:6.2f} s | export_layer "
                  f"{ours:6.2f} s | ratio {ours / base:4.2f}")


if __name__ == "__main__":
    main()
