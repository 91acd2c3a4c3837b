"""Stores: open one from a path or URL with :func:`open_store`."""

from __future__ import annotations

from pathlib import Path

from ..crs import TERRITORY_EPSG
from ..errors import StoreError
from .base import STORAGE_CRS, STORAGE_EPSG, JournalEntry, Store, WriteSummary

__all__ = ["STORAGE_CRS", "STORAGE_EPSG", "JournalEntry", "Store", "WriteSummary", "open_store"]


def open_store(location: str | Path, *, create: bool = False,
               epsg: int = STORAGE_EPSG) -> Store:
    """Open the store at ``location``.

    A ``.gpkg`` path opens the embedded GeoPackage store; a ``postgresql://`` URL (optionally with
    ``?schema=name``) a PostGIS store shared by many users (extra ``ort-geo[postgis]``).
    ``create=True`` creates the store (file, or schema and tables) when it does not exist, with
    its geometries in ``epsg`` (the territory's CRS, :func:`ort_geo.crs.territory_epsg`); an
    existing store keeps the CRS it was created with (``Store.epsg``).
    """
    if epsg not in TERRITORY_EPSG:
        raise StoreError(f"SCR d'entrepôt non pris en charge : EPSG:{epsg} (attendus : "
                         f"{', '.join(f'EPSG:{c}' for c in TERRITORY_EPSG)}).")
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        from .postgis import PostGISStore

        return PostGISStore(text, create=create, epsg=epsg)
    if not text.lower().endswith(".gpkg"):
        raise StoreError(f"Emplacement d'entrepôt non reconnu : {text} (attendu : fichier .gpkg "
                         "ou URL postgresql://).")
    from .gpkg import GeoPackageStore

    return GeoPackageStore(text, create=create, epsg=epsg)
