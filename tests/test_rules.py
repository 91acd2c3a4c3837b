"""ort_geo.rules and ``ort-geo validate``: L303-2, topology, action ties."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from ort_geo.cli import main
from ort_geo.errors import CRSError
from ort_geo.rules import candidate_layer, ensure_valid, errors, format_report, validate


def _rules(violations):
    return {(v.rule, v.layer, v.feature_id) for v in errors(violations)}


def test_demo_store_is_valid(demo_store):
    assert errors(validate(demo_store)) == []


def test_cli_validate_passes_on_the_demo_store(demo_store_path):
    result = CliRunner().invoke(main, ["validate", "--store", str(demo_store_path)])
    assert result.exit_code == 0, result.output
    assert "Validation réussie" in result.output


def test_removing_the_main_centre_fails_l303_2(demo_store_copy):
    demo_store_copy.delete("secteurs_ort", "smam-centre-ville", author="test")
    result = CliRunner().invoke(main, ["validate", "--store", demo_store_copy.url])
    assert result.exit_code == 1, result.output
    assert "L303-2" in result.output
    assert "Sainte-Marie-aux-Mines" in result.output and "Validation échouée" in result.output
    # Actions tied to the deleted sector are named too.
    assert "action-1.1" in result.output


def test_candidate_change_is_checked_before_commit(demo_store):
    sectors = candidate_layer(demo_store, "secteurs_ort", deletes=["smam-centre-ville"])
    found = validate(demo_store, overrides={"secteurs_ort": sectors})
    assert ("L303-2", "secteurs_ort", None) in _rules(found)
    try:
        ensure_valid(demo_store, overrides={"secteurs_ort": sectors})
    except ValueError as exc:
        assert "L303-2" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("ensure_valid should refuse")
    assert demo_store.count("secteurs_ort") == 4  # nothing written


def test_centre_typed_sector_must_hold_the_town_hall(demo_store):
    sectors = demo_store.read("secteurs_ort")
    main = sectors["id"] == "smam-centre-ville"
    sectors.loc[main, "geometry"] = sectors.loc[main].geometry.translate(-2500, 0).values
    found = validate(demo_store, overrides={"secteurs_ort": sectors}, layers=["secteurs_ort"])
    assert ("L303-2", "secteurs_ort", "smam-centre-ville") in _rules(found)
    assert "mairie" in format_report(found)


def test_sector_outside_the_epci_fails_l303_2(demo_store):
    sectors = demo_store.read("secteurs_ort")
    extra = sectors.iloc[[1]].copy()
    extra["id"] = "hors-epci"
    extra["geometry"] = [shapely.box(1030000, 6810000, 1031000, 6811000)]  # near Sélestat
    candidate = candidate_layer(demo_store, "secteurs_ort", upserts=extra)
    found = validate(demo_store, overrides={"secteurs_ort": candidate}, layers=["secteurs_ort"])
    assert ("L303-2", "secteurs_ort", "hors-epci") in _rules(found)
    extra["code_insee"] = "67462"  # Sélestat: not a member either
    candidate = candidate_layer(demo_store, "secteurs_ort", upserts=extra)
    found = validate(demo_store, overrides={"secteurs_ort": candidate}, layers=["secteurs_ort"])
    messages = [v.message for v in found if v.feature_id == "hors-epci"]
    assert any("67462" in m for m in messages) and len(messages) == 2


def test_overlap_sliver_and_invalid_geometry_are_named(demo_store):
    zones = demo_store.read("zones_activite")
    first = zones.geometry.iloc[0]
    overlap = zones.iloc[[0]].copy()
    overlap["id"] = "za-doublon"
    overlap["geometry"] = [first.buffer(-5)]
    sliver = zones.iloc[[0]].copy()
    sliver["id"] = "za-eclat"
    c = first.centroid
    sliver["geometry"] = [shapely.box(c.x + 2000, c.y, c.x + 2100, c.y + 0.3)]
    bowtie = zones.iloc[[0]].copy()
    bowtie["id"] = "za-noeud"
    bowtie["geometry"] = [shapely.Polygon([(c.x, c.y), (c.x + 50, c.y + 50), (c.x + 50, c.y),
                                           (c.x, c.y + 50)])]
    candidate = pd.concat([zones, overlap, sliver, bowtie], ignore_index=True)
    found = _rules(validate(demo_store, overrides={"zones_activite": candidate},
                            layers=["zones_activite"]))
    assert ("chevauchement", "zones_activite", "za-les-halles") in found
    assert ("eclat", "zones_activite", "za-eclat") in found
    assert ("geometrie", "zones_activite", "za-noeud") in found


def test_features_outside_the_territory_are_named(demo_store):
    shops = demo_store.read("commerces").iloc[:2].copy()
    shops["geometry"] = [shapely.Point(1030000, 6810000), shops.geometry.iloc[1]]
    found = _rules(validate(demo_store, overrides={"commerces": shops}, layers=["commerces"]))
    assert found == {("hors_territoire", "commerces", shops["id"].iloc[0])}


def test_actions_must_be_tied_to_a_sector_or_commune(demo_store):
    actions = demo_store.read("actions")
    actions.loc[0, "secteur_id"] = None
    actions.loc[0, "code_insee"] = None
    actions.loc[1, "secteur_id"] = "secteur-fantome"
    actions.loc[2, "code_insee"] = "67001"
    found = _rules(validate(demo_store, overrides={"actions": actions}, layers=["actions"]))
    ids = actions["id"]
    assert ("rattachement", "actions", ids[0]) in found
    assert ("rattachement", "actions", ids[1]) in found
    assert ("commune", "actions", ids[2]) in found


def test_official_sectors_replace_the_indicative_ones_in_one_command(demo_store_copy, tmp_path):
    """The documented replacement: `ort-geo import FILE --couche secteurs_ort --mode replace`."""
    official = demo_store_copy.read("secteurs_ort")
    official["geometry"] = official.geometry.buffer(-10)
    official["indicatif"] = False
    official["deliberation"] = "DCM 2023-07-07"
    official = official[official["id"] != "scam-les-halles"].to_crs(3948)
    path = tmp_path / "annexe2_secteurs.shp"
    official.drop(columns=["date_debut", "date_fin"]).to_file(path)
    runner = CliRunner()
    result = runner.invoke(main, ["import", str(path), "--couche", "secteurs_ort", "--mode",
                                  "replace", "--store", demo_store_copy.url])
    assert result.exit_code == 0, result.output
    sectors = demo_store_copy.read("secteurs_ort")
    assert len(sectors) == 3 and not sectors["indicatif"].any()
    result = runner.invoke(main, ["validate", "--store", demo_store_copy.url])
    assert result.exit_code == 0, result.output


def test_validate_a_candidate_file_before_importing_it(demo_store_path, tmp_path):
    from ort_geo import open_store

    sectors = open_store(demo_store_path).read("secteurs_ort")
    bad = sectors[sectors["id"] != "smam-centre-ville"].to_crs(4326)
    bad["type"] = "Quartier"  # a label, normalised as an import would
    path = tmp_path / "secteurs.geojson"
    bad.to_file(path)
    before = demo_store_path.read_bytes()
    result = CliRunner().invoke(main, ["validate", "--store", str(demo_store_path),
                                       "--candidat", f"secteurs_ort={path}"])
    assert result.exit_code == 1, result.output
    assert "L303-2" in result.output and "non importé" in result.output
    assert demo_store_path.read_bytes() == before
    result = CliRunner().invoke(main, ["validate", "--store", str(demo_store_path),
                                       "--candidat", f"inconnue={path}"])
    assert result.exit_code == 2 and "COUCHE=FICHIER" in result.output


def test_candidate_without_crs_is_refused(demo_store):
    sectors = demo_store.read("secteurs_ort").set_crs(None, allow_override=True)
    with pytest.raises(CRSError):
        validate(demo_store, overrides={"secteurs_ort": sectors})
