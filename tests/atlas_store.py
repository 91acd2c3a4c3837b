"""A small synthetic territory for the atlas tests (until the demo store is available).

Two square communes side by side, two ORT sectors, one permis de louer zone, strata, actions in
every orientation, and seeded buildings: one sector holds fewer than 11 buildings so that the public
edition must mask it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

X0, Y0 = 1_010_000.0, 6_800_000.0


def _frame(rows, geoms):
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:2154")


def build_small_store(store) -> None:
    w = store.write
    w("communes", _frame(
        [{"code_insee": "68298", "nom": "Sainte-Marie-aux-Mines", "siren_epci": "246800395",
          "population": 4945},
         {"code_insee": "68294", "nom": "Sainte-Croix-aux-Mines", "siren_epci": "246800395",
          "population": 1756}],
        [shapely.box(X0, Y0, X0 + 4000, Y0 + 3000),
         shapely.box(X0 + 4000, Y0, X0 + 8000, Y0 + 3000)]), author="test")
    w("strates", _frame(
        [{"id": "ldv", "strate": "ligne_de_vie"}, {"id": "ter", "strate": "terrasses"},
         {"id": "hau", "strate": "hauts"}],
        [shapely.box(X0, Y0 + 1000, X0 + 8000, Y0 + 2000),
         shapely.box(X0, Y0 + 2000, X0 + 8000, Y0 + 2500).union(
             shapely.box(X0, Y0 + 500, X0 + 8000, Y0 + 1000)),
         shapely.box(X0, Y0 + 2500, X0 + 8000, Y0 + 3000).union(
             shapely.box(X0, Y0, X0 + 8000, Y0 + 500))]), author="test")
    w("secteurs_ort", _frame(
        [{"id": "smam-centre", "nom": "Centre-ville de Sainte-Marie-aux-Mines",
          "type": "centre_ville_principal", "code_insee": "68298", "indicatif": True,
          "deliberation": "DCC 2023-05-04", "version": 1},
         {"id": "scam-centre", "nom": "Centre-ville de Sainte-Croix-aux-Mines",
          "type": "centre_ville", "code_insee": "68294", "indicatif": True}],
        [shapely.box(X0 + 1500, Y0 + 1100, X0 + 2600, Y0 + 1900),
         shapely.box(X0 + 5200, Y0 + 1200, X0 + 5600, Y0 + 1500)]), author="test")
    w("permis_de_louer", _frame(
        [{"id": "pdl-burrus", "nom": "Rue Burrus (D469)", "regime": "autorisation_prealable",
          "code_insee": "68294", "date_effet": "2024-01-01"}],
        [shapely.box(X0 + 4800, Y0 + 1350, X0 + 6500, Y0 + 1450)]), author="test")
    w("ilot_demonstrateur", _frame(
        [{"id": "ilot", "nom": "Îlot démonstrateur", "code_insee": "68298"}],
        [shapely.box(X0 + 1900, Y0 + 1400, X0 + 2100, Y0 + 1550)]), author="test")
    w("zones_activite", _frame(
        [{"id": "halles", "nom": "Les Halles", "code_insee": "68294"}],
        [shapely.box(X0 + 3800, Y0 + 1100, X0 + 4600, Y0 + 1600)]), author="test")
    w("mobilites_actives", _frame(
        [{"id": "vv", "nom": "Voie verte", "type": "voie_verte", "statut": "existant"},
         {"id": "lien", "nom": "Liaison", "type": "piste_cyclable", "statut": "projete"}],
        [shapely.LineString([(X0 + 100, Y0 + 1300), (X0 + 7900, Y0 + 1350)]),
         shapely.LineString([(X0 + 2000, Y0 + 1300), (X0 + 2000, Y0 + 1800)])]), author="test")
    actions = [
        ("a1", "1.1", "Réhabilitation de l'îlot démonstrateur", 1, "smam-centre", 1950, 1450),
        ("a2", "1.2", "SHOP'IN : commerce de centre-ville", 1, "smam-centre", 2300, 1600),
        ("a3", "2.1", "Société citoyenne de rénovation thermique", 2, None, 3000, 2200),
        ("a4", "3.1", "Parc de la Villa Burrus", 3, "scam-centre", 5400, 1300),
        ("a5", "4.1", "Voie verte de la vallée", 4, None, 6000, 1350),
        ("a6", "1.3", "Bâtiment REHABILIS", 1, None, 5450, 1400),
    ]
    w("actions", _frame(
        [{"id": a, "numero": n, "titre": t, "orientation": o, "secteur_id": s,
          "maitre_ouvrage": "CC du Val d'Argent", "statut": "en_cours", "priorite": "haute",
          "cout_ht": 120000.0 * o, "partenaires": "Banque des Territoires, Région Grand Est"}
         for a, n, t, o, s, _, _ in actions]
        # an action with only the required fields: the atlas must print blanks, never "nan"
        + [{"id": "a7", "titre": "Étude de circulation", "orientation": 4}],
        [shapely.Point(X0 + x, Y0 + y) for *_, x, y in actions]
        + [shapely.Point(X0 + 1600, Y0 + 1200)]), author="test")
    w("commerces", _frame(
        [{"id": "c1", "nom": "Boulangerie", "vacant": False},
         {"id": "c2", "nom": "Ancienne mercerie", "vacant": True}],
        [shapely.Point(X0 + 2000, Y0 + 1700), shapely.Point(X0 + 2200, Y0 + 1650)]),
        author="test")
    rng = np.random.default_rng(42)
    rows, geoms = [], []
    boxes = [((X0 + 1500, Y0 + 1100, X0 + 2600, Y0 + 1900), 60),   # main centre: many
             ((X0 + 5200, Y0 + 1200, X0 + 5600, Y0 + 1500), 7),    # small centre: < 11
             ((X0 + 300, Y0 + 1050, X0 + 7700, Y0 + 1950), 80)]    # valley floor
    k = 0
    for (xa, ya, xb, yb), n in boxes:
        for _ in range(n):
            x, y = rng.uniform(xa + 10, xb - 20), rng.uniform(ya + 10, yb - 20)
            dw = int(rng.integers(1, 8))
            vac = int(rng.integers(0, dw + 1)) if rng.random() < 0.3 else 0
            rows.append({"id": f"BATI{k:08d}", "rnb_id": f"RNB{k:09d}", "code_insee": "68298",
                         "nb_logements": dw, "nb_logements_vacants": vac,
                         "annee_debut_vacance": 2020 if vac else None,
                         "etat": ["bon", "moyen", "degrade", "tres_degrade"][k % 4],
                         "habitat_indigne": k % 9 == 0, "rdc_commerce": k % 5 == 0,
                         "rdc_vacant": k % 10 == 0, "proprietaire_type": "personne physique",
                         "demo": True, "adresse": f"{k} rue de test"})
            geoms.append(shapely.box(x, y, x + 12, y + 9))
            k += 1
    w("batiments", _frame(rows, geoms), author="test")
