"""Web maps: the residents' public map and the staff map, as self-contained HTML files."""

from .maps import BANNER, BASEMAPS, MapReport, public_map, render_html, staff_map, write_map

__all__ = ["BANNER", "BASEMAPS", "MapReport", "public_map", "render_html", "staff_map",
           "write_map"]
