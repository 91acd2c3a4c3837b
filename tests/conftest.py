"""Shared fixtures. Tests that need ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data absent : données réelles indisponibles")
    return SHARED_DATA


@pytest.fixture
def communes_geojson(shared_data: Path) -> Path:
    return shared_data / "admin" / "val-d-argent-communes_france-geojson-2018.geojson"


@pytest.fixture
def store(tmp_path: Path):
    from ort_geo import open_store

    return open_store(tmp_path / "store.gpkg", create=True)


TERRITORY_DIR = ROOT / "layers" / "val-d-argent"


@pytest.fixture(scope="session")
def demo_store_path(tmp_path_factory) -> Path:
    """The Val d'Argent demo store, built once per test session (do not modify it)."""
    from ort_geo.build import build_territory

    path = tmp_path_factory.mktemp("demo") / "val-d-argent.gpkg"
    build_territory(TERRITORY_DIR, path).close()
    return path


@pytest.fixture(scope="session")
def demo_store(demo_store_path: Path):
    """The demo store, opened (session-scoped and shared: tests must not write to it)."""
    from ort_geo import open_store

    return open_store(demo_store_path)


@pytest.fixture
def demo_store_copy(demo_store_path: Path, tmp_path: Path):
    """A private copy of the demo store that a test may modify."""
    import shutil

    from ort_geo import open_store

    path = tmp_path / "val-d-argent.gpkg"
    shutil.copyfile(demo_store_path, path)
    return open_store(path)


@pytest.fixture(scope="session")
def zones_store(tmp_path_factory):
    """A small synthetic store with zones sharing edges, overlapping, with holes (stats tests)."""
    from stats_data import build_small_store

    return build_small_store(tmp_path_factory.mktemp("zones") / "zones.gpkg")
