"""The small test store of the API tests (importable by test modules)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

from ort_geo import open_store

# Lambert-93 origin near Sainte-Marie-aux-Mines' town hall.
X0, Y0 = 1010000.0, 6802000.0
N_BUILDINGS = 60
#: A restricted value: it must never appear in an anonymous response.
SECRET = "SECRET-PROPRIETAIRE"


def build_store(path: Path):
    """Sectors, zones, actions and 60 buildings (with restricted occupancy fields)."""
    st = open_store(path, create=True)
    sectors = gpd.GeoDataFrame(
        [{"id": "centre", "nom": "Centre-ville", "type": "centre_ville_principal",
          "code_insee": "68298", "version": 1},
         {"id": "halles", "nom": "Les Halles", "type": "quartier", "code_insee": "68298",
          "version": 1}],
        geometry=[shapely.box(X0, Y0, X0 + 500, Y0 + 500),
                  shapely.box(X0 + 1000, Y0, X0 + 1500, Y0 + 500)], crs="EPSG:2154")
    st.write("secteurs_ort", sectors, author="fixture")
    rows, geoms = [], []
    for i in range(N_BUILDINGS):
        x, y = X0 + 20 + (i % 10) * 45 + (1000 if i >= 40 else 0), Y0 + 20 + (i // 10 % 4) * 100
        rows.append({"id": f"b{i:03d}", "code_insee": "68298", "nb_logements": 2 + i % 5,
                     "nb_logements_vacants": i % 3, "etat": ["bon", "moyen", "degrade"][i % 3],
                     "habitat_indigne": i % 7 == 0, "proprietaire_type": SECRET,
                     "annee_construction": 1850 + i, "demo": True, "source": "test"})
        geoms.append(shapely.box(x, y, x + 15, y + 12))
    st.write("batiments", gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:2154"),
             author="fixture")
    actions = gpd.GeoDataFrame(
        [{"id": "a1", "numero": "1.1", "titre": "Réhabiliter l'îlot", "orientation": 1,
          "statut": "en_cours", "cout_ht": 120000.0, "secteur_id": "centre"}],
        geometry=[shapely.Point(X0 + 250, Y0 + 250)], crs="EPSG:2154")
    st.write("actions", actions, author="fixture")
    # Follow-up tables (no geometry): one row each, so every collection lists features.
    import pandas as pd

    st.write("financements", pd.DataFrame([{"id": "a1|region|2024", "action_id": "a1",
                                            "financeur": "Région", "annee": 2024,
                                            "montant_prevu": 40000.0}]), author="fixture")
    st.write("indicateurs_valeurs", pd.DataFrame([{"id": "arbres||2024", "indicateur": "arbres",
                                                   "annee": 2024, "valeur": 212.0,
                                                   "source": "test"}]), author="fixture")
    return st


