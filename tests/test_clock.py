"""Every "today" of the tool is Europe/Paris, explicitly (issue 11, point 7)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

from click.testing import CliRunner

from ort_geo import clock


def test_paris_not_utc_nor_local_zone():
    # 23:30 UTC on 31 December is already New Year's Day in Paris.
    stamp = "2025-12-31T23:30:00+00:00"
    assert clock.local(stamp).date() == dt.date(2026, 1, 1)
    assert clock.format_timestamp(stamp) == "01/01/2026 à 00:30:00 (heure de Paris)"
    assert clock.local("2025-07-01T12:00:00").hour == 14  # naive means UTC; summer time
    # today() ignores the process' zone (TZ): the same answer in Tokyo and Los Angeles.
    code = "from ort_geo import clock; print(clock.today(), clock.now().utcoffset())"
    answers = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "TZ": tz}, check=True).stdout
               for tz in ("Asia/Tokyo", "America/Los_Angeles", "UTC")}
    assert len(answers) == 1
    assert str(clock.today()) in answers.pop()


def test_reference_year_and_atlas_date_are_paris(zones_store_gpkg, monkeypatch):
    zones_store = zones_store_gpkg
    from ort_geo.atlas_plan import atlas_date
    from ort_geo.stats import sector_stats

    assert sector_stats(zones_store, "strates").attrs["reference_year"] == clock.today().year
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767223800")  # 2025-12-31 23:30 UTC
    date = atlas_date(zones_store)
    assert (date.year, date.month, date.day) == (2026, 1, 1)
    assert date.utcoffset() == dt.timedelta(hours=1)


def test_history_shows_paris_time(tmp_path):
    import geopandas as gpd
    import shapely

    from ort_geo import open_store
    from ort_geo.cli import main

    path = tmp_path / "s.gpkg"
    with open_store(path, create=True) as st:
        st.write("secteurs_ort", gpd.GeoDataFrame(
            [{"id": "s1", "nom": "Centre", "type": "quartier"}],
            geometry=[shapely.box(1e6, 6.79e6, 1.001e6, 6.791e6)], crs=2154), author="alice")
        stamp = st.history("secteurs_ort", "s1")[0].timestamp
    out = CliRunner().invoke(main, ["history", "secteurs_ort", "s1", "--store", str(path)]).output
    assert clock.format_timestamp(stamp) in " ".join(out.split())
    assert "heure de Paris" in out
