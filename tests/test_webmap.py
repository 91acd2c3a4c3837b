"""Web maps: content, privacy and self-containment of the real HTML outputs (no browser here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner

from benchmarks.synthetic_town import SECRET_OWNER, synthetic_town
from ort_geo import open_store
from ort_geo.catalogue import CATALOGUE
from ort_geo.cli import main
from ort_geo.errors import InputError, OrtGeoError
from ort_geo.territory import Territory
from ort_geo.webmap import BANNER, assets, write_map
from ort_geo.webmap.geojson import feature_collection, web_geometries
from ort_geo.webmap.style import PUBLIC_LAYERS


@pytest.fixture(scope="module")
def town(tmp_path_factory) -> Path:
    """A small synthetic town with every layer and 400 buildings (private values planted)."""
    path = tmp_path_factory.mktemp("town") / "town.gpkg"
    with open_store(path, create=True) as st:
        synthetic_town(st, 400)
        # Orientation titles and colours come from the territory's manifest.
        manifest = Territory(name="ville", title="Ville de démonstration", departement="68",
                             siren_epci="246800395", main_town="68298", communes=("68298",),
                             orientations=[{"numero": 1, "titre": "Redynamiser les "
                                            "centres-villes", "couleur": "#c0392b"}])
        st.set_meta("territory", {"manifest": manifest.model_dump_json()})
    return path


@pytest.fixture(scope="module")
def public_html(town: Path, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("maps") / "carte.html"
    with open_store(town) as st:
        write_map(st, out, audience="public")
    return out, out.read_text(encoding="utf-8")


def _geojson_layers(html: str) -> list[dict]:
    """Every FeatureCollection embedded by folium in the page."""
    found = []
    decoder = json.JSONDecoder()
    for match in re.finditer(r'\{"features": \[|\{"type": "FeatureCollection"', html):
        try:
            value, _ = decoder.raw_decode(html, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and value.get("type") == "FeatureCollection":
            found.append(value)
    return found


def test_public_map_has_no_private_field_or_value(town: Path, public_html):
    _, html = public_html
    private = {f for layer in CATALOGUE for f in layer.private_fields}
    for name in private:
        assert not re.search(rf"\b{name}\b", html), f"champ privé {name} dans la carte publique"
    with open_store(town) as st:
        buildings = st.read("batiments")
    # Nothing building-level at all: neither identifiers nor addresses nor occupancy values.
    assert SECRET_OWNER in set(buildings["proprietaire_type"])
    assert SECRET_OWNER not in html
    for value in list(buildings["id"][:50]) + list(buildings["adresse"][:50]):
        assert value not in html
    assert "batiments" not in html and "pmtiles" not in html.lower()
    assert BANNER not in html


def test_public_map_embeds_only_public_fields(public_html):
    _, html = public_html
    layers = _geojson_layers(html)
    assert len(layers) == len(PUBLIC_LAYERS)
    allowed = {f for layer in CATALOGUE if layer.public for f in layer.public_fields}
    for collection in layers:
        for feature in collection["features"]:
            # _stats: the public release's figures (tests/test_secrecy.py reads them back)
            keys = set(feature["properties"]) - {"_libelle", "_couleur", "_stats"}
            assert keys <= allowed, keys - allowed


def test_public_map_is_self_contained_and_french(public_html):
    path, html = public_html
    assert html.startswith("<!DOCTYPE html>") and '<html lang="fr">' in html
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+stylesheet", html)
    # Only basemap tile URLs and attribution links may name a host; no code is fetched.
    hosts = set(re.findall(r"https?://([a-z0-9.-]+)", html))
    assert "cdn.jsdelivr.net" not in hosts and "unpkg.com" not in hosts
    assert "code.jquery.com" not in hosts
    assert "Rechercher une action, un lieu" in html
    assert "Afficher la carte en plein" in html
    assert "data.geopf.fr" in html and "GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2" in html
    assert "contributeurs d'OpenStreetMap" in html or "contributeurs d\\u0027OpenStreetMap" in html
    assert path.stat().st_size < 1_500_000


def test_actions_popup_fields_in_french(public_html):
    _, html = public_html
    actions = next(c for c in _geojson_layers(html)
                   if any(f["properties"].get("titre") for f in c["features"]))
    props = next(f["properties"] for f in actions["features"] if f["id"] == "a11")
    assert props["statut"] == "En cours"
    assert props["orientation"] == "1 — Redynamiser les centres-villes"
    assert props["cout_ht"] == "1\u202f250\u202f000\u202f€ HT"
    assert props["_libelle"] == "Action 1.1 — Réhabilitation de l'îlot Wilson"
    # Text from the data is escaped in the static list, never injected as markup.
    assert "<commerces>" not in html.split('<aside', 1)[1]
    assert "&lt;commerces&gt;" in html


def test_web_geometries_are_rfc7946():
    ring = shapely.Polygon([(1010000, 6800000), (1010000, 6800100), (1010100, 6800100),
                            (1010100, 6800000)])  # clockwise
    frame = gpd.GeoDataFrame({"id": ["a"]}, geometry=[ring], crs="EPSG:2154")
    geom = web_geometries(frame).iloc[0]
    lon, lat = geom.exterior.coords[0]
    assert 7 < lon < 8 and 48 < lat < 49  # longitude first
    assert geom.exterior.is_ccw
    assert all(len(repr(c).split(".")[1]) <= 5 for xy in geom.exterior.coords for c in xy)


def test_feature_collection_drops_emptied_geometries_and_keeps_ids():
    spec = CATALOGUE["secteurs_ort"]
    frame = gpd.GeoDataFrame(
        {"id": ["a", "b"], "nom": ["Centre", None]},
        geometry=[shapely.box(1010000, 6800000, 1010300, 6800300),
                  shapely.box(1010000, 6800000, 1010000.1, 6800000.1)], crs="EPSG:2154")
    fc = feature_collection(spec, frame, ["nom"], ids=["a", "b"])
    assert [f["id"] for f in fc["features"]] == ["a"]
    assert fc["features"][0]["properties"] == {"nom": "Centre"}


def test_staff_map_has_buildings_stats_and_banner(town: Path, tmp_path: Path):
    out = tmp_path / "travail.html"
    with open_store(town) as st:
        report = write_map(st, out, audience="staff", basemap="ign")
    html = out.read_text(encoding="utf-8")
    assert report.buildings == 400
    assert BANNER in html
    assert "ortGeoTiles.archive(" in html and "Bâtiments — état du bâti" in html
    assert "Logements vacants" in html and "Taux de vacance (%)" in html  # sector statistics
    assert "Bâtiments — vacance" in html  # legend


def test_empty_store_is_refused_with_a_french_message(store, tmp_path: Path):
    with pytest.raises(InputError, match="aucune couche"):
        write_map(store, tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_unknown_basemap_is_refused(town: Path, tmp_path: Path):
    with open_store(town) as st, pytest.raises(InputError, match="Fond de plan inconnu"):
        write_map(st, tmp_path / "x.html", basemap="google")


def test_vendored_assets_match_their_manifest():
    assert assets.verify() == []
    for package in assets.manifest():
        entry = assets.manifest()[package]
        assert (assets.VENDOR / package / entry["licence"]).is_file()


def test_inline_assets_refuses_external_scripts():
    with pytest.raises(OrtGeoError, match="ressources externes"):
        assets.inline_assets('<script src="https://cdn.example.org/x.js"></script>')
    css = assets.css_text("leaflet", "dist/leaflet.css")
    assert "url(images/" not in css and "data:image/png;base64," in css


def test_cli_map_writes_public_and_staff(town: Path, tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "carte.html"
    result = runner.invoke(main, ["map", "--public", "-o", str(out), "--store", str(town)])
    assert result.exit_code == 0, result.output
    assert "Carte publique écrite" in result.output and out.is_file()
    staff = tmp_path / "travail.html"
    result = runner.invoke(main, ["map", "--staff", "-o", str(staff), "--fond", "aucun",
                                  "--store", str(town)])
    assert result.exit_code == 0, result.output
    assert "diffusion restreinte" in result.output
    bad = runner.invoke(main, ["map", "-o", str(tmp_path / "y.html"), "--store",
                               str(tmp_path / "absent.gpkg")])
    assert bad.exit_code == 2 and "Erreur" in bad.output
