"""The territories shipped with ort-geo and the default store: the standard library only, so
that the command line reads its defaults without loading the manifests' models (pydantic)."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def bundled_territory(name: str) -> Path:
    """The folder of a territory shipped with ort-geo (package data, read through
    :mod:`importlib.resources`), by its folder name."""
    return Path(str(files("ort_geo") / "territories" / name))


def shipped_territories() -> dict[str, Path]:
    """The manifests shipped with ort-geo, by name (package data: ``ort_geo/territories``)."""
    root = Path(str(files("ort_geo") / "territories"))
    return {p.parent.name: p.parent for p in sorted(root.glob("*/territory.toml"))}


def default_territory() -> Path | None:
    """The territory ``ort-geo build`` and ``ort-geo demo`` use when none is named: the first
    shipped manifest."""
    shipped = shipped_territories()
    return next(iter(shipped.values()), None)


def default_store() -> str:
    """``ORT_GEO_STORE``, else the store ``ort-geo demo`` builds: out/<first shipped
    territory>.gpkg."""
    shipped = default_territory()
    return os.environ.get("ORT_GEO_STORE") or f"out/{shipped.name if shipped else 'atlas'}.gpkg"


__all__ = ["bundled_territory", "default_store", "default_territory", "shipped_territories"]
