"""The numpy MVT encoder (ort_geo.mvt) against mapbox-vector-tile's, an independent encoder: the
same features decode to the same geometries and properties, and GDAL's MVT driver reads them."""

from __future__ import annotations

import datetime as dt

import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
import shapely

from ort_geo import mvt


def _reference(name: str, geoms, properties) -> bytes:
    features = [{"geometry": g, "properties": {k: v[i] for k, v in properties.items()
                                               if v[i] is not None}}
                for i, g in enumerate(geoms)]
    return mapbox_vector_tile.encode([{"name": name, "features": features}], default_options={
        "extents": 4096, "y_coord_down": True, "check_winding_order": False})


def _decoded(data: bytes) -> list[tuple[dict, dict]]:
    layer = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})["t"]
    assert layer["extent"] == 4096 and layer["version"] == 2
    return [(f["geometry"], f["properties"]) for f in layer["features"]]


def _mixed(n: int, seed: int) -> tuple[np.ndarray, dict[str, list]]:
    rng = np.random.default_rng(seed)
    geoms, props = [], {"id": [], "n": [], "neg": [], "x": [], "ok": [], "nom": [], "jour": []}
    for i in range(n):
        x, y = (int(v) for v in rng.integers(-60, 4150, 2))
        kind = i % 6
        if kind == 0:
            g = shapely.box(x, y, x + 1 + i % 40, y + 3 + i % 17)
        elif kind == 1:  # a hole
            g = shapely.Polygon(shapely.box(x, y, x + 50, y + 50).exterior.coords,
                                [shapely.box(x + 10, y + 10, x + 20, y + 30).exterior.coords])
        elif kind == 2:
            g = shapely.MultiPolygon([shapely.box(x, y, x + 5, y + 5),
                                      shapely.box(x + 9, y, x + 12, y + 8)])
        elif kind == 3:  # a repeated vertex is dropped (zero-length LineTo is not allowed)
            g = shapely.LineString([(x, y), (x + 7, y + 2), (x + 7, y + 2), (x - 3, y + 40)])
        elif kind == 4:
            g = shapely.Point(x, y)
        else:
            g = shapely.MultiPoint([(x, y), (x + 1, y + 1), (x + 300, y - 200)])
        geoms.append(g)
        props["id"].append(f"b{i:05d}")
        props["n"].append(None if i % 7 == 0 else i % 5)
        props["neg"].append(-(i % 300) if i % 3 else None)
        props["x"].append(i / 7 if i % 4 else None)
        props["ok"].append(bool(i % 2) if i % 5 else None)
        props["nom"].append(("rue é" * (i % 40)) if i % 2 else None)  # some > 127 bytes
        props["jour"].append(dt.date(2020, 1, 1 + i % 28) if i % 9 else None)
    oriented = shapely.orient_polygons(np.asarray(geoms, dtype=object), exterior_cw=False)
    return oriented, props


@pytest.mark.parametrize("n", [1, 5, 400])
def test_encoder_matches_mapbox_vector_tile(n):
    geoms, props = _mixed(n, seed=n)
    reference_props = {k: [v.isoformat() if isinstance(v, dt.date) else v for v in col]
                       for k, col in props.items()}
    ours = mvt.encode_layer("t", geoms, props)
    theirs = _reference("t", geoms, reference_props)
    assert _decoded(ours) == _decoded(theirs)
    # The most used values come first in the table: more than 127 distinct values here, yet the
    # tile is no bigger than the reference encoder's.
    assert len(ours) <= len(theirs)


def test_gdal_reads_the_encoded_tile(tmp_path):
    geoms, props = _mixed(60, seed=3)
    path = tmp_path / "t.mvt"
    path.write_bytes(mvt.encode_layer("t", geoms, props))
    frame = pyogrio.read_dataframe(path, layer="t", CLIP="NO")  # GDAL's MVT driver
    assert len(frame) == 60
    assert sorted(frame["id"]) == sorted(props["id"])
    row = frame.set_index("id").loc["b00005"]
    assert row["neg"] == -5 and row["nom"] == "rue é" * 5 and row["jour"] == "2020-01-06"


def test_nothing_drawable_is_an_empty_tile():
    assert mvt.encode_layer("t", np.array([], dtype=object), {}) == b""
    collapsed = np.array([shapely.LineString([(1, 1), (1, 1)])], dtype=object)
    assert mvt.encode_layer("t", collapsed, {"a": [1]}) == b""
    collection = np.array([shapely.GeometryCollection([shapely.Point(1, 2),
                                                       shapely.box(0, 0, 4, 4)])], dtype=object)
    ((geometry, props),) = _decoded(mvt.encode_layer("t", collection, {"a": [None]}))
    assert geometry["type"] == "Polygon" and props == {}
