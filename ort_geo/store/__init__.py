"""Stores: open one from a path or URL with :func:`open_store`."""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from .base import STORAGE_CRS, STORAGE_EPSG, JournalEntry, Store, WriteSummary

__all__ = ["STORAGE_CRS", "STORAGE_EPSG", "JournalEntry", "Store", "WriteSummary", "open_store"]


def open_store(location: str | Path, *, create: bool = False) -> Store:
    """Open the store at ``location``.

    A ``.gpkg`` path opens the embedded GeoPackage store; a ``postgresql://`` URL (optionally with
    ``?schema=name``) a PostGIS store shared by many users (extra ``ort-geo[postgis]``).
    ``create=True`` creates the store (file, or schema and tables) when it does not exist.
    """
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        from .postgis import PostGISStore

        return PostGISStore(text, create=create)
    if not text.lower().endswith(".gpkg"):
        raise StoreError(f"Emplacement d'entrepôt non reconnu : {text} (attendu : fichier .gpkg "
                         "ou URL postgresql://).")
    from .gpkg import GeoPackageStore

    return GeoPackageStore(text, create=create)
