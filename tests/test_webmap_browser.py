"""Web maps in a real headless browser (Debian's chromium via playwright), network blocked."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.synthetic_town import synthetic_town
from ort_geo import open_store
from ort_geo.webmap import write_map
from ort_geo.webmap.browser import READY_TILES, browser, open_page
from ort_geo.webmap.style import PUBLIC_LAYERS

pytestmark = pytest.mark.browser  # skipped without chromium, failed in CI (conftest.py)


@pytest.fixture(scope="module")
def chromium():
    with browser() as instance:
        yield instance


@pytest.fixture(scope="module")
def town_maps(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("town-maps")
    with open_store(folder / "town.gpkg", create=True) as st:
        synthetic_town(st, 300)
        write_map(st, folder / "public.html", audience="public", basemap="aucun")
        write_map(st, folder / "public-osm.html", audience="public", basemap="osm")
        write_map(st, folder / "staff.html", audience="staff", basemap="aucun")
    return {p.stem: p for p in folder.glob("*.html")}


def _overlay_names(page) -> list[str]:
    return [t.strip() for t in
            page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]


def _click_latlng(page, lat: float, lon: float) -> None:
    box = page.locator(".folium-map").bounding_box()
    point = page.evaluate("([lat, lon]) => { const p = ortGeo.map.latLngToContainerPoint("
                          "[lat, lon]); return [p.x, p.y]; }", [lat, lon])
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])


def test_demo_public_map_offline(chromium, demo_store, tmp_path: Path):
    """The real demo map: small, no JS error, no request at all, every layer listed."""
    html = tmp_path / "carte-publique.html"
    report = write_map(demo_store, html, audience="public", basemap="aucun")
    assert report.size < 1_500_000
    with open_page(chromium, html) as (page, visit):
        names = _overlay_names(page)
        for layer in PUBLIC_LAYERS:
            if layer.name in report.layers:
                assert layer.title in names
        assert set(report.layers) >= {"secteurs_ort", "actions", "communes"}
        sources = page.locator(".og-sources").inner_text()
        assert "tracés indicatifs" in sources  # the demo's perimeters say what they are
        bases = page.locator(".leaflet-control-layers-base label").all_inner_texts()
        assert [b.strip() for b in bases] == ["OpenStreetMap", "Plan IGN v2 (IGN)",
                                              "Aucun fond de plan"]
        # Click the first action of the list's layer on the map itself.
        first = page.evaluate("""(() => { let ids = [];
            ortGeo.layers.actions.eachLayer(l => ids.push(l.feature.id)); return ids[0]; })()""")
        page.evaluate(f"ortGeo.map.setView(ortGeo.find('actions', {first!r}).getBounds ? "
                      f"ortGeo.find('actions', {first!r}).getBounds().getCenter() : "
                      f"ortGeo.find('actions', {first!r}).getLatLng(), 17, {{animate: false}})")
        title = page.evaluate(f"ortGeo.find('actions', {first!r}).feature.properties.titre")
        page.evaluate(f"ortGeo.find('actions', {first!r})._path.dispatchEvent("
                      "new MouseEvent('click', {bubbles: true, clientX: 0, clientY: 0}))")
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5000)
        assert title in popup.inner_text()
    assert visit.errors == []
    assert visit.blocked == []


def test_public_map_interactions(chromium, town_maps):
    with open_page(chromium, town_maps["public"]) as (page, visit):
        assert page.get_attribute(".folium-map", "role") == "region"
        assert "Carte interactive" in page.get_attribute(".folium-map", "aria-label")
        assert page.get_attribute(".leaflet-control-zoom-in", "title") == "Zoom avant"
        assert _overlay_names(page) == [layer.title for layer in PUBLIC_LAYERS]

        # A real mouse click on an action's marker opens its popup, with its French fields.
        page.evaluate("ortGeo.map.setView(ortGeo.find('actions', 'a11').getLatLng(), 17,"
                      " {animate: false})")
        lat, lon = page.evaluate("(() => { const p = ortGeo.find('actions', 'a11').getLatLng();"
                                 " return [p.lat, p.lng]; })()")
        _click_latlng(page, lat, lon)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5000)
        text = popup.inner_text()
        # (the synthetic town records no manifest: its orientations keep their default titles)
        for expected in ("Réhabilitation de l'îlot Wilson", "Orientation stratégique",
                         "1 — Orientation 1", "En cours", "Maître d'ouvrage",
                         "Partenaires", "Banque des Territoires", "Coût (€ HT)", "1\u202f250\u202f000"):
            assert expected in text, expected
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)  # popups fade out

        # Keyboard: a list button opens the feature's popup.
        button = page.locator("button[data-og-id='a21']")
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelector('.leaflet-popup-content') &&"
                               " document.querySelector('.leaflet-popup-content').innerText"
                               ".includes('Voie verte')")

        # Search ignores accents: "liepvrette" finds "Lièpvrette".
        page.locator("#og-recherche").press_sequentially("liepvrette")
        tip = page.locator(".search-tip", has_text="Voie verte de la Lièpvrette")
        tip.wait_for(timeout=5000)
        tip.click()
        page.wait_for_function("document.querySelector('.leaflet-popup-content') &&"
                               " document.querySelector('.leaflet-popup-content').innerText"
                               ".includes('Lièpvrette')")
        page.fill("#og-recherche", "")
        page.locator("#og-recherche").press_sequentially("sainte-marie")
        page.locator(".search-tip", has_text="Commune : Sainte-Marie-aux-Mines").wait_for(
            timeout=5000)
    assert visit.errors == []
    assert visit.blocked == []


def test_public_map_with_basemap_still_shows_its_layers_offline(chromium, town_maps):
    with open_page(chromium, town_maps["public-osm"]) as (page, visit):
        page.wait_for_timeout(300)
        assert page.locator(".leaflet-overlay-pane path").count() > 5
    hosts = {url.split("/")[2] for url in visit.blocked}
    assert hosts == {"tile.openstreetmap.org"}  # only basemap tiles were asked for
    assert visit.errors == [] or all("ERR_FAILED" in e or "Failed to load" in e
                                     for e in visit.errors)


def test_staff_map_building_popup(chromium, town_maps):
    with open_page(chromium, town_maps["staff"]) as (page, visit):
        assert page.locator(".og-banner").inner_text() == \
            "Document de travail — diffusion restreinte"
        assert "Bâtiments — état du bâti" in _overlay_names(page)
        page.evaluate("ortGeo.map.setView([48.246, 7.183], 17, {animate: false})")
        page.wait_for_function(READY_TILES)
        page.wait_for_timeout(300)
        # Click the centre of a building drawn from the embedded vector tiles.
        with open_store(town_maps["staff"].parent / "town.gpkg") as st:
            frame = st.read("batiments").to_crs(4326)
        view = page.evaluate("(() => { const b = ortGeo.map.getBounds();"
                             " return [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()]; })()")
        inside = frame.cx[view[1]:view[3], view[0]:view[2]]
        point = inside.geometry.iloc[len(inside) // 2].representative_point()
        _click_latlng(page, point.y, point.x)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=5000)
        text = popup.inner_text()
        assert "État du bâti" in text and "Logements" in text
        assert inside["adresse"].iloc[len(inside) // 2] in text
        # Sector statistics in the sector popup.
        page.evaluate("ortGeo.map.closePopup(); ortGeo.find('secteurs_ort', 'cv').openPopup() && true")
        stats = page.locator(".leaflet-popup-content", has_text="Statistiques du secteur")
        stats.wait_for(timeout=5000)
        assert "Logements vacants" in stats.inner_text()
    assert visit.errors == []
    assert visit.blocked == []



@pytest.mark.parametrize("name", ["public", "staff"])
def test_maps_have_no_wcag_violation(chromium, town_maps, name):
    """axe-core (WCAG 2.1 A and AA) finds nothing on either map, with the layer switcher folded
    and unfolded (it opens on demand: it used to cover a quarter of the map)."""
    from axe_audit import assert_accessible

    with open_page(chromium, town_maps[name]) as (page, visit):
        viewport = page.locator('meta[name="viewport"]').get_attribute("content")
        assert "user-scalable=no" not in viewport and "maximum-scale" not in viewport
        control = page.locator(".leaflet-control-layers")
        assert "leaflet-control-layers-expanded" not in (control.get_attribute("class") or "")
        assert_accessible(page)
        control.hover()
        assert "leaflet-control-layers-expanded" in control.get_attribute("class")
        assert_accessible(page)
    assert visit.errors == []


def test_popups_fit_a_small_window(chromium, town_maps):
    # A phone-sized window: the popup stays inside the map, long content scrolls within it.
    with open_page(chromium, town_maps["public"], width=360, height=480) as (page, visit):
        first = page.evaluate("""(() => { let ids = [];
            ortGeo.layers.secteurs_ort.eachLayer(l => ids.push(l.feature.id)); return ids[0]; })()""")
        page.evaluate(f"ortGeo.focusFeature(ortGeo.map, ortGeo.find('secteurs_ort', {first!r}))")
        popup = page.locator(".leaflet-popup-content-wrapper")
        popup.wait_for(timeout=5000)
        page.wait_for_timeout(600)  # autoPan
        box = popup.bounding_box()
        assert box is not None
        assert box["width"] <= 360 - 40 and box["height"] <= 480 - 100
        frame = page.locator(".leaflet-container").first.bounding_box()
        assert frame is not None
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
        assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]
        options = page.evaluate("ortGeo.popupOptions(ortGeo.map)")
        assert options["autoPan"] and options["maxHeight"] < frame["height"]
    assert visit.errors == []
