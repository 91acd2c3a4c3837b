"""A synthetic town of any size with every atlas layer, for map tests and benchmarks.

Deterministic (seeded). Buildings are rectangles on a jittered grid around the centre, their
occupancy fields filled with plausible values; every feature is labelled as generated.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

CENTRE = (1010373.0, 6802185.0)  # Sainte-Marie-aux-Mines, Lambert-93
SOURCE = "ville synthétique générée (ort-geo, non réelle)"
#: A private value planted in the buildings, that no public output may contain.
SECRET_OWNER = "SCI-Confidentielle-Zq7"


def _frame(rows: list[dict], geoms: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:2154")


def synthetic_town(store, n_buildings: int = 200, *, seed: int = 7, author: str = "synthese") -> None:
    """Fill ``store`` with communes, sectors, zones, strata, actions and ``n_buildings``."""
    x, y = CENTRE
    rng = np.random.default_rng(seed)
    side = max(1, int(np.ceil(np.sqrt(n_buildings))))
    half = side * 11 + 400  # the town grows with its buildings
    commune = shapely.box(x - half - 1500, y - half - 1000, x + half + 1500, y + half + 1000)
    write = store.write
    write("communes", _frame([{"code_insee": "68298", "nom": "Sainte-Marie-aux-Mines",
                               "siren_epci": "246800395", "population": 5185,
                               "source": SOURCE}], [commune]), author=author)
    write("secteurs_ort", _frame([
        {"id": "cv", "nom": "Centre-ville de Sainte-Marie", "type": "centre_ville_principal",
         "code_insee": "68298", "convention": "PVD 2023", "date_debut": "2023-06-01",
         "version": 1, "indicatif": True, "source": SOURCE},
        {"id": "gare", "nom": "Quartier de la gare", "type": "quartier", "code_insee": "68298",
         "version": 1, "indicatif": True, "source": SOURCE},
    ], [shapely.box(x - 500, y - 350, x + 500, y + 350),
        shapely.box(x + 650, y - 300, x + 1200, y + 250)]), author=author)
    write("permis_de_louer", _frame([
        {"id": "pdl", "nom": "Permis de louer du centre", "regime": "autorisation_prealable",
         "code_insee": "68298", "date_effet": "2024-01-01", "indicatif": True, "source": SOURCE},
    ], [shapely.box(x - 450, y - 300, x + 300, y + 300)]), author=author)
    bands = [("ligne_de_vie", 0, 600), ("terrasses", 600, 1200), ("hauts", 1200, half + 1000)]
    strata = []
    for _name, inner, outer in bands:
        ring = shapely.box(x - half - 1500, y - outer, x + half + 1500, y + outer)
        if inner:
            ring = ring.difference(shapely.box(x - half - 1500, y - inner, x + half + 1500, y + inner))
        strata.append(ring.intersection(commune))
    write("strates", _frame([{"id": s, "strate": s, "libelle": None, "methode": "distance à l'axe",
                              "source": SOURCE} for s, _, _ in bands], strata), author=author)
    write("ilot_demonstrateur", _frame([
        {"id": "ilot", "nom": "Îlot de la rue Wilson", "code_insee": "68298",
         "description": "Îlot démonstrateur de la réhabilitation", "indicatif": True,
         "source": SOURCE}], [shapely.box(x - 120, y - 80, x + 60, y + 40)]), author=author)
    write("zones_activite", _frame([
        {"id": "halles", "nom": "Zone des Halles", "code_insee": "68298",
         "vocation": "artisanat", "indicatif": True, "source": SOURCE}],
        [shapely.box(x - half - 1200, y - 200, x - half - 700, y + 150)]), author=author)
    actions = [
        ("a11", "1.1", "Réhabilitation de l'îlot Wilson", 1, "en_cours", 1_250_000,
         shapely.Point(x - 30, y - 20)),
        ("a12", "1.2", "Aides aux façades <commerces> & vitrines", 1, "a_lancer", 80_000,
         shapely.Point(x + 200, y + 100)),
        ("a21", "2.1", "Voie verte de la Lièpvrette", 2, "en_etude", 2_400_000,
         shapely.LineString([(x - 900, y - 150), (x + 900, y - 100)])),
        ("a31", "3.1", "Valorisation du théâtre", 3, "realise", 350_000,
         shapely.box(x + 700, y + 20, x + 800, y + 100)),
        ("a41", "4.1", "Renaturation des berges", 4, "a_lancer", None,
         shapely.Point(x - 300, y + 250)),
    ]
    write("actions", _frame([
        {"id": a, "numero": num, "titre": t, "orientation": o, "statut": s, "cout_ht": c,
         "maitre_ouvrage": "Communauté de communes du Val d'Argent",
         "partenaires": "Banque des Territoires, Région Grand Est", "source": SOURCE}
        for a, num, t, o, s, c, _ in actions], [g for *_, g in actions]), author=author)
    if n_buildings:
        write("batiments", buildings(n_buildings, rng=rng), author=author)


def buildings(n: int, *, rng: np.random.Generator, centre: tuple[float, float] = CENTRE) -> gpd.GeoDataFrame:
    """``n`` rectangular buildings on a jittered 22 m grid centred on ``centre``."""
    side = max(1, int(np.ceil(np.sqrt(n))))
    i = np.arange(n)
    cx = centre[0] + (i % side - side / 2) * 22 + rng.uniform(-3, 3, n)
    cy = centre[1] + (i // side - side / 2) * 22 + rng.uniform(-3, 3, n)
    w, h = rng.uniform(7, 15, n), rng.uniform(7, 14, n)
    dwellings = rng.integers(1, 12, n)
    vacant = np.minimum(dwellings, rng.poisson(0.5, n))
    frame = gpd.GeoDataFrame({
        "id": [f"BAT{k:07d}" for k in i],
        "adresse": [f"{k % 180 + 1} rue Jean-Jaurès, 68160 Sainte-Marie-aux-Mines" for k in i],
        "code_insee": "68298",
        "annee_construction": rng.integers(1700, 2020, n),
        "usage": "Résidentiel",
        "nb_logements": dwellings,
        "nb_logements_vacants": vacant,
        "annee_debut_vacance": np.where(vacant > 0, rng.integers(2005, 2025, n), None),
        "etat": rng.choice(["bon", "moyen", "degrade", "tres_degrade"], n, p=[.5, .3, .15, .05]),
        "habitat_indigne": rng.random(n) < 0.03,
        "rdc_commerce": rng.random(n) < 0.1,
        "rdc_vacant": rng.random(n) < 0.04,
        "proprietaire_type": np.where(i % 97 == 0, SECRET_OWNER, "personne physique"),
        "demo": True,
        "source": SOURCE,
    }, geometry=shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), crs="EPSG:2154")
    return frame
