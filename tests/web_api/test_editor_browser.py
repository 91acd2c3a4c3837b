"""The planners' editor in Debian's chromium (playwright), against a real ``ort-geo serve``.

Network blocked except the local server: basemap tiles are refused, the editor still works.
Mouse events draw on the map; the store is then read back to prove what the browser did.
"""

from __future__ import annotations

import csv
import io
import shutil

import geopandas as gpd
import pytest
import shapely
from conftest import serve_process
from pyproj import Transformer

from ort_geo import auth, open_store
from ort_geo.query import buildings_within
from ort_geo.webmap.browser import browser, chromium_path, open_site

pytest.importorskip("playwright")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason="chromium absent (apt-get install chromium)"),
]

READY = "window.ortGeoEditorReady === true"
SECTOR = "smam-centre-ville"
TO_LONLAT = Transformer.from_crs(2154, 4326, always_xy=True)


@pytest.fixture(scope="module")
def site(demo_store_path, tmp_path_factory):
    """A copy of the demo store served by ``ort-geo serve``, with keys of each role."""
    path = tmp_path_factory.mktemp("editor-browser") / "val-d-argent.gpkg"
    shutil.copyfile(demo_store_path, path)
    st = open_store(path)
    keys = {"editor": auth.create_key(st, "Chef de projet PVD", "editor"),
            "editor2": auth.create_key(st, "Urbaniste EPCI", "editor"),
            "staff": auth.create_key(st, "Anah 68", "staff")}
    with serve_process(path) as (base, _):
        yield base, st, keys


@pytest.fixture(scope="module")
def chromium():
    with browser() as instance:
        yield instance


def _sign_in(page, key: str) -> None:
    page.fill("#ed-key", key)
    page.press("#ed-key", "Enter")
    page.wait_for_function(READY, timeout=30000)


def _lonlat(x: float, y: float) -> list[float]:
    lon, lat = TO_LONLAT.transform(x, y)
    return [lat, lon]


def _point(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of a Lambert-93 point on the editor's map."""
    box = page.locator("#ed-map").bounding_box()
    px, py = page.evaluate("(ll) => { const p = ortGeoEditor.map.latLngToContainerPoint(ll);"
                           " return [p.x, p.y]; }", _lonlat(x, y))
    return box["x"] + px, box["y"] + py


def _view(page, x: float, y: float, zoom: int = 16) -> None:
    page.evaluate("([ll, z]) => ortGeoEditor.map.setView(ll, z, {animate: false})",
                  [_lonlat(x, y), zoom])
    page.wait_for_timeout(200)


def _draw_polygon(page, corners: list[tuple[float, float]]) -> None:
    for x, y in corners:
        page.mouse.click(*_point(page, x, y))
        page.wait_for_timeout(120)
    page.mouse.click(*_point(page, *corners[0]))  # back on the first vertex closes the ring
    page.wait_for_timeout(300)


def _saved(page) -> None:
    """Wait for the editor to say the save went through (or fail with what it says)."""
    try:
        page.wait_for_function("document.querySelector('#ed-status').textContent"
                               ".includes('Enregistré')", timeout=15000)
    except Exception:
        raise AssertionError(page.inner_text("#ed-status") + " / "
                             + page.inner_text("#ed-violations")) from None


def _free_square(st, side: float = 150.0):
    """A square inside the main town, 200 m off the centre-ville sector, touching no zone."""
    sectors = st.read("secteurs_ort")
    commune = st.read("communes", ids=["68298"]).geometry.iloc[0]
    centre = sectors[sectors["id"] == SECTOR].geometry.iloc[0]
    # Away from every zone the drawing could snap to.
    taken = shapely.union_all([g for name in ("secteurs_ort", "permis_de_louer",
                                              "zones_activite", "ilot_demonstrateur")
                               for g in st.read(name).geometry.values])
    cx, cy = centre.centroid.x, centre.centroid.y
    for dx, dy in ((0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1), (1, 0), (-1, 0)):
        for dist in range(100, 1500, 50):
            px, py = cx + dx * dist, cy + dy * dist
            square = shapely.box(px - side / 2, py - side / 2, px + side / 2, py + side / 2)
            if commune.buffer(-50).contains(square) and square.distance(taken) > 200:
                return square, centre
    raise AssertionError("aucun emplacement libre")


def test_draw_a_sector_see_the_violation_fix_it_save_and_find_it_after_reload(chromium, site):
    base, st, keys = site
    square, centre = _free_square(st)
    x0, y0, x1, y1 = square.bounds
    # The fourth corner is pulled 60 m into the centre-ville sector: an overlap.
    corner = shapely.Point(x0, y1)
    near = shapely.ops.nearest_points(centre.boundary, corner)[0]
    inside = shapely.Point(near.x + (near.x - corner.x) * 60 / corner.distance(near),
                           near.y + (near.y - corner.y) * 60 / corner.distance(near))
    assert centre.contains(inside)
    journal = len(st.journal())
    with open_site(chromium, base + "/editeur") as (page, visit):
        _sign_in(page, keys["editor"])
        assert page.inner_text("#ed-who") == "Connecté : Chef de projet PVD (éditeur)"
        _view(page, (x0 + inside.x) / 2, (y0 + inside.y) / 2,
              zoom=16 if inside.distance(shapely.Point(x1, y0)) < 1500 else 15)
        page.click("#ed-new")
        _draw_polygon(page, [(x0, y0), (x1, y0), (x1, y1), (inside.x, inside.y)])
        page.wait_for_selector("#ed-form-panel:not([hidden])")
        page.fill("#ed-f-nom", "Faubourg nord")
        page.select_option("#ed-f-type", "quartier")
        page.fill("#ed-f-code_insee", "68298")
        page.fill("#ed-f-id", "faubourg-nord")
        page.click("#ed-check")
        page.wait_for_selector(".ed-v-erreur")
        text = page.inner_text("#ed-violations")
        assert "chevauche" in text and "smam-centre-ville" in text and "faubourg-nord" in text
        assert page.evaluate("ortGeoEditor.violations.getLayers().length") >= 1
        # Saving is refused while a rule is broken: nothing reaches the store.
        page.click("#ed-save")
        page.wait_for_timeout(800)
        assert len(st.journal()) == journal
        # Fix it: drag the offending vertex back out of the sector, check again, save.
        page.click("#ed-reshape")
        # Grab the vertex where it is (snapping may have put it on a nearby edge).
        box = page.locator("#ed-map").bounding_box()
        vx, vy = page.evaluate("""(() => {
            let ll = ortGeoEditor.working.getLatLngs();
            while (Array.isArray(ll[0][0])) ll = ll[0];
            const v = ll[0][ll[0].length - 1], p = ortGeoEditor.map.latLngToContainerPoint(v);
            return [p.x, p.y]; })()""")
        page.mouse.move(box["x"] + vx, box["y"] + vy)
        page.mouse.down()
        target = _point(page, x0, y1)
        page.mouse.move(target[0], target[1], steps=8)
        page.wait_for_timeout(300)  # Leaflet moves a dragged marker on the next animation frame
        page.mouse.up()
        page.keyboard.press("Escape")
        page.click("#ed-check")
        page.wait_for_function("document.querySelector('#ed-status').textContent"
                               ".includes('Règles respectées')")
        page.fill("#ed-message", "délibération du 12 mars 2026")
        page.click("#ed-save")
        _saved(page)
        page.reload()
        page.wait_for_function(READY, timeout=30000)  # the key is kept for the session
        assert page.locator("#ed-list button", has_text="Faubourg nord").count() == 1
        assert visit.errors == []
    saved = st.get("secteurs_ort", "faubourg-nord")
    assert saved.properties["nom"] == "Faubourg nord"
    assert saved.geometry.intersection(centre).area < 1.0
    assert abs(saved.geometry.area - square.area) < 0.02 * square.area
    entry = st.history("secteurs_ort", "faubourg-nord")[-1]
    assert entry.author == "Chef de projet PVD"
    assert entry.message == "délibération du 12 mars 2026"


def test_two_editors_on_one_sector_the_second_sees_the_conflict_view(chromium, site):
    base, st, keys = site
    first = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR")
    second = chromium.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR")
    try:
        with open_site(chromium, base + "/editeur", context=first) as (a, _), \
                open_site(chromium, base + "/editeur", context=second) as (b, visit):
            _sign_in(a, keys["editor"])
            _sign_in(b, keys["editor2"])
            for page in (a, b):
                page.locator("#ed-list button", has_text="Centre-ville de Sainte-Marie").click()
                page.wait_for_selector("#ed-form-panel:not([hidden])")
            a.fill("#ed-f-deliberation", "DCM 2026-01")
            a.click("#ed-save")
            _saved(a)
            b.fill("#ed-f-convention", "Avenant n° 2")
            b.click("#ed-save")
            b.wait_for_selector("#ed-conflict:not([hidden])", timeout=15000)
            assert "Conflit" in b.inner_text("#ed-conflict")
            assert b.evaluate("ortGeoEditor.conflict.getLayers().length") == 2  # both versions
            # Nothing is lost: take the other version, then apply mine again on top of it.
            b.click("#ed-take-theirs")
            b.wait_for_function("document.querySelector('#ed-f-deliberation').value"
                                " === 'DCM 2026-01'")
            b.fill("#ed-f-convention", "Avenant n° 2")
            b.click("#ed-save")
            _saved(b)
            assert visit.errors == []
    finally:
        first.close()
        second.close()
    stored = st.get("secteurs_ort", SECTOR).properties
    assert stored["deliberation"] == "DCM 2026-01" and stored["convention"] == "Avenant n° 2"
    authors = [e.author for e in st.history("secteurs_ort", SECTOR)[-2:]]
    assert authors == ["Chef de projet PVD", "Urbaniste EPCI"]


def test_staff_draws_a_perimeter_and_exports_its_vacant_buildings(chromium, site):
    base, st, keys = site
    centre = st.get("secteurs_ort", SECTOR).geometry
    x0, y0, x1, y1 = centre.buffer(-20).bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = 200
    ring = [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half),
            (cx - half, cy + half)]
    with open_site(chromium, base + "/editeur") as (page, visit):
        _sign_in(page, keys["staff"])
        assert "consultation seule" in page.inner_text("#ed-who")
        assert page.is_disabled("#ed-new") and page.is_disabled("#ed-save")
        page.click("#ed-tab-requete")
        _view(page, cx, cy, 16)
        page.click("#ed-q-draw")
        _draw_polygon(page, ring)
        page.check("#ed-q-vacant")
        page.click("#ed-q-run")
        page.wait_for_selector("#ed-q-stats table")
        shown = page.locator("#ed-q-list button").count()
        drawn = page.evaluate("ortGeoEditor.perimeter")  # what the mouse drew, in CRS84
        with page.expect_download() as download:
            page.click("#ed-q-csv")
        data = download.value.path().read_bytes()
        assert visit.errors == []
    perimeter = gpd.GeoDataFrame(geometry=[shapely.geometry.shape(drawn)], crs=4326)
    assert perimeter.to_crs(2154).geometry.iloc[0].symmetric_difference(
        shapely.Polygon(ring)).area < 0.05 * shapely.Polygon(ring).area
    expected = buildings_within(st, perimeter, vacant=True)
    assert 0 < len(expected) == shown
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert len(rows) == len(expected) + 1
    assert all(int(r[rows[0].index("nb_logements_vacants")]) > 0 for r in rows[1:])


def test_keyboard_alone_signs_in_selects_edits_saves_and_undoes(chromium, site):
    base, st, keys = site
    with open_site(chromium, base + "/editeur") as (page, visit):
        page.keyboard.type(keys["editor"])  # the key field has the focus on arrival
        page.keyboard.press("Enter")
        page.wait_for_function(READY, timeout=30000)
        button = page.locator("#ed-list button", has_text="Quartier des Halles")
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("#ed-form-panel:not([hidden])")
        page.focus("#ed-f-deliberation")
        page.keyboard.press("Control+a")
        page.keyboard.type("DCC 2026-02")
        page.focus("#ed-message")
        page.keyboard.type("saisie au clavier")
        page.keyboard.press("Control+s")
        _saved(page)
        # Undo/redo of a geometry change by keyboard: split, undo, redo.
        before = page.evaluate("ortGeoEditor.undo.length")
        page.evaluate("ortGeoEditor.undo.push({type: 'Point', coordinates: [7.1, 48.2]})")
        page.keyboard.press("Control+z")
        assert page.evaluate("ortGeoEditor.undo.length") == before
        page.keyboard.press("Control+y")
        assert page.evaluate("ortGeoEditor.undo.length") == before + 1
        # Tabs have access keys and are buttons: Enter on one switches the panel.
        page.focus("#ed-tab-historique")
        page.keyboard.press("Enter")
        assert page.is_visible("#ed-panel-historique")
        assert visit.errors == []
    sector = next(f for f in st.read("secteurs_ort").itertuples() if f.nom == "Quartier des Halles")
    entry = st.history("secteurs_ort", sector.id)[-1]
    assert entry.message == "saisie au clavier" and entry.after.properties["deliberation"] == \
        "DCC 2026-02"


def test_history_compare_two_versions_in_hectares_and_restore_one(chromium, site):
    from ort_geo.features import Feature
    from ort_geo.timeline import versions
    from ort_geo.version_diff import compare_versions, format_ha

    base, st, keys = site
    sector = next(f for f in st.read("secteurs_ort").itertuples() if f.nom == "Quartier Saint-Blaise")
    fid = str(sector.id)
    current = st.get("secteurs_ort", fid)
    # Another planner shrank it by 20 m on every side (a version to compare and undo).
    shrunk = current.geometry.buffer(-20, join_style="mitre")
    st.replace("secteurs_ort", Feature(fid, current.properties, shrunk),
               author="Urbaniste EPCI", message="réduction du périmètre")
    numbers = [v.number for v in versions(st, "secteurs_ort", fid)]
    old, new = numbers[-2], numbers[-1]
    expected = compare_versions(st, "secteurs_ort", fid, old, new)
    with open_site(chromium, base + "/editeur") as (page, visit):
        _sign_in(page, keys["editor"])
        page.locator("#ed-list button", has_text="Quartier Saint-Blaise").click()
        page.wait_for_selector("#ed-form-panel:not([hidden])")
        page.click("#ed-tab-historique")
        page.wait_for_selector(f"#ed-v-{new}")
        assert "réduction du périmètre" in page.inner_text("#ed-versions")
        page.check(f"#ed-v-{old}")
        page.check(f"#ed-v-{new}")
        page.click("#ed-compare")
        page.wait_for_selector("#ed-loss-ha")
        # The same hectares as `ort-geo diff` (one library computes both).
        assert page.inner_text("#ed-loss-ha").replace("\u202f", " ").replace("\xa0", " ") == \
            format_ha(expected.lost_ha).replace("\u202f", " ")
        assert expected.lost_ha > 0 and expected.gained_ha == 0
        assert page.evaluate("ortGeoEditor.versions.getLayers().length") >= 2
        assert "Statistiques du secteur avant et après" in page.inner_text("#ed-diff")
        page.locator(f"#ed-versions button[data-version='{old}']").click()
        page.wait_for_function("document.querySelector('#ed-status').textContent"
                               f".includes('Version {old} affichée')")
        page.fill("#ed-message", "retour au périmètre délibéré")
        page.click("#ed-restore")
        page.wait_for_function("document.querySelector('#ed-status').textContent"
                               f".includes('Version {old} restaurée')", timeout=15000)
        assert visit.errors == []
    restored = st.get("secteurs_ort", fid)
    assert restored.same_content(current)
    last = st.history("secteurs_ort", fid)[-1]
    assert last.author == "Chef de projet PVD" and last.message == "retour au périmètre délibéré"


def _pick(page, name: str) -> None:
    page.locator("#ed-list button", has_text=name).click()
    page.wait_for_function("document.querySelector('#ed-status').textContent"
                           ".includes('sélectionné')")


def test_split_merge_cut_a_hole_move_an_action_and_delete(chromium, site):
    base, st, keys = site
    halles = st.get("secteurs_ort", "scam-les-halles").geometry
    area = halles.area
    cx, cy = halles.centroid.x, halles.centroid.y
    with open_site(chromium, base + "/editeur") as (page, visit):
        page.on("dialog", lambda d: d.accept())  # "Supprimer … ?"
        _sign_in(page, keys["editor"])
        # Split: a line across the sector, from outside to outside.
        _pick(page, "Quartier des Halles")
        _view(page, cx, cy, 15)
        page.click("#ed-split")
        # Across its width: along the short side of its minimum rotated rectangle.
        corners = list(halles.minimum_rotated_rectangle.exterior.coords)
        edges = [(corners[i + 1][0] - corners[i][0], corners[i + 1][1] - corners[i][1])
                 for i in range(2)]
        ux, uy = min(edges, key=lambda e: e[0] ** 2 + e[1] ** 2)
        start, end = (_point(page, cx - 0.75 * ux, cy - 0.75 * uy),
                      _point(page, cx + 0.75 * ux, cy + 0.75 * uy))
        box = page.locator("#ed-map").bounding_box()
        assert all(box["y"] < p[1] < box["y"] + box["height"] for p in (start, end)), (box, start, end, ux, uy, page.evaluate("ortGeoEditor.map.getZoom()"))
        page.mouse.click(*start)
        page.mouse.dblclick(*end)  # a double click ends the line
        _status_has(page, "coupée en deux")
        _saved_after(page, "#ed-save")
        a, b = st.get("secteurs_ort", "scam-les-halles"), st.get("secteurs_ort",
                                                                  "scam-les-halles-b")
        assert abs(a.geometry.area + b.geometry.area - area) < 10  # m², of 22 ha
        assert b.properties["nom"] == "Quartier des Halles"
        # Merge them back: "Fusionner avec…", then a click on the other part.
        _view(page, cx, cy, 15)
        page.click("#ed-merge")
        inside_b = b.geometry.representative_point()
        page.mouse.click(*_point(page, inside_b.x, inside_b.y))
        _status_has(page, "Zones réunies")
        _saved_after(page, "#ed-save")
        assert st.read("secteurs_ort", ids=["scam-les-halles-b"]).empty
        merged = st.get("secteurs_ort", "scam-les-halles").geometry
        assert abs(merged.area - area) < 10 and merged.geom_type in ("Polygon", "MultiPolygon")
        # Cut a 40 m hole in its middle, undo it, redo it, save.
        inner = halles.representative_point()
        page.click("#ed-hole")
        _draw_polygon(page, [(inner.x - 20, inner.y - 20), (inner.x + 20, inner.y - 20),
                             (inner.x + 20, inner.y + 20), (inner.x - 20, inner.y + 20)])
        _status_has(page, "Trou découpé")
        page.click("#ed-undo")
        page.click("#ed-redo")
        _saved_after(page, "#ed-save")
        holed = st.get("secteurs_ort", "scam-les-halles").geometry
        assert 1000 < area - holed.area < 2500
        # Move an action (a point) 100 px to the east by dragging it.
        page.select_option("#ed-layer", "actions")
        actions = st.read("actions")
        fid = str(actions[actions.geometry.geom_type == "Point"]["id"].iloc[0])
        action = st.get("actions", fid)
        page.locator("#ed-list button", has_text=action.properties["titre"]).click()
        page.wait_for_function("document.querySelector('#ed-status').textContent"
                               ".includes('sélectionné')")
        _view(page, action.geometry.x, action.geometry.y, 16)
        page.click("#ed-move")
        px, py = _point(page, action.geometry.x, action.geometry.y)
        page.mouse.move(px, py - 5)  # on the marker's icon
        page.mouse.down()
        page.mouse.move(px + 100, py - 5, steps=10)
        page.wait_for_timeout(300)
        page.mouse.up()
        _saved_after(page, "#ed-save")
        moved = st.get("actions", fid).geometry
        assert 120 < moved.distance(action.geometry) < 200  # 100 px at zoom 16 ≈ 160 m
        # Delete a zone drawn for nothing (made through the API, deleted in the editor).
        assert visit.errors == []
    with open_site(chromium, base + "/editeur") as (page, visit):
        page.on("dialog", lambda d: d.accept())
        _sign_in(page, keys["editor"])
        _pick(page, "Quartier des Halles")
        page.click("#ed-delete")
        page.wait_for_function("document.querySelector('#ed-status').textContent"
                               ".includes('supprimé')", timeout=15000)
        assert visit.errors == []
    assert st.read("secteurs_ort", ids=["scam-les-halles"]).empty
    assert st.history("secteurs_ort", "scam-les-halles")[-1].operation == "delete"


def _status_has(page, text: str) -> None:
    try:
        page.wait_for_function("(t) => document.querySelector('#ed-status').textContent"
                               ".includes(t)", arg=text, timeout=15000)
    except Exception:
        raise AssertionError(f"attendu « {text} », lu : {page.inner_text('#ed-status')}") from None


def _saved_after(page, button: str) -> None:
    page.evaluate("document.querySelector('#ed-status').textContent = ''")
    page.click(button)
    _saved(page)


def test_editor_has_no_wcag_violation(chromium, site):
    """axe-core (tests/axe_audit.py, WCAG 2.1 A and AA) on the editor, signed out and signed in."""
    from axe_audit import assert_accessible

    base, st, keys = site
    with open_site(chromium, base + "/editeur") as (page, visit):
        assert_accessible(page)
        page.keyboard.type(keys["editor"])
        page.keyboard.press("Enter")
        page.wait_for_function(READY, timeout=30000)
        assert_accessible(page)


def test_api_documentation_is_french_offline_with_no_wcag_violation(chromium, site):
    """``/api.html`` (the landing page's ``service-doc``): every operation of the definition,
    in French, nothing fetched from elsewhere (it was Swagger UI from a CDN), axe-core clean."""
    from axe_audit import assert_accessible

    base, _st, _keys = site
    with open_site(chromium, base + "/api.html") as (page, visit):
        text = page.inner_text("main")
        assert "/collections/secteurs_ort/items" in text and "Paramètres" in text
        assert "Successful" not in text
        assert page.locator("main h3").count() > 30  # one heading per operation
        assert_accessible(page)
    assert visit.errors == [] and visit.blocked == []


def test_a_vertex_dropped_a_few_pixels_off_a_neighbour_s_vertex_lands_on_it(chromium, site):
    base, st, keys = site
    centre = st.get("secteurs_ort", SECTOR).geometry
    ring = shapely.get_coordinates(max(shapely.get_parts(centre), key=lambda p: p.area).exterior)
    vx, vy = ring[ring[:, 0].argmax()]  # the eastmost vertex: drawing east of it stays outside
    with open_site(chromium, base + "/editeur") as (page, visit):
        _sign_in(page, keys["editor"])  # ready: the zones to snap to are loaded
        _view(page, vx + 60, vy, zoom=17)
        page.click("#ed-new")
        # 4 px right and 3 px down of the vertex, positions computed by the map itself.
        px, py = _point(page, vx, vy)
        # Geoman snaps the hint marker while the mouse moves; the click drops it there.
        page.mouse.move(px - 16, py - 17)
        page.mouse.move(px + 4, py + 3, steps=5)
        page.wait_for_timeout(150)
        page.mouse.click(px + 4, py + 3)
        page.wait_for_timeout(150)
        for x, y in ((vx + 100, vy - 50), (vx + 100, vy + 50)):
            page.mouse.click(*_point(page, x, y))
            page.wait_for_timeout(150)
        page.mouse.move(px + 4, py + 3, steps=5)
        page.wait_for_timeout(150)
        page.mouse.click(px + 4, py + 3)  # back on the first vertex closes the ring
        page.wait_for_selector("#ed-form-panel:not([hidden])")
        drawn = page.evaluate("""(() => {
            let ll = ortGeoEditor.working.getLatLngs();
            while (Array.isArray(ll[0][0])) ll = ll[0];
            return ll[0].map((p) => [p.lng, p.lat]); })()""")
        assert visit.errors == []
    lat, lon = _lonlat(vx, vy)
    # Unsnapped, 5 px at zoom 17 are about 4 m (4e-5 degree); snapped, the vertex is the
    # neighbour's to the precision of the GeoJSON the page read (7 decimals).
    assert min(abs(x - lon) + abs(y - lat) for x, y in drawn) < 3e-7, (drawn, lon, lat)


DRAWN = ("Object.values(ortGeoEditor.buildings._vectorTiles)"
         ".reduce((n, t) => n + Object.keys(t._features).length, 0)")


def test_buildings_come_tile_by_tile_from_the_api_wherever_the_map_goes(chromium, site,
                                                                        tmp_path):
    """The editor draws buildings from the OGC API – Tiles routes (key sent with each request),
    in every commune of the store, not from one archive of one town."""
    base, st, keys = site
    frame = st.read("batiments", columns=["code_insee"])
    communes = sorted(set(frame["code_insee"]))
    assert len(communes) >= 2
    with open_site(chromium, f"{base}/editeur") as (page, visit):
        answers: list[tuple[str, int]] = []
        page.on("response", lambda r: answers.append((r.url, r.status))
                if "/tiles/WebMercatorQuad/" in r.url else None)
        _sign_in(page, keys["staff"])
        for code in communes[:1] + communes[-1:]:
            point = frame[frame["code_insee"] == code].geometry.iloc[0].representative_point()
            _view(page, point.x, point.y, 17)
            page.wait_for_function(f"{DRAWN} > 0", timeout=20000)
            drawn = page.evaluate(DRAWN)
            # What the page drew is what the API's tiles of this view hold.
            ids = page.evaluate("Object.values(ortGeoEditor.buildings._vectorTiles)"
                                ".flatMap(t => Object.keys(t._features))")
            assert drawn == len(ids) and set(ids) <= set(st.read("batiments", columns=[])["id"])
            page.screenshot(path=str(tmp_path / f"editeur-{code}.png"))
        assert answers and all(status in (200, 204) for _, status in answers), answers[:5]
        assert all("/batiments/tiles/WebMercatorQuad/17/" not in url for url, _ in answers)
        assert any("/batiments/tiles/WebMercatorQuad/16/" in url for url, _ in answers)
        assert not visit.errors, visit.errors


# The building grids of the served staff map (folium names its variables at random).
MAP_GRIDS = ("Object.values(ortGeo.map._layers).filter(l => l._vectorTiles)")
MAP_DRAWN = (f"{MAP_GRIDS}.flatMap(g => Object.values(g._vectorTiles))"
             ".reduce((n, t) => n + Object.keys(t._features).length, 0)")


def test_the_served_staff_map_draws_buildings_from_the_api_tiles_with_its_key(chromium, site,
                                                                              tmp_path):
    """``/carte``: the working map served by the API asks for a key, then draws buildings of
    every commune of the store from the OGC API – Tiles routes (not an embedded archive), each
    tile fetched with that key and carrying the staff fields; a wrong key gets a French refusal."""
    base, st, keys = site
    frame = st.read("batiments", columns=["code_insee", "nb_logements_vacants"])
    communes = sorted(set(frame["code_insee"]))
    with open_site(chromium, f"{base}/carte") as (page, visit):
        tile_requests: list[tuple[str, str | None]] = []
        answers: list[int] = []
        page.on("request", lambda r: tile_requests.append((r.url, r.headers.get("x-api-key")))
                if "/tiles/WebMercatorQuad/" in r.url else None)
        page.on("response", lambda r: answers.append(r.status)
                if "/tiles/WebMercatorQuad/" in r.url else None)
        page.fill("#og-key", "pas-une-cle")
        page.press("#og-key", "Enter")
        page.wait_for_function("document.getElementById('og-login-error').textContent !== ''")
        assert "Connexion refusée" in page.inner_text("#og-login-error")
        page.fill("#og-key", keys["staff"])
        page.press("#og-key", "Enter")
        page.wait_for_function("window.ortGeoReady === true", timeout=30000)
        html = page.content()
        assert "ortGeoTiles.archive(" not in html and "diffusion restreinte" in html
        assert page.evaluate(f"{MAP_GRIDS}.length") == 1  # by condition (vacancy: unticked)
        for code in communes[:1] + communes[-1:]:
            point = frame[frame["code_insee"] == code].geometry.iloc[0].representative_point()
            page.evaluate("([ll, z]) => ortGeo.map.setView(ll, z, {animate: false})",
                          [_lonlat(point.x, point.y), 17])
            page.wait_for_function(f"{MAP_DRAWN} > 0", timeout=20000)
            ids = page.evaluate(f"{MAP_GRIDS}.flatMap(g => Object.values(g._vectorTiles))"
                                ".flatMap(t => Object.keys(t._features))")
            assert set(ids) <= set(st.read("batiments", columns=[])["id"])
            # Staff tiles: the restricted vacancy count is there for the vacancy colouring.
            props = page.evaluate(f"{MAP_GRIDS}.flatMap(g => Object.values(g._vectorTiles))"
                                  ".flatMap(t => Object.values(t._features))"
                                  ".map(f => f.feature.properties)")
            assert any("nb_logements_vacants" in p for p in props)
        page.screenshot(path=str(tmp_path / "carte-travail-servie.png"))
        assert tile_requests and all(key == keys["staff"] for _, key in tile_requests)
        assert {url.split("/WebMercatorQuad/")[1].split("/")[0] for url, _ in tile_requests} \
            == {"16"}  # over-zoomed beyond the last level
        assert answers and set(answers) <= {200, 204}
        assert not visit.errors, visit.errors


def test_the_editor_and_the_served_map_link_to_each_other_keeping_the_session(chromium, site,
                                                                              tmp_path):
    """The editor's header links to ``/carte`` and the map's to the editor: following them in
    the tab keeps the session (the key in sessionStorage, never in a URL nor a cookie), so the
    map opens with its staff tiles and the editor signs in again without asking for the key."""
    base, _, keys = site
    with open_site(chromium, f"{base}/editeur") as (page, visit):
        _sign_in(page, keys["staff"])
        page.screenshot(path=str(tmp_path / "editeur-lien-carte.png"))
        sent: list[tuple[str, str | None]] = []
        page.on("request", lambda r: sent.append((r.url, r.headers.get("x-api-key"))))
        page.get_by_role("link", name="Carte de travail").click()
        page.wait_for_function("window.ortGeoReady === true", timeout=30000)
        assert page.url == f"{base}/carte"
        assert any(url.endswith("/carte/contenu") and key == keys["staff"] for url, key in sent)
        page.screenshot(path=str(tmp_path / "carte-lien-editeur.png"))
        page.get_by_role("link", name="Éditeur des secteurs et des zones").click()
        page.wait_for_function(READY, timeout=30000)
        assert page.url == f"{base}/editeur"
        assert "Anah 68" in page.inner_text("#ed-who")
        assert not any(keys["staff"] in url for url, _ in sent)
        assert page.context.cookies() == []
        assert not visit.errors, visit.errors
    # The sign-in page of /carte (no session) links to the editor too.
    with open_site(chromium, f"{base}/carte") as (page, visit):
        link = page.get_by_role("link", name="Éditeur des secteurs et des zones")
        assert link.get_attribute("href") == "editeur"
