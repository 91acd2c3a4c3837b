"""The two backends give the same answers: the demo store copied to PostGIS and back is
identical, and statistics and perimeter queries agree to the last digit."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely

from ort_geo.copy import copy_store, store_digest
from ort_geo.perimeter import polygon_layers
from ort_geo.query import buildings_within
from ort_geo.stats import sector_stats

pytestmark = pytest.mark.postgis


def _frames_equal(left, right) -> None:
    pd.testing.assert_frame_equal(left.drop(columns="geometry"), right.drop(columns="geometry"))
    assert shapely.to_wkb(left.geometry.values).tolist() == \
        shapely.to_wkb(right.geometry.values).tolist()


def test_demo_store_to_postgis_and_back_is_identical(demo_store, demo_store_postgis, new_store):
    back = new_store("gpkg", "retour")
    report = copy_store(demo_store_postgis, back)
    assert report.ok and report.before.layers["batiments"].count > 100
    for name in demo_store.layer_names():
        _frames_equal(demo_store.read(name), back.read(name))
        _frames_equal(demo_store.read(name), demo_store_postgis.read(name))
    assert store_digest(back).fingerprint == store_digest(demo_store).fingerprint
    assert demo_store.get_meta("territory") == back.get_meta("territory") != {}


@pytest.mark.parametrize("public", [False, True], ids=["staff", "public"])
def test_statistics_agree(demo_store, demo_store_postgis, public):
    layers = polygon_layers(demo_store)
    assert "secteurs_ort" in layers
    for layer in layers:
        if not demo_store.count(layer):
            continue
        gpkg = sector_stats(demo_store, layer, public=public, reference_year=2026)
        pg = sector_stats(demo_store_postgis, layer, public=public, reference_year=2026)
        pd.testing.assert_frame_equal(gpkg, pg)


def test_perimeter_queries_agree(demo_store, demo_store_postgis):
    sector = demo_store.read("secteurs_ort")["id"].iloc[0]
    xmin, ymin, xmax, ymax = demo_store.extent("batiments")
    drawn = shapely.box(xmin, ymin, (xmin + xmax) / 2, (ymin + ymax) / 2)
    cases = [
        dict(within=f"secteurs_ort:{sector}"),
        dict(within="secteurs_ort", vacant=True),
        dict(within=drawn, etat=["degrade", "tres_degrade"]),
        dict(within=None, built_to=1950, public=True),
        dict(within="permis_de_louer", long_term_vacant=True, reference_year=2026),
    ]
    for case in cases:
        _frames_equal(buildings_within(demo_store, **case),
                      buildings_within(demo_store_postgis, **case))
    assert len(buildings_within(demo_store_postgis, f"secteurs_ort:{sector}")) > 0
