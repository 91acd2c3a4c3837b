"""CRS inference across metropolitan France, not only in the Val d'Argent."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from pyproj import CRS

from ort_geo.crs import CANDIDATES, check_declared, fits, infer_crs, resolve_crs
from ort_geo.errors import CRSError, SwappedAxesError

# lon, lat of town halls; the first six lie in CC48's band (47°N-49°N).
TOWNS = {
    "Sainte-Marie-aux-Mines": (7.1833, 48.2467), "Strasbourg": (7.7521, 48.5734),
    "Paris": (2.3522, 48.8566), "Rennes": (-1.6778, 48.1173), "Orléans": (1.9093, 47.9030),
    "Nancy": (6.1844, 48.6921), "Brest": (-4.4861, 48.3904), "Lille": (3.0573, 50.6292),
    "Nice": (7.2620, 43.7102), "Ajaccio": (8.7369, 41.9192), "Perpignan": (2.8948, 42.6887),
}


def _town(name: str, epsg: int) -> gpd.GeoDataFrame:
    lon, lat = TOWNS[name]
    square = shapely.Point(lon, lat).buffer(0.01)
    return gpd.GeoDataFrame(geometry=[square], crs=4326).to_crs(epsg)


@pytest.mark.parametrize("name", TOWNS)
@pytest.mark.parametrize("epsg", CANDIDATES)
def test_inference_finds_the_one_candidate(name, epsg):
    frame = _town(name, epsg)
    if epsg == 3948 and not 47 <= TOWNS[name][1] <= 49:
        assert not fits(tuple(frame.total_bounds), CRS.from_epsg(3948))
        return
    resolution = infer_crs(tuple(frame.total_bounds))
    assert resolution.source.to_epsg() == epsg
    located, _ = resolve_crs(frame.set_crs(None, allow_override=True))
    expected = _town(name, 2154).geometry.iloc[0]
    assert located.geometry.iloc[0].symmetric_difference(expected).area < 1.0


def test_swapped_lonlat_refused_everywhere():
    for name in TOWNS:
        lon, lat = TOWNS[name]
        bounds = (lat, lon, lat + 0.01, lon + 0.01)
        with pytest.raises(SwappedAxesError, match="inversées"):
            infer_crs(bounds)
        with pytest.raises(SwappedAxesError, match="déclaré WGS84"):
            check_declared(bounds, CRS.from_epsg(4326))


def test_declared_projected_crs_with_foreign_coordinates():
    bounds = tuple(_town("Strasbourg", 3948).total_bounds)
    with pytest.raises(CRSError, match=r"ressemblent à du CC48 \(EPSG:3948\)"):
        check_declared(bounds, CRS.from_epsg(2154))
    assert "reprojeté en Lambert-93" in check_declared(bounds, CRS.from_epsg(3948)).message
