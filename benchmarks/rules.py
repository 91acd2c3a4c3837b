"""``python -m benchmarks.rules``: ``ort-geo validate``'s layer rules at scale.

Two workloads, each against the plain geopandas idiom measured in the same run, with the same
findings checked:

- buildings (validity + within the territory): N rectangles, 0.1 % invalid, 0.1 % outside, in a
  territory outlined with 20,000 vertices (a département-like shape). Baseline:
  ``~gdf.is_valid`` and ``geopandas.sjoin(predicate="within")`` against the outline (the fast
  idiom; a plain ``gdf.within(outline)`` does not prepare the outline and is ~200× slower).
- overlaps in a layer that forbids them: M zones, 1 % overlapping a neighbour. Baseline: geopandas
  self-``overlay(how="intersection")``.

    python -m benchmarks.rules                       # 1 M buildings, 5,000 zones
    python -m benchmarks.rules --buildings 20000000  # national scale (about 8 GB of RAM)
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import shapely

from ort_geo.rules import OUTSIDE_TOLERANCE, check_layer


def territory(n: int) -> shapely.Polygon:
    """A wavy, département-like outline with 20,000 vertices around ``n`` buildings."""
    radius = np.sqrt(n) * 40
    angles = np.linspace(0, 2 * np.pi, 20_000, endpoint=False)
    r = radius * (1 + 0.04 * np.sin(angles * 37) + 0.02 * np.sin(angles * 211))
    return shapely.Polygon(np.c_[r * np.cos(angles), r * np.sin(angles)])


def buildings(n: int, area: shapely.Polygon, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    radius = area.bounds[2] * 0.9
    rho = radius * np.sqrt(rng.random(n))
    theta = rng.random(n) * 2 * np.pi
    x, y = rho * np.cos(theta), rho * np.sin(theta)
    outside = rng.random(n) < 0.001
    x[outside] += radius * 3
    w, h = rng.uniform(6, 20, n), rng.uniform(6, 14, n)
    geoms = shapely.box(x, y, x + w, y + h)
    bad = np.flatnonzero(rng.random(n) < 0.001)
    geoms[bad] = [shapely.Polygon([(a, b), (a + 10, b + 10), (a + 10, b), (a, b + 10)])
                  for a, b in zip(x[bad], y[bad], strict=True)]
    ids = np.char.add("b", np.arange(n).astype(str))
    return gpd.GeoDataFrame({"id": ids}, geometry=geoms, crs="EPSG:2154")


def zones(m: int, seed: int = 2) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(m)))
    i = np.arange(m)
    x, y = (i % side) * 500.0, (i // side) * 500.0
    grow = np.where(rng.random(m) < 0.01, 60.0, 0.0)  # 1 % spill into their neighbour
    geoms = shapely.box(x, y, x + 500 + grow, y + 500)
    ids = np.char.add("z", i.astype(str))
    return gpd.GeoDataFrame({"id": ids}, geometry=geoms, crs="EPSG:2154")


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def baseline_buildings(frame: gpd.GeoDataFrame, area: shapely.Polygon) -> set[tuple[str, str]]:
    invalid = ~frame.is_valid
    rest = frame[~invalid]
    outline = gpd.GeoDataFrame(geometry=[area.buffer(OUTSIDE_TOLERANCE)], crs=frame.crs)
    joined = gpd.sjoin(rest, outline, how="left", predicate="within")
    outside = joined["index_right"].isna().groupby(level=0).all().reindex(rest.index)
    return ({("geometrie", i) for i in frame.loc[invalid, "id"]}
            | {("hors_territoire", i) for i in rest.loc[outside, "id"]})


def ours_buildings(frame: gpd.GeoDataFrame, area: shapely.Polygon) -> set[tuple[str, str]]:
    return {(v.rule, v.feature_id) for v in check_layer("batiments", frame, area)}


def baseline_overlaps(frame: gpd.GeoDataFrame) -> set[str]:
    pairs = gpd.overlay(frame, frame, how="intersection", keep_geom_type=True)
    pairs = pairs[(pairs["id_1"] < pairs["id_2"]) & (pairs.area > 1.0)]
    return set(pairs["id_1"]) | set(pairs["id_2"])


def ours_overlaps(frame: gpd.GeoDataFrame) -> set[str]:
    found = check_layer("zones_activite", frame)
    named = set()
    for v in found:
        if v.rule == "chevauchement":
            named.add(v.feature_id)
            named.add(v.message.split("« ")[1].split(" »")[0])
    return named


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rules")
    parser.add_argument("--buildings", type=int, default=1_000_000)
    parser.add_argument("--zones", type=int, default=5_000)
    args = parser.parse_args(argv)

    area = territory(args.buildings)
    frame = buildings(args.buildings, area)
    print(f"== {args.buildings:,} bâtiments (validité, dans le territoire)", flush=True)
    t_base, expected = timed(baseline_buildings, frame, area)
    t_ours, found = timed(ours_buildings, frame, area)
    assert found == expected, "ort-geo et geopandas ne trouvent pas les mêmes erreurs"
    print(f"geopandas is_valid + sjoin  : {t_base:8.2f} s")
    print(f"ort-geo check_layer         : {t_ours:8.2f} s   ({len(found)} erreurs, "
          f"×{t_base / t_ours:.1f} plus rapide)")

    layer = zones(args.zones)
    print(f"== {args.zones:,} zones (chevauchements interdits)", flush=True)
    t_base, expected = timed(baseline_overlaps, layer)
    t_ours, found = timed(ours_overlaps, layer)
    assert found == expected, "ort-geo et geopandas ne trouvent pas les mêmes chevauchements"
    print(f"geopandas overlay           : {t_base:8.2f} s")
    print(f"ort-geo check_layer         : {t_ours:8.2f} s   ({len(found)} zones en cause, "
          f"×{t_base / t_ours:.1f} plus rapide)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
