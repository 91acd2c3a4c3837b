"""Real clients against a live server on 127.0.0.1: GDAL's OGC API driver, OWSLib, schemathesis,
and the ``ort-geo serve`` / ``ort-geo apikey`` commands."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyogrio
import pytest
import schemathesis
from conftest import free_port, serve
from conftest_api import N_BUILDINGS, SECRET, X0, Y0, build_store
from hypothesis import HealthCheck, settings

from ort_geo.catalogue import CATALOGUE


def test_gdal_ogc_api_driver_lists_and_reads_collections(live_server, keys):
    assert "OAPIF" in pyogrio.list_drivers()
    layers = dict(pyogrio.list_layers(f"OAPIF:{live_server}"))
    # every layer with a geometry (tables without one are edited, not listed: OGC core)
    assert {spec.name for spec in CATALOGUE if spec.spatial} <= set(layers)
    sectors = pyogrio.read_dataframe(f"OAPIF:{live_server}", layer="secteurs_ort")
    assert {"centre", "halles"} <= set(sectors["id"])
    # GDAL speaks Part 2: it asks for the storage CRS (Lambert-93) and gets exact coordinates.
    assert sectors.crs.to_epsg() == 2154
    assert sectors.total_bounds.tolist() == [X0, Y0, X0 + 1500, Y0 + 500]
    wgs84 = pyogrio.read_dataframe(f"OAPIF:{live_server}", layer="secteurs_ort", crs="EPSG:4326")
    assert wgs84.crs.is_geographic
    assert 7.0 < wgs84.total_bounds[0] < 7.4 and 48.1 < wgs84.total_bounds[1] < 48.4
    buildings = pyogrio.read_dataframe(f"OAPIF:{live_server}", layer="batiments")
    assert len(buildings) == N_BUILDINGS  # GDAL pages through every item
    assert not set(CATALOGUE["batiments"].private_fields) & set(buildings.columns)
    # The key as an HTTP Basic password, as QGIS and GDAL's USERPWD send it.
    staff = pyogrio.read_dataframe(f"OAPIF:{live_server}", layer="batiments",
                                   where="etat = 'degrade'", USERPWD=f"anah:{keys['staff']}")
    assert len(staff) == 20 and (staff["proprietaire_type"] == SECRET).all()


def test_owslib_pages_through_items(live_server):
    from owslib.ogcapi.features import Features

    api = Features(live_server)
    assert "batiments" in [c["id"] for c in api.collections()["collections"]]
    assert api.conformance()["conformsTo"]
    ids, offset = [], 0
    while True:
        page = api.collection_items("batiments", limit=17, offset=offset)
        ids += [f["id"] for f in page["features"]]
        assert page["numberMatched"] == N_BUILDINGS
        if not any(link["rel"] == "next" for link in page["links"]):
            break
        offset += 17
    assert len(ids) == len(set(ids)) == N_BUILDINGS
    item = api.collection_item("secteurs_ort", "centre")
    assert item["properties"]["nom"] == "Centre-ville"
    queryables = api.collection_queryables("batiments")
    assert "etat" not in queryables["properties"] and "nb_logements" in queryables["properties"]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    """A separate store and server for schemathesis, which may edit it at random."""
    import threading

    import uvicorn

    from api import create_app
    from ort_geo import auth

    st = build_store(tmp_path_factory.mktemp("fuzz") / "atlas.gpkg")
    key = auth.create_key(st, "fuzz", "editor")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(st.url), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", key
    server.should_exit = True
    thread.join(10)


def test_schemathesis_finds_no_server_error(fuzz_server):
    """Every operation of /api, fed valid and invalid data, anonymously and as an editor."""
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    url, key = fuzz_server
    schema = schemathesis.openapi.from_url(f"{url}/api")
    errors: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    def fuzz(operation, mode, headers) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=3, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(headers=headers, timeout=30)
            if response.status_code >= 500:
                errors.append(f"{response.status_code} {case.as_curl_command()}\n"
                              f"{response.text[:300]}")
        try:
            run()
        except Unsatisfiable:  # no parameter to make invalid (e.g. GET /conformance)
            assert mode == GenerationMode.NEGATIVE

    for number, operation in enumerate(operations):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, {"X-API-Key": key} if number % 2 else {})
    assert not errors, "\n".join(errors[:5])


def test_cli_apikey_and_serve(tmp_path):
    from click.testing import CliRunner

    from ort_geo.cli import main

    path = tmp_path / "atlas.gpkg"
    build_store(path)
    runner = CliRunner()
    created = runner.invoke(main, ["apikey", "create", "Agent Anah", "--role", "staff",
                                   "--store", str(path)])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()  # alone on stdout, for scripts
    assert "ne sera plus affichée" in " ".join(created.stderr.split())
    assert key not in path.read_bytes().decode("latin-1")  # only its hash is stored
    listed = runner.invoke(main, ["apikey", "list", "--store", str(path)])
    assert "Agent Anah" in listed.stdout and key not in listed.stdout
    with serve(path) as url:
        staff = httpx.get(f"{url}/collections/batiments/items?etat=bon", headers={"X-API-Key": key})
        assert staff.status_code == 200 and staff.json()["numberMatched"] == 20
        assert httpx.get(f"{url}/collections/batiments/items?etat=bon").status_code == 401
        revoked = runner.invoke(main, ["apikey", "revoke", "Agent Anah", "--store", str(path)])
        assert revoked.exit_code == 0 and "révoquée" in revoked.stdout
        again = httpx.get(f"{url}/collections/batiments/items", headers={"X-API-Key": key})
        assert again.status_code == 401


def test_serve_refuses_a_missing_store(tmp_path: Path):
    result = subprocess.run([str(Path(sys.executable).with_name("ort-geo")), "serve", "--store",
                             str(tmp_path / "absent.gpkg")], capture_output=True, text=True)
    assert result.returncode == 2 and "introuvable" in result.stderr
