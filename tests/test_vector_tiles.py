"""Building vector tiles from the store (ort_geo.vector_tiles): same tiles on both backends, read
back by GDAL's MVT driver, roles applied as on the items routes, a cache that every write empties.
"""

from __future__ import annotations

import subprocess

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from ort_geo import auth, vector_tiles
from ort_geo.catalogue import CATALOGUE
from ort_geo.errors import InputError, TileNotFoundError
from ort_geo.privacy import RESTRICTED_SOURCES
from ort_geo.vector_tiles import Tile, TileCache, TileRequest, vector_tile

X0, Y0 = 1010000.0, 6802000.0  # Lambert-93, Sainte-Marie-aux-Mines
STAFF = auth.Principal("Anah", "staff")
PRIVATE = set(CATALOGUE["batiments"].private_fields)
TO_MERCATOR = Transformer.from_crs(2154, 3857, always_xy=True)


def buildings(n: int = 120) -> gpd.GeoDataFrame:
    """A block of buildings 1.2 km wide (several zoom-16 tiles); the last one is known only
    from a restricted source (staff-only as a whole), one is a point."""
    rows, geoms = [], []
    for i in range(n):
        x, y = X0 + (i % 12) * 100, Y0 + (i // 12) * 80
        rows.append({"id": f"b{i:03d}", "code_insee": "68298", "nb_logements": 1 + i % 4,
                     "nb_logements_vacants": i % 2, "etat": "degrade" if i % 3 else "bon",
                     "habitat_indigne": i % 5 == 0, "proprietaire_type": "personne physique",
                     "annee_construction": 1900 + i, "rdc_commerce": i % 2 == 0,
                     "source": RESTRICTED_SOURCES[0] if i == n - 1 else "test"})
        geoms.append(shapely.Point(x + 5, y + 5) if i == 7 else
                     shapely.Polygon([(x, y), (x + 22, y), (x + 22, y + 14), (x + 8, y + 20),
                                      (x, y + 14)]))
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:2154")


@pytest.fixture
def tiled(store):
    store.write("batiments", buildings(), author="test")
    return store


def tile_at(z: int, x: float, y: float) -> Tile:
    mx, my = TO_MERCATOR.transform(x, y)
    size = 2 * vector_tiles.ORIGIN / (1 << z)
    return Tile(z, int((mx + vector_tiles.ORIGIN) // size), int((vector_tiles.ORIGIN - my) // size))


def decode(data: bytes) -> list[dict]:
    if not data:
        return []
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})[
        "batiments"]["features"]


def mercator(geoms) -> np.ndarray:
    return shapely.transform(np.asarray(geoms, dtype=object),
                             lambda c: np.column_stack(TO_MERCATOR.transform(c[:, 0], c[:, 1])))


def test_tile_holds_what_it_covers_on_both_backends(tiled, tmp_path):
    frame = buildings()
    public = frame[frame["source"] == "test"]
    for z in (14, 15, 16):
        tile = tile_at(z, X0 + 600, Y0 + 400)
        body = vector_tile(tiled, TileRequest.for_caller("batiments", auth.ANONYMOUS), tile)
        ids = {f["properties"]["id"] for f in decode(body.data)}
        geoms = mercator(public.geometry)
        box = shapely.box(*tile.bounds())
        inside = set(public["id"][shapely.within(geoms, shapely.box(*tile.bounds(-0.01)))])
        near = set(public["id"][shapely.intersects(
            geoms, shapely.box(*tile.bounds(vector_tiles.BUFFER / vector_tiles.EXTENT)))])
        assert inside and inside <= ids <= near, (z, sorted(ids ^ inside)[:5])
        assert shapely.intersects(box, geoms).any()
        # GDAL's MVT driver reads the tile (its z/x/y from the file's path) in EPSG:3857: each
        # building comes back where it is, within a tile unit.
        path = tmp_path / str(z) / str(tile.x) / f"{tile.y}.pbf"
        path.parent.mkdir(parents=True)
        path.write_bytes(body.data)
        read = pyogrio.read_dataframe(path, layer="batiments", CLIP="NO")
        assert set(read["id"]) == ids
        unit = tile.size / vector_tiles.EXTENT
        expected = dict(zip(public["id"], geoms, strict=True))
        for fid, geom in zip(read["id"], read.geometry, strict=True):
            clipped = shapely.clip_by_rect(expected[fid], *tile.bounds(
                vector_tiles.BUFFER / vector_tiles.EXTENT))
            assert shapely.hausdorff_distance(geom, clipped) < 2 * unit, fid
        kinds = set(read.geometry.geom_type)
        assert "Polygon" in kinds or "MultiPolygon" in kinds


def test_fields_and_records_follow_the_role(tiled):
    tile = tile_at(14, X0 + 600, Y0 + 400)
    public = decode(vector_tile(tiled, TileRequest.for_caller("batiments", auth.ANONYMOUS),
                                tile).data)
    staff = decode(vector_tile(tiled, TileRequest.for_caller("batiments", STAFF), tile).data)
    assert PRIVATE and public and staff
    for feature in public:
        assert not PRIVATE & set(feature["properties"])
    assert {f["properties"]["id"] for f in staff} - {f["properties"]["id"] for f in public} \
        == {"b119"}  # the restricted-source record: staff only
    seen = set().union(*(f["properties"] for f in staff))
    assert {"etat", "nb_logements_vacants", "proprietaire_type"} <= seen
    rows = buildings().set_index("id")
    for feature in staff:  # typed values, booleans kept as booleans
        props, row = feature["properties"], rows.loc[feature["properties"]["id"]]
        assert (props["etat"], props["habitat_indigne"], props["rdc_commerce"],
                props["annee_construction"]) == (row["etat"], row["habitat_indigne"],
                                                 row["rdc_commerce"], row["annee_construction"])


def test_empty_tile_and_bad_coordinates(tiled):
    far = tile_at(15, X0 + 30000, Y0 + 30000)
    assert vector_tile(tiled, TileRequest.for_caller("batiments", STAFF), far).data == b""
    assert vector_tiles.parse_tile("batiments", "15", "100", "200") == Tile(15, 200, 100)
    for z, y, x in (("a", "1", "1"), ("15", "-1", "0"), ("15", "1.5", "0"), ("1" * 12, "0", "0")):
        with pytest.raises(InputError):
            vector_tiles.parse_tile("batiments", z, y, x)
    for z, y, x in (("5", "0", "0"), ("17", "0", "0"), ("14", "16384", "0"),
                    ("14", "0", "16384")):
        with pytest.raises(TileNotFoundError):
            vector_tiles.parse_tile("batiments", z, y, x)


def test_cache_is_emptied_by_every_write(tiled, system_tool):
    cache = TileCache()
    request = TileRequest.for_caller("batiments", STAFF)
    tile = tile_at(16, X0 + 10, Y0 + 10)
    revision = tiled.revision()
    first = vector_tile(tiled, request, tile, cache)
    again = vector_tile(tiled, request, tile, cache)
    # PostgreSQL's snapshot moves with any commit in the cluster (other schemas too): a hit is
    # only due when nothing was committed in between.
    if hasattr(tiled, "path") or tiled.revision() == revision:
        assert again is first and cache.hits == 1
    # A write through the tool: the next request sees it.
    moved = buildings().iloc[[0]].copy()
    moved["etat"] = "tres_degrade"
    tiled.write("batiments", moved, author="test")
    second = vector_tile(tiled, request, tile, cache)
    assert second.etag != first.etag
    assert next(f for f in decode(second.data)
                if f["properties"]["id"] == "b000")["properties"]["etat"] == "tres_degrade"
    # A write by another client (QGIS, psql): the journal's trigger changes the revision too.
    if hasattr(tiled, "path"):
        done = subprocess.run([system_tool("ogrinfo", "gdal-bin"), str(tiled.path), "-sql",
                               "UPDATE batiments SET etat = 'bon' WHERE id = 'b000'"],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    else:
        import psycopg

        with psycopg.connect(tiled.conninfo, autocommit=True) as conn:
            conn.execute(f"UPDATE {tiled._t('batiments')} SET etat = 'bon' WHERE id = 'b000'")
    third = vector_tile(tiled, request, tile, cache)
    assert next(f for f in decode(third.data)
                if f["properties"]["id"] == "b000")["properties"]["etat"] == "bon"
    # The public view of a tile keeps its ETag when only a hidden field changed.
    public = TileRequest.for_caller("batiments", auth.ANONYMOUS)
    before = vector_tile(tiled, public, tile, cache)
    hidden = buildings().iloc[[0]].copy()
    hidden["proprietaire_type"] = "SCI"
    tiled.write("batiments", hidden, author="test")
    after = vector_tile(tiled, public, tile, cache)
    assert after is not before and after.etag == before.etag  # rebuilt, same content
