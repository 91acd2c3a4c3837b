"""Deterministic demo buildings and shops for a territory with no open building data offline.

No footprint, address or cadastre of the valley is available offline, so the demo store is fed by
a seeded generator (``numpy.random.Generator``): the same seed gives the same buildings, byte for
byte. Footprints are rectangles along the valley axis, on the valley floor, denser around the town
halls; attributes follow plausible distributions (older, more vacant and more degraded in the old
centres). Every feature says it is generated: ``demo = True`` and ``source`` = :data:`SOURCE`.
Real data comes in through :mod:`ort_geo.importers` (BD TOPO, RNB, LOVAC-like CSV).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

SOURCE = "données de démonstration générées (ort-geo, non réelles)"
RNB_ALPHABET = "123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Inhabitants per generated building, so a town gets about population / this many buildings.
PEOPLE_PER_BUILDING = 3.5

#: Street names where a manifest gives none for a commune (its ``demo_rues``).
_GENERIC_STREETS = ("rue des Jardins", "chemin du Verger", "rue des Prés", "impasse des Tilleuls",
                    "rue de la Rivière", "chemin de la Forêt", "rue du Stade")
_CENTRAL_STREETS = ("Grand-Rue", "place de la Mairie", "rue de l'Église", "rue du Marché")
_USAGES = ("Résidentiel", "Commercial et services", "Industriel", "Annexe")
_OWNERS = ("personne physique", "copropriété", "SCI", "bailleur social", "commune", "autre")
_SHOPS = ("Boulangerie", "Boucherie", "Pharmacie", "Café", "Restaurant", "Coiffure",
          "Tabac-presse", "Fleuriste", "Épicerie", "Banque", "Opticien", "Vêtements",
          "Agence immobilière", "Bar", "Librairie", "Quincaillerie")


def _rnb_id(rng: np.random.Generator) -> str:
    return "".join(RNB_ALPHABET[i] for i in rng.integers(0, len(RNB_ALPHABET), 12))


def _direction(axis: BaseGeometry, distance: float) -> tuple[float, float]:
    a = axis.interpolate(max(distance - 10, 0))
    b = axis.interpolate(min(distance + 10, axis.length))
    dx, dy = b.x - a.x, b.y - a.y
    norm = math.hypot(dx, dy) or 1.0
    return dx / norm, dy / norm


def generate_buildings(
    communes: gpd.GeoDataFrame,
    axes: list[BaseGeometry],
    centres: Mapping[str, shapely.Point],
    floor: BaseGeometry,
    *,
    seed: int = 2154,
    reference_year: int = 2026,
    localities: Mapping[str, str] | None = None,
    streets: Mapping[str, Sequence[str]] | None = None,
) -> gpd.GeoDataFrame:
    """Demo ``batiments`` frame (in the CRS of ``communes``, the store's).

    ``communes`` is a communes-layer frame (code_insee, population, geometry); ``axes`` the valley
    axis lines (buildings are laid out along the nearest one); ``centres`` the town-hall point of
    each commune; ``floor`` the valley floor where buildings may stand; ``localities`` the
    "postcode town" line of addresses per commune (defaults to the INSEE code).
    """
    localities = localities or {}
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    shapes: list[BaseGeometry] = []
    grid: dict[tuple[int, int], list[tuple[float, float, float, BaseGeometry]]] = {}
    cell = 40.0

    def free(x: float, y: float, r: float, footprint: BaseGeometry) -> bool:
        """No other footprint within a metre (circles first, exact distance when they meet)."""
        gx, gy = int(x // cell), int(y // cell)
        for i in (-1, 0, 1):
            for j in (-1, 0, 1):
                for ox, oy, orad, other in grid.get((gx + i, gy + j), ()):
                    if (math.hypot(ox - x, oy - y) < r + orad + 1.0
                            and footprint.distance(other) < 1.0):
                        return False
        return True

    prepared_floor = shapely.prepared.prep(floor)
    for commune in communes.sort_values("code_insee").itertuples():
        code = str(commune.code_insee)
        centre = centres[code]
        axis = min(axes, key=lambda line: line.distance(centre))
        s0 = axis.project(centre)
        area = shapely.prepared.prep(commune.geometry.intersection(floor))
        target = max(20, round((commune.population or 0) / PEOPLE_PER_BUILDING))
        placed, attempts = 0, 0
        while placed < target and attempts < target * 60:
            attempts += 1
            # Three quarters cluster around the centre, the rest spread along the valley.
            if rng.random() < 0.75:
                s = s0 + rng.normal(0, 350)
                t = rng.normal(0, 60)
            else:
                s = rng.uniform(0, axis.length)
                t = rng.normal(0, 130)
            s = float(np.clip(s, 0, axis.length))
            ux, uy = _direction(axis, s)
            base = axis.interpolate(s)
            x, y = base.x - uy * t, base.y + ux * t
            point = shapely.Point(x, y)
            if not area.contains(point) or not prepared_floor.contains(point):
                continue
            d_centre = math.hypot(x - centre.x, y - centre.y)
            central = d_centre < 500
            length = rng.uniform(12, 24) if central else rng.uniform(9, 18)
            width = rng.uniform(8, 13) if central else rng.uniform(7, 11)
            radius = math.hypot(length, width) / 2
            angle = math.atan2(uy, ux) + rng.normal(0, 0.08)
            footprint = shapely.affinity.rotate(
                shapely.box(x - length / 2, y - width / 2, x + length / 2, y + width / 2),
                angle, origin=(x, y), use_radians=True)
            if not free(x, y, radius, footprint) or not area.contains(footprint):
                continue
            grid.setdefault((int(x // cell), int(y // cell)), []).append((x, y, radius, footprint))
            placed += 1
            rows.append(_attributes(rng, code, placed, central, d_centre, reference_year,
                                    localities.get(code, code), (streets or {}).get(code)))
            shapes.append(footprint)
    return gpd.GeoDataFrame(rows, geometry=shapes, crs=communes.crs)


def _attributes(rng: np.random.Generator, code: str, n: int, central: bool, d_centre: float,
                reference_year: int, locality: str, own: Sequence[str] | None) -> dict:
    usage = rng.choice(_USAGES, p=[0.78, 0.10, 0.04, 0.08] if central else [0.80, 0.04, 0.06, 0.10])
    if central:
        year = int(rng.choice([rng.integers(1700, 1870), rng.integers(1870, 1914),
                               rng.integers(1914, 1975), rng.integers(1975, 2024)],
                              p=[0.3, 0.4, 0.2, 0.1]))
    else:
        year = int(rng.choice([rng.integers(1800, 1914), rng.integers(1914, 1975),
                               rng.integers(1975, 2024)], p=[0.2, 0.45, 0.35]))
    dwellings = 0
    if usage == "Résidentiel":
        dwellings = int(rng.integers(1, 7)) if central else int(rng.choice([1, 1, 1, 1, 2, 3]))
    elif usage == "Commercial et services":
        dwellings = int(rng.integers(0, 5))
    vacancy_rate = 0.19 if central else 0.09
    vacant = int(rng.binomial(dwellings, vacancy_rate)) if dwellings else 0
    since = None
    if vacant:
        since = int(reference_year - min(rng.geometric(0.22), 25))
    age = reference_year - year
    degraded_p = min(0.05 + age / 900 + (0.15 if vacant else 0), 0.7)
    etat = rng.choice(["bon", "moyen", "degrade", "tres_degrade"],
                      p=_normalise([1 - degraded_p, degraded_p * 1.2, degraded_p * 0.7,
                                    degraded_p * 0.25]))
    indigne = bool(etat in ("degrade", "tres_degrade") and dwellings and rng.random() < 0.3)
    shop = bool(central and d_centre < 350 and usage in ("Commercial et services", "Résidentiel")
                and rng.random() < (0.9 if usage == "Commercial et services" else 0.25))
    shop_vacant = bool(shop and rng.random() < 0.24)
    streets = (tuple(own or ()) or _CENTRAL_STREETS) if central else _GENERIC_STREETS
    street = streets[int(rng.integers(0, len(streets)))]
    section = "".join(rng.choice(list("ABCDEFHK"), 2))
    return {
        "id": f"demo-{code}-{n:05d}",
        "rnb_id": _rnb_id(rng),
        "adresse": f"{int(rng.integers(1, 180))} {street} {locality}",
        "idpar": f"{code}000{section}{int(rng.integers(1, 2000)):04d}",
        "code_insee": code,
        "annee_construction": year,
        "usage": str(usage),
        "nb_logements": dwellings,
        "nb_logements_vacants": vacant,
        "annee_debut_vacance": since,
        "etat": str(etat),
        "habitat_indigne": indigne,
        "rdc_commerce": shop,
        "rdc_vacant": shop_vacant if shop else None,
        "proprietaire_type": str(rng.choice(_OWNERS, p=[0.62, 0.14, 0.1, 0.07, 0.03, 0.04])),
        "demo": True,
        "source": SOURCE,
    }


def _normalise(weights: list[float]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]


def generate_commerces(
    centres: Mapping[str, shapely.Point],
    axes: list[BaseGeometry],
    counts: Mapping[str, int],
    territory: BaseGeometry,
    *,
    seed: int = 2154,
    localities: Mapping[str, str] | None = None,
    crs: str = "EPSG:2154",
    streets: Mapping[str, Sequence[str]] | None = None,
) -> gpd.GeoDataFrame:
    """Demo ``commerces``: shopfronts along the main street of each centre, some vacant (in
    ``crs``, the store's, like every geometry given).

    Drawn independently of the buildings' (restricted) ground-floor vacancy, so the public shop
    layer reveals nothing about any building.
    """
    rng = np.random.default_rng(seed + 1)
    localities = localities or {}
    rows, shapes = [], []
    for code in sorted(counts):
        centre = centres[code]
        axis = min(axes, key=lambda line: line.distance(centre))
        s0 = axis.project(centre)
        for i in range(counts[code]):
            s = float(np.clip(s0 + rng.normal(0, 260), 0, axis.length))
            ux, uy = _direction(axis, s)
            base = axis.interpolate(s)
            side = rng.choice([-1, 1]) * rng.uniform(12, 25)
            point = shapely.Point(base.x - uy * side, base.y + ux * side)
            if not territory.contains(point):
                continue
            vacant = bool(rng.random() < 0.22)
            activity = str(rng.choice(_SHOPS))
            street = (tuple((streets or {}).get(code) or ()) or _CENTRAL_STREETS)[0]
            rows.append({
                "id": f"demo-commerce-{code}-{i + 1:03d}",
                "nom": "Local vacant" if vacant else activity,
                "activite": None if vacant else activity,
                "vacant": vacant,
                "code_insee": code,
                "adresse": f"{int(rng.integers(1, 150))} {street} {localities.get(code, code)}",
                "demo": True,
                "source": SOURCE,
            })
            shapes.append(point)
    return gpd.GeoDataFrame(rows, geometry=shapes, crs=crs)
