"""Statistical secrecy that survives subtraction: the public release, its audit, every channel."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ort_geo.cli import main
from ort_geo.privacy import MASK
from ort_geo.secrecy import (
    COVERAGE,
    audit,
    audit_store,
    public_release,
    public_year,
    public_zone_layers,
    restricted_columns,
)
from ort_geo.stats import sector_stats


def test_demo_release_masks_primary_and_complements_and_passes_the_audit(demo_store):
    release = public_release(demo_store)
    assert release.year == public_year(demo_store)
    assert set(release.tables) == set(public_zone_layers(demo_store))
    assert len(release.primary) > 0 and len(release.secondary) > 0
    staff = {layer: sector_stats(demo_store, layer, reference_year=release.year)
             for layer in release.tables}
    for layer, table in release.tables.items():
        for column in restricted_columns():
            full = staff[layer]["logements" if column == "logements_vacance_connue" else "batiments"]
            for s, p, f in zip(staff[layer][column], table[column], full, strict=True):
                if pd.isna(s):
                    assert pd.isna(p)  # unknown stays unknown
                elif column in COVERAGE and s == f:  # complete coverage: says nothing
                    assert p in (MASK, s)
                else:
                    assert p == MASK if 1 <= s <= 10 else p in (MASK, s), (layer, column)
        # public facts are never masked
        for column in ("batiments", "logements", "actions", "cout_total", "commerces"):
            assert (table[column].astype(object) != MASK).all()
    report = audit_store(demo_store)
    assert report.ok, report.failures
    assert len(report.cells) == len(release.primary) + len(release.secondary)


def test_primary_masking_alone_is_caught_by_the_audit(demo_store):
    """The audit can fail: with complements unmasked, subtraction narrows the intervals."""
    from ort_geo.secrecy import mask_table

    release = public_release(demo_store)
    tables = {layer: mask_table(sector_stats(demo_store, layer, reference_year=release.year),
                                layer, set(release.primary))
              for layer in release.tables}
    zones, records = _public_inputs(demo_store, release)
    report = audit(tables, zones, records)
    assert not report.ok
    assert all(c.width < c.required for c in report.failures)


def _public_inputs(store, release):
    import geopandas as gpd

    from ort_geo.privacy import public_records, public_view

    zones = {}
    for layer in release.tables:
        spec = store.spec(layer)
        frame = public_view(spec, store.read(layer))
        zones[layer] = gpd.GeoDataFrame({"id": frame[spec.key].astype(str)},
                                        geometry=frame.geometry.to_numpy(), crs=frame.crs)
    buildings = public_view(store.spec("batiments"), public_records(store.read("batiments")))
    return zones, {"batiments": buildings}


def test_cli_public_stats_are_the_release(demo_store_path, demo_store):
    release = public_release(demo_store)
    for layer in ("communes", "secteurs_ort"):
        res = CliRunner().invoke(main, ["stats", layer, "--public", "--format", "json",
                                        "--store", str(demo_store_path)])
        assert res.exit_code == 0, res.output
        rows = json.loads(res.output)
        table = release.tables[layer]
        for row, (_, expected) in zip(rows, table.iterrows(), strict=True):
            for column in restricted_columns():
                value = expected[column]
                assert row[column] == (value if isinstance(value, str) else
                                       None if pd.isna(value) else int(value))


def test_verifier_exit_codes(demo_store_path):
    ok = CliRunner().invoke(main, ["secret", "verifier", "--store", str(demo_store_path)])
    assert ok.exit_code == 0 and "Secret statistique vérifié" in ok.output
    # the release protects to 11: against a stricter threshold it fails, with exit code 1
    bad = CliRunner().invoke(main, ["secret", "verifier", "--store", str(demo_store_path),
                                    "--seuil", "40", "--detail"])
    assert bad.exit_code == 1 and "Secret statistique insuffisant" in bad.output
    assert "NON" in bad.output


def test_other_years_are_staff_only(demo_store):
    from ort_geo.errors import AccessDeniedError

    year = public_year(demo_store)
    with pytest.raises(AccessDeniedError, match="réservées aux agents habilités"):
        sector_stats(demo_store, "communes", public=True, reference_year=year - 1)
    assert sector_stats(demo_store, "communes", public=True, reference_year=year).attrs[
        "reference_year"] == year
    # staff still reads any year
    assert len(sector_stats(demo_store, "communes", reference_year=year - 1)) == 5
    assert np.all(sector_stats(demo_store, "communes")["batiments"] >= 0)


# -- restricted sources never become public records ------------------------------------------

LOVAC_HEAD = "ff_idlocal;ff_idbat;ff_idpar;ccodep;commune;ff_x;ff_y;ff_jannath;ff_ccthp;debutvacance\n"
SECRET_PARCEL = "68298000ZZ77"  # parcels of the dwellings that match no footprint


@pytest.fixture
def lovac_store(demo_store_copy, tmp_path):
    """The demo with a LOVAC-like file: dwellings on footprints, and dwellings far from any."""
    import shapely

    from ort_geo.importers import import_buildings

    store = demo_store_copy
    buildings = store.read("batiments")
    commune = store.read("communes", ids=["68298"]).geometry.iloc[0]
    tree = shapely.STRtree(buildings.geometry.to_numpy())
    xmin, ymin, xmax, ymax = commune.bounds
    lonely = []
    for x in np.linspace(xmin, xmax, 40):
        for y in np.linspace(ymin, ymax, 40):
            p = shapely.Point(x, y)
            if commune.contains(p) and tree.query_nearest(p, return_distance=True)[1][0] > 300:
                lonely.append(p)
    lonely = lonely[:: max(1, len(lonely) // 3)][:3]
    assert len(lonely) == 3
    lines = []
    for k, b in enumerate(buildings.geometry.representative_point().iloc[:4]):
        lines.append(f"6829810000{k:02d};;68298000AB{k:04d};68;298;{b.x:.1f};{b.y:.1f};1900;V;2015")
    for k, p in enumerate(lonely):
        for d in range(2):
            lines.append(f"6829820{k:03d}{d:02d};;{SECRET_PARCEL}{k:02d};68;298;{p.x:.1f};{p.y:.1f};"
                         f"1777;V;2012")
    path = tmp_path / "lovac.csv"
    path.write_text(LOVAC_HEAD + "\n".join(lines) + "\n", encoding="utf-8")
    report = import_buildings(store, path, "lovac", author="test")
    assert "3 bâtiment(s) sans emprise" in str(report)
    points = store.read("batiments", where={"source": "LOVAC (DGFiP, Cerema) — données à "
                                            "diffusion restreinte"})
    assert len(points) == 3 and points["id"].str.startswith("lovac-").all()
    return store, list(points["id"])


def _no_trace(text: str, ids: list[str]) -> None:
    assert "lovac" not in text.lower() and "diffusion restreinte" not in text
    assert SECRET_PARCEL not in text
    for i in ids:
        assert i not in text


def test_lovac_points_leave_no_trace_in_public_outputs(lovac_store, tmp_path):
    from fastapi.testclient import TestClient

    from api import create_app
    from api.geojson import extent_crs84
    from ort_geo.atlas_plan import plan_atlas
    from ort_geo.io import export_layer
    from ort_geo.webmap import public_map

    store, ids = lovac_store
    # staff still sees them
    assert set(ids) <= set(store.read("batiments")["id"])
    with TestClient(create_app(str(store.path))) as client:
        texts = [client.get("/collections/batiments/items", params={"limit": 10000}).text]
        extent = client.get("/collections/batiments").json()["extent"]["spatial"]["bbox"][0]
        every = store.read("batiments")
        public = every[~every["id"].isin(ids)]
        assert extent == extent_crs84(tuple(public.total_bounds))
        assert extent != extent_crs84(tuple(every.total_bounds))  # the fixture widens it
        assert all(client.get(f"/collections/batiments/items/{i}").status_code == 404
                   for i in ids)
        for layer in ("communes", "secteurs_ort"):
            first = store.read(layer).iloc[0][store.spec(layer).key]
            texts.append(client.get(f"/collections/{layer}/items/{first}/batiments").text)
            texts.append(client.get(f"/collections/{layer}/stats").text)
        commune = store.read("communes", ids=["68298"]).to_crs(4326).geometry.iloc[0]
        texts.append(client.post("/batiments/within",
                                 json=shapely_mapping(commune.envelope)).text)
        # asking for the restricted source by name finds nothing
        assert client.get("/collections/batiments/items", params={
            "source": "LOVAC (DGFiP, Cerema) — données à diffusion restreinte"}).json()[
            "features"] == []
    for fmt in ("geojson", "csv"):
        path = export_layer(store, "batiments", tmp_path / f"b.{fmt}", public=True)
        texts.append(path.read_text(encoding="utf-8-sig"))
    html = tmp_path / "carte.html"
    public_map(store).save(str(html))
    texts.append(html.read_text(encoding="utf-8"))
    plan = plan_atlas(store, edition="public")
    texts.append(repr([p.stats for p in plan.pages]) + repr(list(plan.layers)))
    for text in texts:
        _no_trace(text, ids)
    # the public release counts public buildings only
    release = public_release(store)
    public_count = len(store.read("batiments")) - len(ids)
    assert int(release.tables["communes"].iloc[-1]["batiments"]) == public_count


def shapely_mapping(geom) -> dict:
    import shapely.geometry

    return shapely.geometry.mapping(geom)


# -- randomised stores ----------------------------------------------------------------------------

def _random_store(path, seed: int, n_buildings: int, n_sectors: int):
    """Two communes tiling a 4 × 2 km territory, three strata bands, sectors on a grid, and
    buildings with random occupancy and condition (generated, deterministic per seed)."""
    import geopandas as gpd
    from shapely.geometry import box

    from ort_geo import open_store

    rng = np.random.default_rng(seed)
    x0, y0 = 1_000_000.0, 6_790_000.0

    def frame(rows, geoms):
        return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:2154")

    store = open_store(path, create=True)
    w = {"author": "test"}
    split = float(rng.uniform(1000, 3000))
    store.write("communes", frame(
        [{"code_insee": "68298", "nom": "A"}, {"code_insee": "68294", "nom": "B"}],
        [box(x0, y0, x0 + split, y0 + 2000), box(x0 + split, y0, x0 + 4000, y0 + 2000)]), **w)
    cuts = np.sort(rng.uniform(200, 1800, 2))
    store.write("strates", frame(
        [{"id": s, "strate": s} for s in ("ligne_de_vie", "terrasses", "hauts")],
        [box(x0, y0 + a, x0 + 4000, y0 + b) for a, b in
         zip((0, *cuts), (*cuts, 2000), strict=True)]), **w)
    cells = rng.choice(32, size=n_sectors, replace=False)
    store.write("secteurs_ort", frame(
        [{"id": f"S{k}", "nom": f"Secteur {k}", "type": "quartier"} for k in range(n_sectors)],
        [box(x0 + 500 * (c % 8), y0 + 500 * (c // 8), x0 + 500 * (c % 8) + 500,
             y0 + 500 * (c // 8) + 500) for c in cells]), **w)
    px, py = rng.uniform(0, 4000, n_buildings), rng.uniform(0, 2000, n_buildings)
    dwellings = rng.integers(0, 6, n_buildings)
    vacant = np.minimum(dwellings, rng.integers(0, 3, n_buildings))
    start = np.where(vacant > 0, rng.integers(2010, 2027, n_buildings), 0).astype(object)
    start[vacant == 0] = None
    etat = rng.choice(np.array(["bon", "moyen", "degrade", "tres_degrade"], dtype=object),
                      n_buildings)
    store.write("batiments", frame(
        [{"id": f"b{k}", "nb_logements": int(d), "nb_logements_vacants": int(v),
          "annee_debut_vacance": s, "etat": e, "habitat_indigne": bool(rng.random() < 0.05),
          "rdc_vacant": bool(rng.random() < 0.05)}
         for k, (d, v, s, e) in enumerate(zip(dwellings, vacant, start, etat, strict=True))],
        [box(x0 + x - 4, y0 + y - 4, x0 + x + 4, y0 + y + 4) for x, y in
         zip(px, py, strict=True)]), **w)
    # dwellings known only from a LOVAC-like file: staff-only points, out of the public release
    from shapely.geometry import Point

    from ort_geo.privacy import RESTRICTED_SOURCES

    k = int(rng.integers(1, 6))
    store.write("batiments", frame(
        [{"id": f"lovac-{j}", "nb_logements_vacants": int(rng.integers(1, 4)),
          "annee_debut_vacance": 2015, "source": RESTRICTED_SOURCES[0]} for j in range(k)],
        [Point(x0 + rng.uniform(0, 4000), y0 + rng.uniform(0, 2000)) for _ in range(k)]), **w)
    return store


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), n_buildings=st.integers(20, 150),
       n_sectors=st.integers(1, 6))
def test_randomised_stores_pass_the_audit(tmp_path, seed, n_buildings, n_sectors):
    store = _random_store(tmp_path / f"r{seed}-{n_buildings}-{n_sectors}.gpkg", seed,
                          n_buildings, n_sectors)
    release = public_release(store)
    assert int(release.tables["communes"].iloc[-1]["batiments"]) == n_buildings
    for table in release.tables.values():
        for column in set(restricted_columns()) - set(COVERAGE):  # complete coverage is shown
            for value in table[column]:
                assert not (isinstance(value, (int, np.integer)) and 1 <= value <= 10)
    report = audit_store(store)
    assert report.ok, report.failures


# -- every public channel publishes the release ---------------------------------------------------

def test_api_map_and_atlas_publish_the_release(demo_store, demo_store_path, tmp_path):
    import re

    from fastapi.testclient import TestClient
    from test_webmap import _geojson_layers

    from api import create_app
    from ort_geo.atlas_plan import format_stat, plan_atlas
    from ort_geo.stats import BY_NAME
    from ort_geo.webmap import public_map

    release = public_release(demo_store)
    masked = {(c, layer, zone) for c, layer, zone in release.primary | release.secondary}
    with TestClient(create_app(str(demo_store_path))) as client:
        for layer, table in release.tables.items():
            body = client.get(f"/collections/{layer}/stats").json()
            assert body["annee_reference"] == release.year and body["secret_statistique"]
            for row, (_, expected) in zip(body["statistiques"], table.iterrows(), strict=True):
                for column in restricted_columns():
                    value = expected[column]
                    assert row[column] == (value if isinstance(value, str) else
                                           None if pd.isna(value) else int(value))
        # another year: staff only (a difference between two years would reveal)
        other = client.get("/collections/communes/stats", params={"annee": release.year - 1})
        assert other.status_code == 401 and "réservées aux agents habilités" in other.text
    # public map: the sector popups carry the release's figures
    html = tmp_path / "carte.html"
    public_map(demo_store).save(str(html))
    popups = {}
    for collection in _geojson_layers(html.read_text(encoding="utf-8")):
        for feature in collection["features"]:
            if "_stats" in feature["properties"]:
                popups[str(feature["id"])] = dict(feature["properties"]["_stats"])
    sectors = release.tables["secteurs_ort"].set_index("id")
    checked = 0
    for fid in sectors.index[:-1]:
        for column in ("logements_vacants", "habitat_indigne", "batiments_degrades"):
            shown = popups[fid][BY_NAME[column].label]
            if (column, "secteurs_ort", fid) in masked:
                assert shown == MASK
            else:
                assert re.sub(r"\D", "", shown) == str(int(sectors.at[fid, column]))
            checked += 1
    assert checked and any(v == MASK for p in popups.values() for v in p.values())
    # public atlas: every stats line is the release's value, formatted
    plan = plan_atlas(demo_store, edition="public")
    assert plan.date.year == release.year
    table = release.tables["secteurs_ort"].set_index("id")
    for page in plan.sectors:
        for line in page.stats:
            value = table.at[page.feature_id, line.key]
            assert line.value == format_stat(None if value is pd.NA else value,
                                             BY_NAME[line.key].kind), (page.name, line.key)
        # public facts are never masked: the actions listed match the figure shown
        shown = {line.key: line.value for line in page.stats}
        assert shown["actions"] != MASK


def test_audit_reads_a_running_api_as_anyone(demo_store_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = str(Path(sys.executable).with_name("ort-geo"))
    proc = subprocess.Popen([exe, "serve", "--store", str(demo_store_path), "--port", str(port),
                             "--workers", "1"],  # one process is enough to be read
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/conformance", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        res = subprocess.run([exe, "secret", "verifier", "--api", url], capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "Secret statistique vérifié" in res.stdout
    finally:
        proc.terminate()
        proc.wait(15)


def test_stores_leave_out_restricted_records_on_both_backends(store):
    import geopandas as gpd
    from shapely.geometry import Point

    from ort_geo.privacy import RESTRICTED_SOURCES, public_where

    frame = gpd.GeoDataFrame(
        {"id": ["a", "b", "lovac-x"], "source": [None, "BD TOPO", RESTRICTED_SOURCES[0]]},
        geometry=[Point(1_000_000 + k, 6_790_000) for k in range(3)], crs="EPSG:2154")
    store.write("batiments", frame, author="test")
    where = public_where("batiments")
    assert sorted(store.read("batiments", where=where)["id"]) == ["a", "b"]
    assert store.count("batiments", where=where) == 2
    assert store.read("batiments", ids=["lovac-x"], where=where).empty
    # asking for the restricted source by name finds nothing
    assert store.count("batiments", where=public_where("batiments", {
        "source": RESTRICTED_SOURCES[0]})) == 0
    assert len(store.read("batiments")) == 3  # staff reads everything


def test_reading_back_from_something_that_is_not_an_ort_geo_api_is_a_french_error(tmp_path):
    """A bad address, a closed port, a 404 or another service's JSON: one French line each
    (`ort-geo secret verifier --api`), never a traceback."""
    import functools
    import socket
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from ort_geo.errors import InputError
    from ort_geo.secrecy import public_outputs_from_api

    other = tmp_path / "collections" / "communes"
    other.mkdir(parents=True)
    (other / "stats").write_text('{"type": "autre service"}', encoding="utf-8")
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    with socket.socket() as probe:  # a port nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for url, message in (("notaurl", "Adresse d'API invalide"),
                             (f"http://127.0.0.1:{closed}", "connexion refusée"),
                             (f"{base}/ailleurs", "réponse HTTP 404"),
                             (base, "ne répond pas comme une API ort-geo")):
            with pytest.raises(InputError, match=message):
                public_outputs_from_api(url, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
