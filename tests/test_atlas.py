"""The printed atlas, read back from the real PDF (pypdf), rendered by poppler when available."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pypdf
import pytest
from atlas_store import build_small_store
from click.testing import CliRunner

from atlas import build_atlas
from ort_geo import CATALOGUE, open_store
from ort_geo.atlas_plan import STAT_LABELS, format_value, plan_atlas
from ort_geo.cli import main
from ort_geo.errors import InputError
from ort_geo.privacy import MASK
from ort_geo.secrecy import restricted_columns
from ort_geo.stats import BY_NAME, sector_stats


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("atlas") / "small.gpkg"
    store = open_store(path, create=True)
    build_small_store(store)
    return store


@pytest.fixture(scope="module")
def public_pdf(small_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("pub") / "atlas-public.pdf"
    result = build_atlas(small_store, out, edition="public")
    return out, result


@pytest.fixture(scope="module")
def demo_pdf(demo_store, tmp_path_factory):
    """The public atlas of the Val d'Argent demo store, as ``make demo`` writes it."""
    out = tmp_path_factory.mktemp("demo") / "atlas-public.pdf"
    result = build_atlas(demo_store, out, edition="public")
    return out, result


@pytest.fixture(scope="module")
def staff_pdf(small_store, tmp_path_factory):
    """The staff edition, made through the command line as a planner would."""
    out = tmp_path_factory.mktemp("staff") / "atlas-staff.pdf"
    result = CliRunner().invoke(main, ["atlas", "--edition", "staff", "-o", str(out),
                                       "--store", str(small_store.path)])
    assert result.exit_code == 0, result.output
    return out, result.output


def _texts(path: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(path).pages]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\xa0", " "))


def test_demo_atlas_has_a_page_per_sector_and_zone(demo_store, demo_pdf):
    path, result = demo_pdf
    sectors, zones = demo_store.count("secteurs_ort"), demo_store.count("permis_de_louer")
    assert sectors >= 3 and zones >= 1
    reader = pypdf.PdfReader(path)
    assert len(reader.pages) == 3 + sectors + zones + result.annex_pages
    cover = reader.pages[0].extract_text()
    assert "Communauté de communes du Val d'Argent" in cover
    assert "Haut-Rhin (68)" in cover
    assert "Noëllie Hestin" in cover  # signatories from the territory's manifest
    assert "13/07/2023" in cover
    # every action of the store is listed once in the annex
    annex = _norm("\n".join(p.extract_text() for p in reader.pages[-result.annex_pages:]))
    for title in demo_store.read("actions")["titre"]:
        assert _norm(title)[:30] in annex


def test_page_count_matches_sectors_zones_and_annex(small_store, public_pdf, staff_pdf):
    sectors, zones = small_store.count("secteurs_ort"), small_store.count("permis_de_louer")
    path, result = public_pdf
    assert (result.sectors, result.zones) == (sectors, zones)
    assert len(pypdf.PdfReader(path).pages) == 3 + sectors + zones + result.annex_pages
    staff_path, _ = staff_pdf
    # the staff edition adds a building map after each sector and zone page
    assert len(pypdf.PdfReader(staff_path).pages) == 3 + 2 * (sectors + zones) + \
        result.annex_pages


@pytest.mark.parametrize("which", ["small", "demo"])
def test_sector_pages_show_their_name_and_the_figures_of_ort_geo_stats(which, request):
    small_store = request.getfixturevalue("small_store" if which == "small" else "demo_store")
    path, _ = request.getfixturevalue("public_pdf" if which == "small" else "demo_pdf")
    texts = [_norm(t) for t in _texts(path)]
    plan = plan_atlas(small_store, edition="public")
    for layer, pages in (("secteurs_ort", plan.sectors), ("permis_de_louer", plan.zones)):
        result = CliRunner().invoke(main, [
            "stats", layer, "--public", "--format", "json", "--annee", str(plan.date.year),
            "--store", str(small_store.path)])
        assert result.exit_code == 0, result.output
        rows = {r["id"]: r for r in json.loads(result.output)}
        for page in pages:
            text = texts[3 + plan.pages.index(page)]
            assert page.name in text
            for key in STAT_LABELS:
                expected = rows[page.feature_id][key]
                kind = BY_NAME[key].kind
                shown = expected if isinstance(expected, str) else "inconnu" if (
                    expected is None and kind == "count") else format_value(
                    expected, decimals={"measure": 2, "rate": 1}.get(kind, 0))
                assert f"{_norm(STAT_LABELS[key])} {_norm(shown)}" in text, (page.name, key)
    if which == "small":  # the small sector's few buildings are a public fact: shown as they are
        small = next(p for p in plan.sectors if p.feature_id == "scam-centre")
        staff = sector_stats(small_store, "secteurs_ort").set_index("id")
        count = int(staff.at["scam-centre", "batiments"])
        assert 0 < count < 11
        text = texts[3 + plan.pages.index(small)]
        assert f"Bâtiments {count}" in text and "Logements vacants secret" in text


@pytest.mark.parametrize("which", ["small", "demo"])
def test_public_edition_carries_no_private_value(which, request):
    small_store = request.getfixturevalue("small_store" if which == "small" else "demo_store")
    path, _ = request.getfixturevalue("public_pdf" if which == "small" else "demo_pdf")
    text = "\n".join(_texts(path))
    private = [f.name for layer in CATALOGUE for f in layer.fields if not f.public]
    for name in private:
        assert name not in text, name
    buildings = small_store.read("batiments")
    ids = [v for v in list(buildings["id"]) + list(buildings["rnb_id"]) if isinstance(v, str)]
    assert ids
    assert not [v for v in ids if v in text]
    flat = _norm(text)
    addresses = {a for a in buildings["adresse"].dropna() if a}
    assert not [a for a in addresses if _norm(a) in flat]
    assert "diffusion restreinte" not in text.lower()
    assert not re.search(r"\b(nan|None|NaT)\b", text)
    # every published count of restricted data is 0, masked, or at least 11
    # (a complete coverage, equal to the public count it covers, tells nothing about a building)
    covers = {"batiments_vacance_connue": "batiments", "batiments_etat_connu": "batiments",
              "logements_vacance_connue": "logements"}
    plan = plan_atlas(small_store, edition="public")
    for page in plan.pages:
        shown_of = {line.key: (line.value, line.territory) for line in page.stats}
        for line in page.stats:
            if line.key in restricted_columns():
                for i, shown in enumerate((line.value, line.territory)):
                    if shown not in (MASK, "inconnu"):
                        value = int(shown.replace("\u202f", ""))
                        complete = line.key in covers and shown == shown_of.get(
                            covers[line.key], (None, None))[i]
                        assert value == 0 or value >= 11 or complete, (page.name, line.key, shown)


def test_staff_edition_is_marked_restricted_on_every_page(staff_pdf, small_store):
    path, _ = staff_pdf
    texts = _texts(path)
    assert all("DIFFUSION RESTREINTE" in t for t in texts)
    # its building pages name the vacant buildings
    vacant = small_store.read("batiments", where={"id": "BATI00000000"})
    assert "Bâti et vacance" in "\n".join(texts)
    assert not vacant.empty


def test_same_store_gives_the_same_bytes(small_store, public_pdf, tmp_path, monkeypatch):
    path, _ = public_pdf
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    again = tmp_path / "again.pdf"
    build_atlas(small_store, again, edition="public")
    assert again.read_bytes() == path.read_bytes()


def test_vector_pages_with_embedded_fonts(public_pdf):
    path, _ = public_pdf
    reader = pypdf.PdfReader(path)
    fonts = set()
    for page in reader.pages:
        assert not page.images  # maps are vector paths, not pictures
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                assert "/FontFile2" in descriptor  # TrueType embedded
                fonts.add(str(descendant.get_object()["/BaseFont"]))
    assert any("DejaVuSans" in f for f in fonts)
    # each page's legend names what is on that page: the îlot lies in the first sector only
    assert "Îlot démonstrateur" in reader.pages[3].extract_text()
    assert "Îlot démonstrateur" not in reader.pages[4].extract_text()
    assert "Échelle 1:" in reader.pages[4].extract_text()
    width, height = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert (round(width), round(height)) == (842, 595)  # A4 landscape, in points


@pytest.mark.shared
def test_a3_with_relief_from_a_real_dem_and_a_fixed_date(small_store, shared_data, tmp_path,
                                                          monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 14/11/2023
    out = tmp_path / "a3.pdf"
    build_atlas(small_store, out, paper="A3",
                dem=shared_data / "dem" / "srtm3_val-d-argent_clip.tif")
    reader = pypdf.PdfReader(out)
    page = reader.pages[4]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (1191, 842)
    assert reader.pages[2].images  # the overview carries the relief shading
    assert "Relief" in reader.pages[3].extract_text()
    # SOURCE_DATE_EPOCH fixes the date printed and recorded
    assert reader.metadata["/CreationDate"].startswith("D:20231114")
    assert "14/11/2023" in reader.pages[0].extract_text()


@pytest.mark.parametrize("kwargs, message", [
    ({"edition": "privee"}, "Édition inconnue"),
    ({"paper": "A5"}, "Format de papier"),
    ({"dem": "/nulle/part.tif"}, "introuvable"),
])
def test_bad_options_are_refused_and_write_nothing(small_store, tmp_path, kwargs, message):
    out = tmp_path / "atlas.pdf"
    with pytest.raises(InputError, match=message):
        build_atlas(small_store, out, **kwargs)
    assert not out.exists()


def test_empty_store_is_refused_and_an_existing_pdf_is_kept(store, tmp_path):
    out = tmp_path / "atlas.pdf"
    out.write_bytes(b"%PDF-1.4 previous")
    with pytest.raises(InputError, match="aucun secteur"):
        build_atlas(store, out)
    assert out.read_bytes() == b"%PDF-1.4 previous"
    # No temporary file left behind (the store itself may be a file here, or a PostGIS schema).
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "store.gpkg") == ["atlas.pdf"]


def test_a_file_that_is_not_a_dem_is_refused(small_store, tmp_path):
    fake = tmp_path / "mnt.tif"
    fake.write_text("pas un raster")
    with pytest.raises(InputError, match="MNT illisible"):
        build_atlas(small_store, tmp_path / "a.pdf", dem=fake)
    assert not (tmp_path / "a.pdf").exists()


def test_cli_speaks_french(staff_pdf, small_store, tmp_path):
    path, output = staff_pdf
    assert "Atlas de travail écrit" in output and "pages" in output
    assert path.read_bytes().startswith(b"%PDF")
    bad = CliRunner().invoke(main, ["atlas", "-o", str(tmp_path / "x.pdf"), "--format", "A3",
                                    "--mnt", str(tmp_path / "absent.tif"),
                                    "--store", str(small_store.path)])
    assert bad.exit_code == 2
    assert "Modèle numérique de terrain introuvable" in bad.output
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.poppler
def test_poppler_renders_the_first_sector_page(public_pdf, tmp_path):
    path, _ = public_pdf
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "4", "-l", "4", str(path),
                    str(tmp_path / "page")], check=True)
    (png,) = tmp_path.glob("page*.png")
    assert png.stat().st_size > 5_000


def test_annex_pages_repeat_the_orientation_heading():
    from atlas.pages import AnnexRow, paginate

    rows = [AnnexRow("heading", ["Orientation 1 – Redynamiser les centres-villes"], 7.0)]
    rows += [AnnexRow("action", [str(k)], 10.0) for k in range(10)]
    rows += [AnnexRow("total", ["10 actions", "–"], 5.5)]
    pages = paginate(rows, 60.0)
    assert len(pages) == 3
    assert all(sum(r.height for r in page) <= 60.0 for page in pages)
    assert [r.cells[0] for r in pages[1][:1]] == \
        ["Orientation 1 – Redynamiser les centres-villes (suite)"]
    assert [r.cells[0] for p in pages for r in p if r.kind == "action"] == \
        [str(k) for k in range(10)]


@pytest.mark.postgis
def test_postgis_copy_of_the_demo_gives_the_same_bytes(demo_store_postgis, demo_pdf, tmp_path):
    """The same atlas from either backend: a verified PostGIS copy (journal included) yields
    a byte-identical PDF."""
    path, _ = demo_pdf
    out = tmp_path / "atlas-postgis.pdf"
    build_atlas(demo_store_postgis, out, edition="public")
    assert out.read_bytes() == path.read_bytes()


def test_footer_wraps_the_full_sources_instead_of_cutting(small_store):
    from atlas import pages as P
    from atlas.layout import Sheet

    plan = plan_atlas(small_store)
    credits = [f"Source numéro {i} avec un intitulé assez long pour remplir la ligne" for i in range(8)]
    sheet = Sheet.new("A4")
    P.footer(sheet, plan, 5, 7, credits)
    printed = " ".join(t.get_text() for t in sheet.fig.texts)
    assert "…" not in printed
    joined = " ".join(printed.split())  # the wrapped lines, read back as one text
    for credit in credits:
        assert credit in joined


def _lowest_baselines_mm(pdf) -> list[float]:
    """Per page of a real PDF, the height (mm) of its lowest line of text above the bottom
    edge: the baselines pypdf reads from the text matrices."""
    lowest = []
    for page in pypdf.PdfReader(pdf).pages:
        ys: list[float] = []

        def visit(text, cm, tm, font, size, ys=ys):
            if text.strip():
                ys.append(tm[4] * cm[1] + tm[5] * cm[3] + cm[5])

        page.extract_text(visitor_text=visit)
        lowest.append((min(ys) - float(page.mediabox.bottom)) * 25.4 / 72)
    return lowest


def test_every_demo_page_keeps_its_last_sources_line_clear_of_the_edge(demo_pdf):
    """The demo's sector pages credit many sources (five footer lines): the footer rises
    instead of running off the page."""
    path, _ = demo_pdf
    assert min(_lowest_baselines_mm(path)) >= 4.5


@pytest.mark.parametrize("sources", [0, 6, 14])
def test_a_sector_page_makes_room_for_any_number_of_source_lines(small_store, sources):
    import io

    from matplotlib.lines import Line2D

    from atlas import pages as P
    from atlas.layout import DESIGN_H, Sheet

    plan = plan_atlas(small_store)
    for k, layer in enumerate(plan.layers if sources else []):  # long, distinct sources
        plan.credits[layer] = f"{layer} : " + " ; ".join(
            f"producteur {k}-{i} d'après un relevé de terrain détaillé" for i in range(sources))
    sheet = Sheet.new("A4")
    P.feature_page(sheet, plan, plan.sectors[0], 5, 7, 7, None)
    pdf = io.BytesIO()
    sheet.fig.savefig(pdf, format="pdf")
    assert _lowest_baselines_mm(pdf)[0] >= 4.5
    rules = [(1 - line.get_ydata()[0]) * DESIGN_H for line in sheet.fig.get_children()
             if isinstance(line, Line2D)]
    footer_rule = max(rules)  # the lowest rule of the page: the footer's top
    assert footer_rule <= 197.5 and (footer_rule < 197.5) == (sources > 0)
    for ax in sheet.fig.axes:  # map, legend and locator all above the footer
        assert (1 - ax.get_position().y0) * DESIGN_H <= footer_rule - 2.0


def test_sector_page_has_a_locator_and_an_arrow_clear_of_zones(small_store):
    from matplotlib.transforms import Bbox
    from shapely.geometry import box

    from atlas import pages as P
    from atlas.layout import Sheet
    from atlas.maps import LOCATOR_LABEL
    from ort_geo.cartography import NORTH_ARROW_GID

    plan = plan_atlas(small_store)
    sheet = Sheet.new("A4")
    P.feature_page(sheet, plan, plan.sectors[0], 5, 7, 7, None)
    assert [ax for ax in sheet.fig.axes if ax.get_label() == LOCATOR_LABEL]
    renderer = sheet.renderer()
    ax = sheet.fig.axes[0]  # the map frame, drawn first
    arrow = [a for a in [*ax.patches, *ax.texts] if a.get_gid() == NORTH_ARROW_GID]
    assert len(arrow) == 3
    extent = Bbox.union([a.get_window_extent(renderer) for a in arrow])
    (x0, y0), (x1, y1) = ax.transData.inverted().transform(extent.get_points())
    drawn = box(x0, y0, x1, y1)
    zones = [*plan.layers["secteurs_ort"].geometry, *plan.layers["permis_de_louer"].geometry]
    assert not any(drawn.intersects(g) for g in zones)


def test_north_arrow_moves_to_a_free_corner_or_out_of_the_frame():
    from shapely.geometry import box

    from ort_geo.cartography import free_corner

    extent = (0.0, 100.0, 0.0, 100.0)
    assert free_corner(extent, []) == (0.95, 0.88)
    assert free_corner(extent, [box(80, 80, 100, 100)]) == (0.05, 0.88)
    assert free_corner(extent, [box(0, 80, 100, 100)]) is None
