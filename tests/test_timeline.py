"""ort_geo.timeline: the store at a date equals a brute-force replay of its journal, on both
backends (real writes; only the clock the store stamps entries with is set by the test)."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from ort_geo import Feature
from ort_geo.errors import FeatureNotFoundError, InputError, StoreError
from ort_geo.stats import sector_stats
from ort_geo.store import base as store_base
from ort_geo.timeline import (
    changes,
    feature_at,
    feature_version,
    layer_at,
    parse_when,
    store_at,
    versions,
)

X0, Y0 = 1_010_000.0, 6_800_000.0


def _sector(fid: str, nom: str, x: float, width: float = 500.0, **props) -> dict:
    return {"id": fid, "nom": nom, "type": props.pop("type", "quartier"), **props,
            "geometry": shapely.box(X0 + x, Y0, X0 + x + width, Y0 + 500)}


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:2154")


def _building(i: int, x: float, vacant: int = 0) -> dict:
    return {"id": f"B{i}", "nb_logements": 3, "nb_logements_vacants": vacant,
            "geometry": shapely.box(X0 + x, Y0 + 100, X0 + x + 10, Y0 + 110)}


def _clock(monkeypatch):
    """Set the instant the store stamps its journal entries with."""
    now = {"t": "2024-01-01T00:00:00.000+00:00"}
    monkeypatch.setattr(store_base, "_now", lambda: now["t"])

    def set_(text: str) -> None:
        now["t"] = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).isoformat(
            timespec="milliseconds")
    return set_


@pytest.fixture(scope="module")
def history_store(backend, tmp_path_factory, request):
    """A store with three years of history: creations, edits, deletions, a re-creation (built
    once per backend; tests only read it)."""
    from ort_geo import open_store

    if backend == "gpkg":
        store = open_store(tmp_path_factory.mktemp("history") / "history.gpkg", create=True)
    else:
        store = open_store(request.getfixturevalue("postgis_schema_url")(), create=True)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _fill(store, _clock(monkeypatch))
    yield store
    store.close()


def _fill(store, clock) -> None:
    clock("2023-03-01T09:00")
    store.write("secteurs_ort", _frame([_sector("s1", "Centre", 0, type="centre_ville_principal"),
                                        _sector("s2", "Halles", 1000)]), author="build")
    store.write("batiments", _frame([_building(i, 50 * i, vacant=i % 2) for i in range(30)]),
                author="build")
    clock("2023-11-15T14:30")
    store.update("secteurs_ort", "s1", {"nom": "Centre-ville"}, author="alice",
                 message="délibération du 15 novembre 2023")
    clock("2024-06-30T23:59:59")
    store.write("secteurs_ort", _frame([_sector("s1", "Centre-ville", 0, width=700,
                                                type="centre_ville_principal"),
                                        _sector("s3", "Gare", 2000)]),
                author="bob", mode="replace", message="révision du périmètre")
    store.write("batiments", _frame([_building(i, 50 * i, vacant=2) for i in range(0, 30, 3)]),
                author="lovac")
    clock("2025-02-10T08:00")
    store.delete("batiments", "B4", author="alice")
    store.create("secteurs_ort", Feature.from_record(
        {"id": "s2", "properties": {"nom": "Halles (rétablies)", "type": "quartier"},
         "geometry": shapely.to_wkt(shapely.box(X0 + 1000, Y0, X0 + 1300, Y0 + 500))}),
        author="alice", message="retour des Halles")
    clock("2025-12-31T12:00")
    store.update("secteurs_ort", "s3", {"nom": "Gare SNCF"}, author="bob")
    store.update("secteurs_ort", "s3", {"nom": "Gare"}, author="bob")  # and back


def _replay(store, layer: str, when) -> dict[str, dict]:
    """Brute force: from an empty layer, apply every journal entry up to ``when``."""
    instant = parse_when(when)
    entries = [e for e in store.journal(layer=layer)
               if dt.datetime.fromisoformat(e.timestamp) <= instant]
    state: dict[str, dict] = {}
    for e in sorted(entries, key=lambda e: (dt.datetime.fromisoformat(e.timestamp), e.seq)):
        if e.after is None:
            state.pop(e.feature_id, None)
        else:
            state[e.feature_id] = e.after.to_record()
    return state


def _records(store, layer: str, frame: gpd.GeoDataFrame) -> dict[str, dict]:
    from ort_geo.store.base import iter_features

    return {f.id: f.to_record() for f in iter_features(store.spec(layer), frame)}


DATES = ["2023-01-01", "2023-03-01", "2023-11-15T14:29", "2023-11-15", "2024-06-30",
         "2024-07-01", "2025-02-10", "31/12/2025", "2025-12-31T12:00", None]


@pytest.mark.parametrize("layer", ["secteurs_ort", "batiments"])
def test_layer_at_equals_replay(history_store, layer):
    for when in DATES:
        frame = layer_at(history_store, layer, when)
        assert list(frame.columns) == list(history_store.read(layer).columns)
        assert _records(history_store, layer, frame) == _replay(history_store, layer, when), when
        # The snapshot store gives the same layer, and filters like the backends.
        snap = store_at(history_store, when)
        assert _records(history_store, layer, snap.read(layer)) == _replay(history_store, layer,
                                                                           when)
    assert layer_at(history_store, "secteurs_ort", "2023-01-01").empty
    now = history_store.read("batiments")
    assert _records(history_store, "batiments", layer_at(history_store, "batiments", None)) == \
        _records(history_store, "batiments", now)


def test_snapshot_reads_filter_and_type_like_the_store(history_store):
    snap = store_at(history_store, "2024-01-01")
    full = snap.read("secteurs_ort")
    assert full["id"].tolist() == ["s1", "s2"]
    assert full["nom"].tolist() == ["Centre-ville", "Halles"]
    assert snap.read("secteurs_ort", ids=["s2"])["nom"].tolist() == ["Halles"]
    assert snap.read("secteurs_ort", where={"nom": "Centre-ville"}, columns=["type"]).columns \
        .tolist() == ["id", "type", "geometry"]
    assert snap.count("secteurs_ort", where={"type": "quartier"}) == 1
    box = (X0 + 1100, Y0, X0 + 1200, Y0 + 10)
    assert snap.read("secteurs_ort", bbox=box)["id"].tolist() == ["s2"]
    assert snap.extent("secteurs_ort") == pytest.approx((X0, Y0, X0 + 1500, Y0 + 500))
    assert [e.author for e in snap.history("secteurs_ort", "s1")] == ["build", "alice"]
    assert all(e.timestamp < "2024" for e in snap.journal())
    # B4 was deleted in 2025: it is there at the start of 2025, typed as the store types it.
    for when in DATES:
        at = store_at(history_store, when)
        for layer in ("secteurs_ort", "batiments"):
            assert at.count(layer) == len(_replay(history_store, layer, when)), (when, layer)
    b4 = store_at(history_store, "2025-01-01").read("batiments", ids=["B4"])
    assert b4["nb_logements_vacants"].tolist() == [0]
    assert str(b4["nb_logements_vacants"].dtype) == "Int64"
    with pytest.raises(StoreError, match="se consulte"):
        snap.write("secteurs_ort", full, author="x")


def test_stats_at_a_date_equal_stats_of_the_replayed_store(history_store, new_store, backend):
    when = "2024-12-31"
    replayed = new_store(backend, "replayed")
    for layer in ("secteurs_ort", "batiments"):
        state = _replay(history_store, layer, when)
        features = [Feature.from_record(r) for r in state.values()]
        from ort_geo.timeline import records_frame

        replayed.write(layer, records_frame(replayed, layer, features), author="replay")
    at = sector_stats(store_at(history_store, when), "secteurs_ort", reference_year=2024)
    expected = sector_stats(replayed, "secteurs_ort", reference_year=2024)
    cols = ["id", "surface_ha", "batiments", "logements", "logements_vacants"]
    pd.testing.assert_frame_equal(at[cols].sort_values("id").reset_index(drop=True),
                                  expected[cols].sort_values("id").reset_index(drop=True))
    # B0..B13 lie in s1 (700 m wide): 2 vacant in B0, B3, B6, B9, B12, 1 in the other odd ones.
    assert at.set_index("id").loc["s1", "logements_vacants"] == 15


def test_versions_and_feature_at(history_store):
    found = versions(history_store, "secteurs_ort", "s2")
    assert [(v.number, v.operation, v.author) for v in found] == [
        (1, "insert", "build"), (2, "delete", "bob"), (3, "insert", "alice")]
    assert found[1].deleted and found[1].before.properties["nom"] == "Halles"
    assert found[2].message == "retour des Halles"
    assert found[2].etag == history_store.get("secteurs_ort", "s2").etag
    assert feature_version(history_store, "secteurs_ort", "s2", 1).feature.properties["nom"] \
        == "Halles"
    with pytest.raises(FeatureNotFoundError, match="versions 1 à 3"):
        feature_version(history_store, "secteurs_ort", "s2", 4)
    with pytest.raises(FeatureNotFoundError, match="Aucune version"):
        feature_version(history_store, "secteurs_ort", "nope", 1)
    assert feature_at(history_store, "secteurs_ort", "s2", "2024-12-31") is None
    assert feature_at(history_store, "secteurs_ort", "s1", "2023-06-01").properties["nom"] \
        == "Centre"
    assert feature_at(history_store, "secteurs_ort", "s1", "2022-01-01") is None


def test_changes_between_two_dates(history_store):
    found = changes(history_store, "2023-12-31", "2025-12-31")
    kinds = {(c.layer, c.feature_id): c.kind for c in found}
    assert kinds[("secteurs_ort", "s1")] == "update"
    assert kinds[("secteurs_ort", "s3")] == "insert"
    assert kinds[("batiments", "B4")] == "delete"
    assert kinds[("batiments", "B3")] == "update"
    assert ("batiments", "B1") not in kinds  # untouched
    assert ("secteurs_ort", "s2") in kinds  # deleted then re-created with another shape
    # s3 renamed then renamed back within 2025: no net change in 2025.
    late = changes(history_store, "2025-06-01", "2025-12-31", layers=["secteurs_ort"])
    assert late == []
    assert {c.authors[0] for c in found if c.layer == "secteurs_ort"} <= {"bob", "alice"}
    with pytest.raises(InputError, match="précède"):
        changes(history_store, "2025-01-01", "2024-01-01")


@pytest.mark.parametrize("text", ["2025-13-01", "demain", "32/01/2025"])
def test_bad_dates_are_french_input_errors(text):
    with pytest.raises(InputError, match="Date invalide"):
        parse_when(text)


def test_dates_mean_the_end_of_the_day_in_paris():
    # 31 December ends at 23:00 UTC in Paris (winter time); 30 June at 22:00 UTC (summer).
    assert parse_when("2025-12-31") == dt.datetime(2025, 12, 31, 22, 59, 59, 999999,
                                                   tzinfo=dt.UTC)
    assert parse_when("2025-06-30") == dt.datetime(2025, 6, 30, 21, 59, 59, 999999,
                                                   tzinfo=dt.UTC)
    assert parse_when("31/12/2025") == parse_when(dt.date(2025, 12, 31))
    assert parse_when("2025-12-31T10:00") == dt.datetime(2025, 12, 31, 9, tzinfo=dt.UTC)
    assert parse_when("2025-12-31T10:00Z") == dt.datetime(2025, 12, 31, 10, tzinfo=dt.UTC)
    assert parse_when("2025-12-31T10:00+01:00") == dt.datetime(2025, 12, 31, 9, tzinfo=dt.UTC)
