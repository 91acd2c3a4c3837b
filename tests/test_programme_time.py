"""Statistics as of a date equal a brute-force replay of the journal (both backends), changes
between two dates, the CLI and the API (staff only), on the demo store's seeded history."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

from ort_geo import open_store
from ort_geo.cli import main
from ort_geo.errors import AccessDeniedError
from ort_geo.stats import sector_stats, stats_at, stats_between
from ort_geo.store.base import features_to_frame
from ort_geo.timeline import parse_when

DATES = ["2024-06-30", "2025-12-31"]  # before and after the perimeter revision


def _replayed_store(store, when, path):
    """A new store holding, for each layer, the features obtained by replaying every journal
    entry up to ``when`` from nothing (no timeline code involved)."""
    instant = parse_when(when)
    state: dict[str, dict[str, object]] = {}
    for entry in sorted(store.journal(), key=lambda e: (pd.Timestamp(e.timestamp), e.seq)):
        if pd.Timestamp(entry.timestamp) > pd.Timestamp(instant):
            continue
        layer = state.setdefault(entry.layer, {})
        if entry.after is None:
            layer.pop(entry.feature_id, None)
        else:
            layer[entry.feature_id] = entry.after
    replay = open_store(path, create=True)
    for name, features in state.items():
        spec = replay.spec(name)
        if features:
            frame = features_to_frame(spec, list(features.values()))
            replay.write(name, gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:2154"),
                         author="replay", mode="insert")
    replay.set_meta("territory", store.get_meta("territory"))
    return replay


def _same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    ours = ours.sort_values("id").reset_index(drop=True)
    theirs = theirs.sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, check_exact=False, rtol=1e-9)


@pytest.fixture(scope="module")
def history_store(demo_store, backend, request):
    if backend == "postgis":
        return request.getfixturevalue("postgis_copy")(demo_store)
    return demo_store


@pytest.mark.parametrize("when", DATES)
def test_stats_at_a_date_equal_a_brute_force_replay(history_store, when, tmp_path):
    replay = _replayed_store(history_store, when, tmp_path / "replay.gpkg")
    year = int(when[:4])
    for layer in ("secteurs_ort", "communes"):
        ours = stats_at(history_store, layer, when)
        _same(ours, sector_stats(replay, layer, reference_year=year))
    # A past state is never a public release (one per store, ort_geo.secrecy).
    with pytest.raises(AccessDeniedError, match="agents habilités"):
        stats_at(history_store, "secteurs_ort", when, public=True)


def test_the_history_moves_the_figures(history_store):
    first = stats_at(history_store, "secteurs_ort", "2023-07-13").set_index("id")
    last = stats_at(history_store, "secteurs_ort", "2025-12-31").set_index("id")
    # the revised sector grew, vacancy fell in the centres
    assert last.loc["smam-centre-ville", "surface_ha"] > first.loc["smam-centre-ville",
                                                                    "surface_ha"]
    assert last.loc["territoire", "logements_vacants"] < first.loc["territoire",
                                                                   "logements_vacants"]
    changes = stats_between(history_store, "secteurs_ort", "2023-07-13", "2025-12-31")
    row = changes[(changes["id"] == "territoire") & (changes["statistique"] == "logements_vacants")]
    assert row["evolution"].iloc[0] == (last.loc["territoire", "logements_vacants"]
                                        - first.loc["territoire", "logements_vacants"])


def test_cli_stats_au_and_depuis(demo_store_path, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["stats", "secteurs_ort", "--au", "2024-06-30", "--format", "json",
                                  "--store", str(demo_store_path)])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.output)}
    replay = _replayed_store(open_store(demo_store_path), "2024-06-30", tmp_path / "r.gpkg")
    expected = sector_stats(replay, "secteurs_ort", reference_year=2024).set_index("id")
    assert rows["territoire"]["logements_vacants"] == expected.loc["territoire",
                                                                   "logements_vacants"]
    result = runner.invoke(main, ["stats", "secteurs_ort", "--depuis", "01/01/2024", "--au",
                                  "2025-12-31", "--store", str(demo_store_path)])
    assert result.exit_code == 0, result.output
    assert "Évolution — secteurs_ort du 01/01/2024 au 31/12/2025" in result.output
    # The CSV shows what the table shows: whole counts and euros, rates to 0.1, areas and
    # lengths to 0.01 — not a float's 16 digits.
    out = tmp_path / "evolutions.csv"
    result = runner.invoke(main, ["stats", "secteurs_ort", "--depuis", "01/01/2024", "--au",
                                  "2025-12-31", "--format", "csv", "-o", str(out),
                                  "--store", str(demo_store_path)])
    assert result.exit_code == 0, result.output
    csv = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    changes = stats_between(open_store(demo_store_path), "secteurs_ort", "2024-01-01",
                            "2025-12-31")
    assert len(csv) == len(changes)
    decimals = {"surface_ha": 2, "km_mobilites_existantes": 2, "taux_vacance": 1,
                "batiments": 0, "cout_total": 0}
    for code, places in decimals.items():
        rows = csv["Code"] == code
        want = changes[changes["statistique"] == code]
        for column, name in (("Au 01/01/2024", "depuis"), ("Au 31/12/2025", "au"),
                             ("Évolution", "evolution")):
            for text, value in zip(csv.loc[rows, column], want[name], strict=True):
                if value is None or value != value:
                    assert text == "", (code, text)
                    continue
                _, _, fraction = text.partition(",")
                assert len(fraction) <= max(places, 1) and (places or not fraction), (code, text)
                assert float(text.replace(",", ".")) == round(value, places), (code, text)
    for bad in (["--depuis", "2024-01-01", "--public"], ["--au", "31/13/2024"],
                ["--au", "2024-06-30", "--public"],
                ["--depuis", "2025-01-01", "--au", "2024-01-01"]):
        result = runner.invoke(main, ["stats", "secteurs_ort", *bad,
                                      "--store", str(demo_store_path)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output


def test_api_stats_at_a_date_is_for_staff(demo_store_copy):
    from fastapi.testclient import TestClient

    from api import create_app
    from ort_geo import auth

    store = demo_store_copy
    key = auth.create_key(store, "Anah 68", "staff")
    with TestClient(create_app(store.url)) as client:
        assert client.get("/collections/secteurs_ort/stats?au=2024-06-30").status_code == 401
        staff = {"X-API-Key": key}
        answer = client.get("/collections/secteurs_ort/stats?au=2024-06-30", headers=staff)
        assert answer.status_code == 200, answer.text
        rows = {r["id"]: r for r in answer.json()["statistiques"]}
        expected = stats_at(store, "secteurs_ort", "2024-06-30").set_index("id")
        assert rows["smam-centre-ville"]["logements"] == expected.loc["smam-centre-ville",
                                                                      "logements"]
        changes = client.get("/collections/secteurs_ort/stats?depuis=2024-01-01&au=2025-12-31",
                             headers=staff)
        assert changes.status_code == 200 and changes.json()["depuis"] == "2024-01-01"
        assert client.get("/collections/secteurs_ort/stats?au=demain",
                          headers=staff).status_code == 400
