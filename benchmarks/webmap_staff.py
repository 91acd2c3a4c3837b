"""``python -m benchmarks.webmap_staff``: open time of the staff map of a large synthetic town.

Builds a town of N buildings (default 50,000), writes the staff map (buildings as embedded PMTiles
vector tiles) and, as the baseline measured in the same run, the same map with the buildings as
one GeoJSON layer (folium's default way). Each page is opened offline in headless chromium; the
time runs from navigation to "map ready and building tiles drawn" (best of repeats, fresh browser
context each time, view on the town centre at zoom 16).

    python -m benchmarks.webmap_staff --buildings 50000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import folium

from ort_geo import open_store
from ort_geo.catalogue import CATALOGUE
from ort_geo.webmap import render_html, staff_map, write_map
from ort_geo.webmap.browser import READY, READY_TILES, BrowserError, browser, open_page
from ort_geo.webmap.geojson import feature_collection
from ort_geo.webmap.style import BUILDING_FIELDS

from .synthetic_town import synthetic_town

#: Start on the town centre (Sainte-Marie-aux-Mines) at zoom 16, where buildings are drawn.
VIEW = (48.246, 7.183, 16)


def _baseline(store, path: Path) -> None:
    """The staff map, but buildings as one big GeoJSON layer instead of vector tiles."""
    m = staff_map(store, basemap="aucun", view=VIEW)
    for key, child in list(m._children.items()):
        if type(child).__name__ in ("BuildingTiles", "ArchiveData"):
            del m._children[key]
    frame = store.read("batiments", columns=list(BUILDING_FIELDS))
    fields = [f for f in BUILDING_FIELDS if f != "id"]
    collection = feature_collection(CATALOGUE["batiments"], frame, fields)
    # Leaflet's own GeoJSON layer, one style for all (folium's per-feature style_function would
    # only make the baseline slower).
    layer = folium.GeoJson(collection, name="Bâtiments (GeoJSON)",
                           style={"color": "#1b2631", "weight": 0.6, "fillOpacity": 0.85}
                           ).add_to(m)
    # Scripts render in insertion order: the layer must exist before the layer switcher.
    items = list(m._children.items())
    items.insert(next(i for i, (_, c) in enumerate(items) if type(c).__name__ == "LayerControl"),
                 items.pop())
    m._children.clear()
    m._children.update(items)
    assert layer.get_name() in m._children
    path.write_text(render_html(m), encoding="utf-8")


def _open_time(instance, html: Path, ready: str, repeats: int, timeout_s: float) -> float:
    """Best opening time in seconds (``inf`` when the page is not ready within the timeout)."""
    best = float("inf")
    for _ in range(repeats):
        try:
            with open_page(instance, html, ready=ready, timeout_s=timeout_s) as (page, visit):
                assert not visit.errors, visit.errors
                best = min(best, visit.seconds)
        except BrowserError:
            break  # too slow: do not repeat
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webmap_staff")
    parser.add_argument("--buildings", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60, help="seconds per page")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ort-geo-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        with open_store(folder / "ville.gpkg", create=True) as st:
            synthetic_town(st, args.buildings)
            t1 = time.perf_counter()
            report = write_map(st, folder / "travail.html", audience="staff", basemap="aucun",
                               view=VIEW)
            t2 = time.perf_counter()
            _baseline(st, folder / "geojson.html")
        print(f"ville synthétique : {args.buildings} bâtiments ({t1 - t0:.1f} s) ; carte de "
              f"travail écrite en {t2 - t1:.1f} s, {report.size / 1e6:.1f} Mo ; "
              f"référence GeoJSON {(folder / 'geojson.html').stat().st_size / 1e6:.1f} Mo")
        with browser() as instance:
            tiles = _open_time(instance, folder / "travail.html", READY_TILES, args.repeats,
                               args.timeout)
            geojson = _open_time(instance, folder / "geojson.html", READY, args.repeats,
                                 args.timeout)

    def shown(seconds: float) -> str:
        return f"{seconds:.2f} s" if seconds != float("inf") else f"> {args.timeout:.0f} s"

    print(f"ouverture dans chromium (meilleur de {args.repeats}) :")
    print(f"  tuiles vectorielles PMTiles : {shown(tiles)}")
    print(f"  référence GeoJSON unique    : {shown(geojson)}")
    ratio = geojson / tiles
    print(f"  rapport référence / tuiles  : {'> ' if ratio == float('inf') else ''}"
          f"{(args.timeout if ratio == float('inf') else geojson) / tiles:.1f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
