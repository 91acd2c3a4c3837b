"""Statistical secrecy that survives subtraction: the public release, its audit, every channel."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

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
    for layer in release.tables:
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
