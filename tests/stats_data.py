"""A small synthetic territory for statistics and query tests: zones that share edges, overlap
and have holes; buildings (polygons and points) placed exactly on boundaries and vertices."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from ort_geo.territory import orientations_of

X0, Y0 = 1_000_000.0, 6_790_000.0
CRS = "EPSG:2154"
YEAR = 2026  # the reference year of statistics tests


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


def brute_force(store, layer, year):
    """Per zone, loop over every feature with shapely predicates; no shared code with stats.py."""
    zones = store.read(layer)
    key = store.spec(layer).key
    b = store.read("batiments")
    c = store.read("commerces")
    a = store.read("actions")
    m = store.read("mobilites_actives")
    b_pts = b.geometry.representative_point().to_numpy()
    c_pts = c.geometry.representative_point().to_numpy()
    a_pts = a.geometry.representative_point().to_numpy()
    rows = []
    for _, zone in zones.iterrows():
        z = zone.geometry
        inb = b[shapely.covers(z, b_pts)]
        inc = c[shapely.covers(z, c_pts)]
        ina = a[shapely.covers(z, a_pts)]
        row = {"id": zone[key], "surface_ha": z.area / 1e4, "batiments": len(inb)}
        vacancy = inb["nb_logements_vacants"].notna()
        row["logements"] = _unknown_or(inb["nb_logements"], int(inb["nb_logements"].fillna(0).sum()))
        row["batiments_logements_connus"] = int(inb["nb_logements"].notna().sum())
        row["logements_vacants"] = _unknown_or(
            inb["nb_logements_vacants"], int(inb["nb_logements_vacants"].fillna(0).sum()))
        row["batiments_vacance_connue"] = int(vacancy.sum())
        row["logements_vacance_connue"] = _unknown_or(
            inb["nb_logements_vacants"], int(inb["nb_logements"][vacancy].fillna(0).sum()))
        row["vacants_longue_duree"] = _unknown_or(inb["nb_logements_vacants"], sum(
            int(r.nb_logements_vacants or 0) for r in inb.itertuples()
            if pd.notna(r.annee_debut_vacance) and r.annee_debut_vacance <= year - 2))
        row["batiments_degrades"] = _unknown_or(
            inb["etat"], sum(e in ("degrade", "tres_degrade") for e in inb["etat"]))
        row["batiments_etat_connu"] = int(inb["etat"].notna().sum())
        row["habitat_indigne"] = _unknown_or(inb["habitat_indigne"], sum(
            bool(pd.notna(v) and v) for v in inb["habitat_indigne"]))
        row["rdc_vacants"] = _unknown_or(inb["rdc_vacant"], sum(
            bool(pd.notna(v) and v) for v in inb["rdc_vacant"]))
        row["commerces"] = len(inc)
        row["commerces_vacants"] = _unknown_or(
            inc["vacant"], sum(bool(pd.notna(v) and v) for v in inc["vacant"]))
        row["commerces_vacance_connue"] = int(inc["vacant"].notna().sum())
        row["actions"] = len(ina)
        for k in orientations_of(store):  # the manifest's, and any the actions use
            sel = ina[ina["orientation"] == k]
            row[f"actions_o{k}"] = len(sel)
            row[f"cout_o{k}"] = _known_sum(sel["cout_ht"])
        row["cout_total"] = _known_sum(ina["cout_ht"])
        row["actions_cout_connu"] = int(ina["cout_ht"].notna().sum())
        for statut, col in (("existant", "km_mobilites_existantes"),
                            ("projete", "km_mobilites_projetees")):
            total = 0.0
            for line in m[m["statut"] == statut].geometry:
                total += shapely.intersection(line, z).length
            row[col] = total / 1000
        rows.append(row)
    return pd.DataFrame(rows)


def _unknown_or(values: pd.Series, count: int):
    """Unknown (<NA>) when features exist but none knows the value; else the count."""
    return pd.NA if len(values) and not values.notna().any() else count


def _known_sum(costs: pd.Series) -> float:
    """Sum of known costs; unknown (NaN) when none is known."""
    known = costs.dropna()
    return float(known.sum()) if len(known) else np.nan


def assert_stats_equal_brute_force(store, layer: str, year: int = YEAR) -> pd.DataFrame:
    """``sector_stats`` of ``layer`` after checking each zone's row against ``brute_force``:
    counts exactly, measures to 1e-12 (NaN equals NaN). Returns the statistics."""
    from ort_geo.stats import COUNT_COLUMNS, sector_stats

    got = sector_stats(store, layer, reference_year=year)
    want = brute_force(store, layer, year)
    if want.empty:
        assert len(got) == 1  # only the territory row
        return got
    zones = got.iloc[:-1].reset_index(drop=True)
    assert zones["id"].tolist() == want["id"].tolist()
    for col in want.columns.drop("id"):
        if col in COUNT_COLUMNS or col.startswith("actions_o"):
            assert zones[col].tolist() == want[col].tolist(), col
        else:
            np.testing.assert_allclose(zones[col].astype(float), want[col].astype(float),
                                       rtol=1e-12, atol=0, err_msg=col)
    return got


def buildings_frame(geoms: list, rng: np.random.Generator, digits: int) -> gpd.GeoDataFrame:
    """A ``batiments`` frame of ``geoms`` (Lambert-93) for store tests: ids ``b`` + ``digits``
    digits in order, commune 68298, a state and a dwelling count drawn from ``rng`` (in that
    order: the draws a test's seed gives stay the same)."""
    return gpd.GeoDataFrame({
        "id": [f"b{i:0{digits}d}" for i in range(len(geoms))], "code_insee": "68298",
        "etat": rng.choice(["bon", "moyen", "degrade"], len(geoms)),
        "nb_logements": rng.integers(0, 6, len(geoms)),
    }, geometry=geoms, crs="EPSG:2154")
