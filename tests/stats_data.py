"""A small synthetic territory for statistics and query tests: zones that share edges, overlap
and have holes; buildings (polygons and points) placed exactly on boundaries and vertices."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

X0, Y0 = 1_000_000.0, 6_790_000.0
CRS = "EPSG:2154"


def _b(x0, y0, x1, y1):
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def _frame(rows: list[dict], geoms: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=CRS)


def build_small_store(path: Path, buildings: str = "complete"):
    """``buildings``: "complete" (every field known), "footprints" (ids, commune and geometry
    only, as a BD TOPO import without LOVAC), or "mixed" (every other building empty; shops and
    actions with unknown fields too)."""
    from ort_geo import open_store

    rng = np.random.default_rng(42)
    store = open_store(path, create=True)
    w = {"author": "test"}
    store.write("communes", _frame(
        [{"code_insee": "68298", "nom": "Sainte-Marie-aux-Mines"},
         {"code_insee": "68294", "nom": "Sainte-Croix-aux-Mines"}],
        [_b(0, 0, 2000, 2000), _b(2000, 0, 4000, 2000)]), **w)
    s1 = _b(200, 200, 1200, 1200).difference(_b(500, 500, 700, 700))
    s2 = _b(1200, 200, 2200, 1200)
    ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    r = np.where(np.arange(24) % 2, 300.0, 700.0)
    s3 = Polygon(np.c_[X0 + 3000 + r * np.cos(ang), Y0 + 1000 + r * np.sin(ang)])
    s4 = MultiPolygon([_b(2500, 1750, 2600, 1850), _b(3700, 100, 3900, 300)])
    store.write("secteurs_ort", _frame(
        [{"id": "S1", "nom": "Centre-ville", "type": "centre_ville_principal"},
         {"id": "S2", "nom": "Faubourg", "type": "quartier"},
         {"id": "S3", "nom": "Étoile", "type": "centre_ville"},
         {"id": "S4", "nom": "Îlots", "type": "autre"}],
        [s1, s2, s3, s4]), **w)
    store.write("permis_de_louer", _frame(
        [{"id": "P1", "nom": "Zone 1", "regime": "autorisation_prealable"},
         {"id": "P2", "nom": "Zone 2", "regime": "declaration"}],
        [_b(0, 0, 1500, 800), _b(2600, 600, 3300, 1500)]), **w)
    store.write("strates", _frame(
        [{"id": "ligne_de_vie", "strate": "ligne_de_vie"}, {"id": "terrasses", "strate": "terrasses"},
         {"id": "hauts", "strate": "hauts"}],
        [_b(0, 0, 4000, 700), _b(0, 700, 4000, 1400), _b(0, 1400, 4000, 2000)]), **w)

    # Buildings: random squares, plus squares and points centred exactly on boundaries/vertices.
    n = 1500
    cx, cy = rng.uniform(0, 4000, n), rng.uniform(0, 2000, n)
    half = rng.uniform(3, 10, n)
    geoms = [_b(x - h, y - h, x + h, y + h) for x, y, h in zip(cx, cy, half, strict=True)]
    special = [(1200.0, 300.0), (1200.0, 650.5), (1200.0, 200.0), (200.0, 200.0), (500.0, 600.0),
               (700.0, 700.0), (1500.0, 700.0), (3000.0, 700.0), (1100.0, 1400.0), (2000.0, 900.0),
               (2200.0, 1200.0), (1000.0, 800.0), (3700.0, 300.0), (2600.0, 1800.0)]
    for k, (x, y) in enumerate(special):
        geoms.append(Point(X0 + x, Y0 + y) if k % 2 else _b(x - 5, y - 4, x + 5, y + 4))
    # Points exactly on the star's vertices.
    geoms += [Point(p) for p in shapely.get_coordinates(s3)[:6]]
    m = len(geoms)
    dwellings = rng.integers(0, 12, m)
    vacant = np.minimum(dwellings, rng.integers(0, 4, m))
    start = rng.integers(2015, 2027, m).astype(object)
    start[vacant == 0] = None
    start[rng.random(m) < 0.1] = None
    etat = rng.choice(np.array(["bon", "moyen", "degrade", "tres_degrade", None], dtype=object), m)
    indigne = rng.choice(np.array([True, False, None], dtype=object), m, p=[0.1, 0.8, 0.1])
    rdc = rng.random(m) < 0.2
    rdc_vacant = np.where(rdc, rng.random(m) < 0.4, False)
    years = rng.integers(1700, 2024, m).astype(object)
    years[rng.random(m) < 0.05] = None
    rows = [{"id": f"B{i:05d}", "nb_logements": int(dwellings[i]),
             "nb_logements_vacants": int(vacant[i]), "annee_debut_vacance": start[i],
             "etat": etat[i], "habitat_indigne": indigne[i], "rdc_commerce": bool(rdc[i]),
             "rdc_vacant": bool(rdc_vacant[i]), "annee_construction": years[i],
             "code_insee": "68298", "demo": True} for i in range(m)]
    if buildings != "complete":
        rows = [{"id": r["id"], "code_insee": r["code_insee"]}
                if buildings == "footprints" or i % 2 else r for i, r in enumerate(rows)]
    store.write("batiments", _frame(rows, geoms), **w)

    k = 300
    sx, sy = rng.uniform(0, 4000, k), rng.uniform(0, 2000, k)
    store.write("commerces", _frame(
        [{"id": f"C{i}", "nom": f"Commerce {i}",
          "vacant": None if buildings != "complete" and i % 2 else bool(rng.random() < 0.3)}
         for i in range(k)] + [{"id": "Cedge", "nom": "Sur la limite", "vacant": True}],
        [Point(X0 + x, Y0 + y) for x, y in zip(sx, sy, strict=True)] + [Point(X0 + 1200, Y0 + 500)]),
        **w)
    actions, ageoms = [], []
    for i in range(40):
        x, y = rng.uniform(0, 4000), rng.uniform(0, 2000)
        kind = i % 3
        g = (Point(X0 + x, Y0 + y) if kind == 0 else
             LineString([(X0 + x, Y0 + y), (X0 + x + 150, Y0 + y + 40)]) if kind == 1 else
             _b(x, y, x + 60, y + 60))
        cost = None if i % 7 == 0 else float(rng.integers(1, 500) * 1000)
        actions.append({"id": f"A{i}", "titre": f"Action {i}", "orientation": int(1 + i % 4),
                        "cout_ht": None if buildings != "complete" and i % 2 else cost})
        ageoms.append(g)
    store.write("actions", _frame(actions, ageoms), **w)
    lines, lrows = [], []
    for i in range(25):
        pts = np.c_[X0 + rng.uniform(0, 4000, 4), Y0 + rng.uniform(0, 2000, 4)]
        lines.append(LineString(pts))
        lrows.append({"id": f"M{i}", "type": "piste_cyclable",
                      "statut": "existant" if i % 3 else "projete"})
    lines.append(LineString([(X0 + 1200, Y0 + 100), (X0 + 1200, Y0 + 1500)]))  # along S1|S2
    lrows.append({"id": "Medge", "type": "voie_verte", "statut": "existant"})
    store.write("mobilites_actives", _frame(lrows, lines), **w)
    return store
