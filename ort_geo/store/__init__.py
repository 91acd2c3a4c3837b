"""Stores: open one from a path or URL with :func:`open_store`."""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from .base import STORAGE_CRS, STORAGE_EPSG, JournalEntry, Store, WriteSummary

__all__ = ["STORAGE_CRS", "STORAGE_EPSG", "JournalEntry", "Store", "WriteSummary", "open_store"]


def open_store(location: str | Path, *, create: bool = False) -> Store:
    """Open the store at ``location``: a ``.gpkg`` path (the embedded default)."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        raise StoreError("Le moteur PostGIS n'est pas encore disponible.")
    if not text.lower().endswith(".gpkg"):
        raise StoreError(f"Emplacement d'entrepôt non reconnu : {text} (attendu : fichier .gpkg).")
    from .gpkg import GeoPackageStore

    return GeoPackageStore(text, create=create)
