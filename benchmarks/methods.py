"""The full per-sector statistics computed three ways on the same input.

* ``ort_geo``: the product's engine (:func:`ort_geo.stats.zone_stats`, two-level grid);
* ``geopandas``: ``sjoin(predicate="intersects")`` + ``groupby``, the field's everyday way;
* ``duckdb``: DuckDB's spatial join (``ST_Intersects``) + ``GROUP BY``.

Every method returns one row per sector (in zone order) with the same columns.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ort_geo.stats import PointSet, action_measures, building_measures, shop_measures, zone_stats

from .synthetic import ETATS, REFERENCE_YEAR

try:  # the `bench` extra; imported here so that no method's timing includes an import
    import duckdb
    from duckdb_extensions import import_extension
except ImportError:  # pragma: no cover
    duckdb = None

COUNTS = ["batiments", "logements", "logements_vacants", "vacants_longue_duree",
          "batiments_degrades", "habitat_indigne", "rdc_vacants", "commerces",
          "commerces_vacants", "actions", "actions_o1", "actions_o2", "actions_o3", "actions_o4"]
FLOATS = ["cout_total", "km_mobilites_existantes", "km_mobilites_projetees"]


class Data:
    """The input, loaded from disk (not timed)."""

    def __init__(self, folder: Path) -> None:
        def arr(name):
            return np.load(folder / f"{name}.npy")

        self.b = {k: arr(f"b_{k}") for k in ("x", "y", "nb_logements", "nb_logements_vacants",
                                             "annee_debut_vacance", "etat", "habitat_indigne",
                                             "rdc_vacant")}
        self.c = {k: arr(f"c_{k}") for k in ("x", "y", "vacant")}
        self.a = {k: arr(f"a_{k}") for k in ("x", "y", "orientation", "cout_ht")}
        self.zones = gpd.read_file(folder / "zones.gpkg")
        self.lines = gpd.read_file(folder / "lines.gpkg")

    def buildings_frame(self) -> pd.DataFrame:
        """Buildings as the store would give them (etat as a categorical of the catalogue's words)."""
        b = self.b
        debut = b["annee_debut_vacance"].astype(np.float32)
        debut[debut == 0] = np.nan
        return pd.DataFrame({
            "nb_logements": b["nb_logements"], "nb_logements_vacants": b["nb_logements_vacants"],
            "annee_debut_vacance": debut,
            "etat": pd.Categorical.from_codes(b["etat"].astype(np.int8) - 1, categories=ETATS),
            "habitat_indigne": b["habitat_indigne"], "rdc_vacant": b["rdc_vacant"],
        }, copy=False)


# -- ort-geo ------------------------------------------------------------------------------------

def run_ort_geo(d: Data) -> pd.DataFrame:
    points = [
        PointSet(d.b["x"], d.b["y"], building_measures(d.buildings_frame(), REFERENCE_YEAR)),
        PointSet(d.c["x"], d.c["y"], shop_measures(pd.DataFrame({"vacant": d.c["vacant"]}))),
        PointSet(d.a["x"], d.a["y"], action_measures(pd.DataFrame(
            {"orientation": d.a["orientation"], "cout_ht": d.a["cout_ht"]}))),
    ]
    statut = d.lines["statut"].to_numpy()
    geoms = d.lines.geometry.to_numpy()
    lines = {"km_mobilites_existantes": geoms[statut == "existant"],
             "km_mobilites_projetees": geoms[statut == "projete"]}
    out = zone_stats(d.zones.geometry.to_numpy(), points, lines)
    return out.iloc[:-1][COUNTS + FLOATS].reset_index(drop=True)


# -- geopandas ----------------------------------------------------------------------------------

def run_geopandas(d: Data) -> pd.DataFrame:
    zones = d.zones[["geometry"]]
    n = len(zones)
    frame = d.buildings_frame()
    vac = frame["nb_logements_vacants"].to_numpy()
    frame["vacants_longue_duree"] = np.where(
        frame["annee_debut_vacance"] <= REFERENCE_YEAR - 2, vac, 0)
    frame["batiments_degrades"] = frame["etat"].isin(["degrade", "tres_degrade"])
    b = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(d.b["x"], d.b["y"]), crs=2154)
    j = gpd.sjoin(b, zones, predicate="intersects")
    agg = j.groupby("index_right").agg(
        batiments=("nb_logements", "size"), logements=("nb_logements", "sum"),
        logements_vacants=("nb_logements_vacants", "sum"),
        vacants_longue_duree=("vacants_longue_duree", "sum"),
        batiments_degrades=("batiments_degrades", "sum"),
        habitat_indigne=("habitat_indigne", "sum"), rdc_vacants=("rdc_vacant", "sum"))
    del j, b
    c = gpd.GeoDataFrame({"vacant": d.c["vacant"]},
                         geometry=gpd.points_from_xy(d.c["x"], d.c["y"]), crs=2154)
    cj = gpd.sjoin(c, zones, predicate="intersects").groupby("index_right").agg(
        commerces=("vacant", "size"), commerces_vacants=("vacant", "sum"))
    a = gpd.GeoDataFrame({"orientation": d.a["orientation"], "cout_ht": d.a["cout_ht"]},
                         geometry=gpd.points_from_xy(d.a["x"], d.a["y"]), crs=2154)
    aj = gpd.sjoin(a, zones, predicate="intersects")
    for k in (1, 2, 3, 4):
        aj[f"actions_o{k}"] = aj["orientation"] == k
    aa = aj.groupby("index_right").agg(
        actions=("orientation", "size"), cout_total=("cout_ht", "sum"),
        **{f"actions_o{k}": (f"actions_o{k}", "sum") for k in (1, 2, 3, 4)})
    lj = gpd.sjoin(d.lines, zones, predicate="intersects")
    lj["km"] = shapely.length(shapely.intersection(
        lj.geometry.to_numpy(), zones.geometry.to_numpy()[lj["index_right"].to_numpy()])) / 1000
    km = lj.pivot_table(index="index_right", columns="statut", values="km", aggfunc="sum")
    km = km.rename(columns={"existant": "km_mobilites_existantes",
                            "projete": "km_mobilites_projetees"})
    out = pd.concat([agg, cj, aa, km], axis=1).reindex(range(n)).fillna(0)
    return out[COUNTS + FLOATS].reset_index(drop=True)


# -- DuckDB -------------------------------------------------------------------------------------

def run_duckdb(d: Data) -> pd.DataFrame:
    if duckdb is None:
        raise SystemExit("DuckDB absent : installez l'extra « bench » (pip install -e '.[bench]').")
    con = duckdb.connect()
    import_extension("spatial", con=con)
    con.load_extension("spatial")
    con.execute("SET threads = 2")
    b = pd.DataFrame({k: d.b[k] for k in d.b})  # noqa: F841 - scanned by DuckDB
    zones = pd.DataFrame({"zid": np.arange(len(d.zones)),  # noqa: F841
                          "wkb": shapely.to_wkb(d.zones.geometry.to_numpy())})
    lines = pd.DataFrame({"statut": d.lines["statut"],  # noqa: F841
                          "wkb": shapely.to_wkb(d.lines.geometry.to_numpy())})
    c = pd.DataFrame(d.c)  # noqa: F841
    a = pd.DataFrame(d.a)  # noqa: F841
    ref = REFERENCE_YEAR - 2
    con.execute("CREATE TABLE z AS SELECT zid, ST_GeomFromWKB(wkb) AS geom FROM zones")
    con.execute("CREATE TABLE b AS SELECT ST_Point(x, y) AS geom, nb_logements, "
                "nb_logements_vacants, annee_debut_vacance, etat, habitat_indigne, rdc_vacant "
                "FROM b")
    q = f"""
    SELECT z.zid, count(*) AS batiments, sum(nb_logements) AS logements,
      sum(nb_logements_vacants) AS logements_vacants,
      sum(CASE WHEN annee_debut_vacance > 0 AND annee_debut_vacance <= {ref}
          THEN nb_logements_vacants ELSE 0 END) AS vacants_longue_duree,
      sum((etat IN (3, 4))::INT) AS batiments_degrades,
      sum(habitat_indigne::INT) AS habitat_indigne, sum(rdc_vacant::INT) AS rdc_vacants
    FROM b JOIN z ON ST_Intersects(z.geom, b.geom) GROUP BY z.zid"""
    bb = con.execute(q).df().set_index("zid")
    con.execute("DROP TABLE b")
    cc = con.execute("""
    SELECT z.zid, count(*) AS commerces, sum(vacant::INT) AS commerces_vacants
    FROM (SELECT ST_Point(x, y) AS geom, vacant FROM c) p JOIN z ON ST_Intersects(z.geom, p.geom)
    GROUP BY z.zid""").df().set_index("zid")
    aa = con.execute("""
    SELECT z.zid, count(*) AS actions, sum(cout_ht) AS cout_total,
      sum((orientation = 1)::INT) AS actions_o1, sum((orientation = 2)::INT) AS actions_o2,
      sum((orientation = 3)::INT) AS actions_o3, sum((orientation = 4)::INT) AS actions_o4
    FROM (SELECT ST_Point(x, y) AS geom, orientation, cout_ht FROM a) p
    JOIN z ON ST_Intersects(z.geom, p.geom) GROUP BY z.zid""").df().set_index("zid")
    ll = con.execute("""
    SELECT z.zid,
      sum(CASE WHEN statut = 'existant' THEN ST_Length(ST_Intersection(z.geom, l.geom)) END)
        / 1000 AS km_mobilites_existantes,
      sum(CASE WHEN statut = 'projete' THEN ST_Length(ST_Intersection(z.geom, l.geom)) END)
        / 1000 AS km_mobilites_projetees
    FROM (SELECT statut, ST_GeomFromWKB(wkb) AS geom FROM lines) l
    JOIN z ON ST_Intersects(z.geom, l.geom) GROUP BY z.zid""").df().set_index("zid")
    out = pd.concat([bb, cc, aa, ll], axis=1).reindex(range(len(d.zones))).fillna(0)
    return out[COUNTS + FLOATS].astype(float).reset_index(drop=True)


METHODS = {"ort_geo": run_ort_geo, "geopandas": run_geopandas, "duckdb": run_duckdb}
