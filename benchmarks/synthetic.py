"""Deterministic synthetic national-scale data: buildings clustered in towns, ORT sectors on town
centres (some split in two adjacent sectors sharing an edge, some with holes), shops, actions and
active-mobility lines, in Lambert-93. Written as plain numpy arrays (and a GeoPackage for the
zones and lines) so every method reads exactly the same input.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Point, Polygon, box

XMIN, XMAX = 100_000.0, 1_200_000.0
YMIN, YMAX = 6_050_000.0, 7_100_000.0
ETATS = ("bon", "moyen", "degrade", "tres_degrade")  # codes 1..4, 0 = unknown
REFERENCE_YEAR = 2026


def _star(rng, cx, cy, radius) -> Polygon:
    k = int(rng.integers(24, 64))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = radius * rng.uniform(0.6, 1.0, k)
    return Polygon(np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)])


def generate(out: Path, n_buildings: int, n_sectors: int = 2000, seed: int = 2026) -> Path:
    """Write the data set in ``out`` (skipped when already there) and return ``out``."""
    done = out / "done"
    if done.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # Towns on a jittered grid (no two closer than ~8 km), sizes heavy-tailed.
    n_towns = 9000
    gx, gy = np.meshgrid(np.linspace(XMIN + 5e3, XMAX - 5e3, 100), np.linspace(YMIN + 5e3, YMAX - 5e3, 90))
    tx = gx.ravel() + rng.uniform(-1500, 1500, n_towns)
    ty = gy.ravel() + rng.uniform(-1500, 1500, n_towns)
    weight = rng.pareto(1.2, n_towns) + 1
    order = np.argsort(-weight)
    tx, ty, weight = tx[order], ty[order], weight[order]
    sigma = 250 + 120 * np.sqrt(weight)
    # 85 % of buildings in towns, 15 % scattered.
    n_town = int(n_buildings * 0.85)
    town = rng.choice(n_towns, n_town, p=weight / weight.sum())
    x = np.empty(n_buildings)
    y = np.empty(n_buildings)
    x[:n_town] = tx[town] + rng.normal(0, 1, n_town) * sigma[town]
    y[:n_town] = ty[town] + rng.normal(0, 1, n_town) * sigma[town]
    x[n_town:] = rng.uniform(XMIN, XMAX, n_buildings - n_town)
    y[n_town:] = rng.uniform(YMIN, YMAX, n_buildings - n_town)
    perm = rng.permutation(n_buildings)
    x, y = x[perm], y[perm]
    # Attributes.
    logements = np.where(rng.random(n_buildings) < 0.7, 1, rng.integers(0, 30, n_buildings)).astype(np.int16)
    vacants = np.minimum(logements, rng.binomial(3, 0.08, n_buildings)).astype(np.int16)
    debut = np.where(vacants > 0, rng.integers(2010, REFERENCE_YEAR + 1, n_buildings), 0).astype(np.int16)
    debut[rng.random(n_buildings) < 0.1] = 0
    etat = rng.choice(5, n_buildings, p=[0.2, 0.4, 0.25, 0.1, 0.05]).astype(np.int8)
    indigne = rng.random(n_buildings) < 0.03
    rdc_vacant = rng.random(n_buildings) < 0.02
    for name, arr in dict(x=x, y=y, nb_logements=logements, nb_logements_vacants=vacants,
                          annee_debut_vacance=debut, etat=etat, habitat_indigne=indigne,
                          rdc_vacant=rdc_vacant).items():
        np.save(out / f"b_{name}.npy", arr)
    del x, y, logements, vacants, debut, etat, indigne, rdc_vacant
    # Sectors: stars on the largest towns; 30 % split in two adjacent sectors; 10 % with a hole.
    zones = []
    i = 0
    while len(zones) < n_sectors:
        cx, cy, s = tx[i], ty[i], sigma[i]
        poly = _star(rng, cx, cy, s * rng.uniform(0.8, 1.6))
        if rng.random() < 0.1:
            poly = poly.difference(Point(cx, cy).buffer(s * 0.15))
        if rng.random() < 0.3 and len(zones) + 2 <= n_sectors:
            cut = cx + rng.uniform(-0.2, 0.2) * s
            zones += [poly.intersection(box(cx - 1e5, cy - 1e5, cut, cy + 1e5)),
                      poly.intersection(box(cut, cy - 1e5, cx + 1e5, cy + 1e5))]
        else:
            zones.append(poly)
        i += 1
    gpd.GeoDataFrame({"id": [f"S{k:05d}" for k in range(len(zones))]}, geometry=zones,
                     crs=2154).to_file(out / "zones.gpkg", driver="GPKG")
    # Shops near towns, actions (points), mobility lines.
    n_shops = max(n_buildings // 40, 1000)
    town = rng.choice(n_towns, n_shops, p=weight / weight.sum())
    np.save(out / "c_x.npy", tx[town] + rng.normal(0, 1, n_shops) * sigma[town] * 0.5)
    np.save(out / "c_y.npy", ty[town] + rng.normal(0, 1, n_shops) * sigma[town] * 0.5)
    np.save(out / "c_vacant.npy", rng.random(n_shops) < 0.15)
    n_actions = 20_000
    town = rng.integers(0, 3000, n_actions)
    np.save(out / "a_x.npy", tx[town] + rng.normal(0, 1, n_actions) * sigma[town])
    np.save(out / "a_y.npy", ty[town] + rng.normal(0, 1, n_actions) * sigma[town])
    np.save(out / "a_orientation.npy", rng.integers(1, 5, n_actions).astype(np.int8))
    np.save(out / "a_cout_ht.npy", rng.integers(1, 2000, n_actions) * 1000.0)
    n_lines = 20_000
    town = rng.integers(0, 3000, n_lines)
    steps = rng.normal(0, 150, (n_lines, 6, 2)).cumsum(axis=1)
    starts = np.c_[tx[town], ty[town]] + rng.normal(0, 1, (n_lines, 2)) * sigma[town, None]
    lines = shapely.linestrings(starts[:, None, :] + steps)
    gpd.GeoDataFrame({"statut": np.where(rng.random(n_lines) < 0.7, "existant", "projete")},
                     geometry=lines, crs=2154).to_file(out / "lines.gpkg", driver="GPKG")
    done.write_text(str(n_buildings))
    return out
