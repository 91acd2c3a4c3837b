"""Shared fixtures. Tests that need ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
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


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip a test whose optional system tool is missing, saying why; in CI (``CI=true``) fail
    instead, so a missing tool can never pass as a green run."""
    if IN_CI:
        pytest.fail(f"CI : ce test doit tourner. {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def system_tool() -> Callable[[str, str], str]:
    """``system_tool(name, debian_package)``: the path of a command-line client a test drives
    (ogr2ogr, psql…), or :func:`unavailable` saying which package installs it."""
    import shutil

    def find(name: str, package: str) -> str:
        found = shutil.which(name)
        if found is None:
            unavailable(f"{name} absent : pour l'installer, apt-get install {package}")
        return found

    return find


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``browser`` need chromium (and playwright), ``poppler`` needs pdftoppm,
    ``qgis`` needs Debian's QGIS python bindings."""
    if item.get_closest_marker("browser"):
        from ort_geo.errors import MissingExtraError, MissingToolError, require_module
        from ort_geo.webmap.browser import _chromium

        try:
            require_module("playwright.sync_api", "browser")
            _chromium()
        except (MissingExtraError, MissingToolError) as exc:
            unavailable(str(exc))
    if item.get_closest_marker("qgis"):
        import subprocess

        # QGIS' bindings are Debian's (python3-qgis), for the system python3 only.
        probe = subprocess.run(["/usr/bin/python3", "-c", "import qgis.core"],
                               capture_output=True, text=True) if Path(
                                   "/usr/bin/python3").exists() else None
        if probe is None or probe.returncode:
            unavailable("QGIS absent : pour l'installer, apt-get install python3-qgis")
    if item.get_closest_marker("poppler"):
        from ort_geo.errors import MissingToolError, require_tool

        try:
            require_tool("pdftoppm")
        except MissingToolError as exc:
            unavailable(str(exc))


POSTGIS_ENV = "ORT_GEO_TEST_POSTGIS"
BACKENDS = ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)]


@pytest.fixture(scope="session")
def postgis_url() -> str:
    """URL of a PostGIS test database (``ORT_GEO_TEST_POSTGIS``, see ``.ci/postgis-up``).

    Without one the PostGIS tests skip, saying why; in CI (``CI=true``) they fail instead, so a
    broken server can never pass as a green run.
    """
    url = os.environ.get(POSTGIS_ENV, "")
    reason = ""
    if not url:
        reason = (f"{POSTGIS_ENV} non défini : pas de serveur PostGIS de test "
                  f"(export {POSTGIS_ENV}=\"$(.ci/postgis-up)\" en démarre un)")
    else:
        try:
            import psycopg

            psycopg.connect(url, connect_timeout=5).close()
        except Exception as exc:  # noqa: BLE001 - any failure means "no server"
            reason = f"serveur PostGIS injoignable ({POSTGIS_ENV}) : {exc}"
    if reason:
        unavailable(f"Tests PostGIS : {reason}")
    return url


@pytest.fixture
def new_store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable]:
    """Factory of fresh empty stores: ``new_store("gpkg")`` or ``new_store("postgis")``.

    Each PostGIS store lives in its own schema, dropped after the test.
    """
    from ort_geo import open_store

    opened, schemas = [], []

    def make(kind: str, name: str = "store"):
        if kind == "gpkg":
            path = tmp_path / f"{name}.gpkg"
            if path.exists():
                path = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.gpkg"
            st = open_store(path, create=True)
        else:
            base = request.getfixturevalue("postgis_url")
            schema = f"test_{uuid.uuid4().hex[:12]}"
            schemas.append(schema)
            st = open_store(f"{base}?schema={schema}", create=True)
        opened.append(st)
        return st

    yield make
    for st in opened:
        st.close()
    if schemas:
        import psycopg

        with psycopg.connect(request.getfixturevalue("postgis_url"), autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _store_state(store) -> str:
    """Everything a failed write must leave as it was: the store's whole content (layers,
    journal, metadata) and, for a GeoPackage, the file's bytes. Works on every backend."""
    import hashlib

    from ort_geo.copy import store_digest

    state = store_digest(store).fingerprint
    if hasattr(store, "path"):
        state += hashlib.sha256(Path(store.path).read_bytes()).hexdigest()
    return state


@pytest.fixture
def store_state() -> Callable:
    """``store_state(store)``: compare it before and after a refused write (any backend)."""
    return _store_state


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: tests using it (or ``store``, ``zones_store``…) run on GeoPackage
    and PostGIS — once per backend, never crossed."""
    return request.param


@pytest.fixture
def store(new_store: Callable, backend: str):
    """An empty store, once per backend."""
    return new_store(backend)


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
def demo_store_copy(demo_copy: Callable, tmp_path: Path):
    """A private copy of the demo store (GeoPackage) that a test may modify."""
    return demo_copy("gpkg", tmp_path)


@pytest.fixture(scope="session")
def demo_copy(demo_store_path: Path, request: pytest.FixtureRequest) -> Callable:
    """``demo_copy(backend, folder)``: a new copy of the demo store that tests may modify — a
    file in ``folder`` for "gpkg", a fresh schema (dropped at the session's end) for "postgis"."""
    import shutil

    from ort_geo import open_store

    def copy(backend: str, folder: Path):
        if backend == "gpkg":
            path = folder / "val-d-argent.gpkg"
            shutil.copyfile(demo_store_path, path)
            return open_store(path)
        from ort_geo.copy import copy_store

        store = open_store(request.getfixturevalue("postgis_schema_url")(), create=True)
        with open_store(demo_store_path) as source:
            copy_store(source, store)
        return store

    return copy


@pytest.fixture
def demo_store_edit(demo_copy: Callable, backend: str, tmp_path: Path):
    """A private copy of the demo store that a test may modify, once per backend."""
    with demo_copy(backend, tmp_path) as store:
        yield store


@pytest.fixture(scope="session")
def postgis_schema_url(request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """``postgis_schema_url()``: the URL of a fresh PostGIS schema, kept for the session and
    dropped at its end (for session- and module-scoped stores)."""
    schemas: list[tuple[str, str]] = []

    def make() -> str:
        url, schema = request.getfixturevalue("postgis_url"), f"test_{uuid.uuid4().hex[:12]}"
        schemas.append((url, schema))
        return f"{url}?schema={schema}"

    yield make
    if schemas:
        import psycopg

        with psycopg.connect(schemas[0][0], autocommit=True) as conn:
            for _, schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def postgis_copy(postgis_schema_url: Callable[[], str]) -> Iterator[Callable]:
    """``postgis_copy(store)``: a verified copy of a store in a fresh PostGIS schema, one per
    source, kept for the session (read-only by convention, like the stores it copies)."""
    from ort_geo import open_store
    from ort_geo.copy import copy_store

    copies: dict[str, object] = {}

    def copy(source):
        if source.url not in copies:
            dest = open_store(postgis_schema_url(), create=True)
            copy_store(source, dest)
            copies[source.url] = dest
        return copies[source.url]

    yield copy
    for dest in copies.values():
        dest.close()


@pytest.fixture(scope="session")
def zones_store_gpkg(tmp_path_factory):
    from stats_data import build_small_store

    return build_small_store(tmp_path_factory.mktemp("zones") / "zones.gpkg")


@pytest.fixture(scope="session")
def zones_store(zones_store_gpkg, backend: str, on_backend: Callable):
    """A small synthetic store with zones sharing edges, overlapping, with holes (stats and
    query tests), on each backend (the PostGIS one is a verified copy of the GeoPackage)."""
    return on_backend(zones_store_gpkg, backend)


@pytest.fixture(scope="session")
def on_backend(request: pytest.FixtureRequest) -> Callable:
    """``on_backend(store, backend)``: the store itself for "gpkg", its session copy in PostGIS
    for "postgis" (read-only stores only)."""

    def place(store, backend: str):
        if backend == "gpkg":
            return store
        return request.getfixturevalue("postgis_copy")(store)

    return place


@pytest.fixture(scope="session")
def demo_store_postgis(demo_store, postgis_copy):
    """The demo store copied (and verified) into PostGIS, once per session; do not modify."""
    return postgis_copy(demo_store)
