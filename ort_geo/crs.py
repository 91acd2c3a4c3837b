"""Coordinate reference systems of incoming data: check, infer, reproject to Lambert-93.

Files reach planners with a declared CRS, a wrong one, or none at all (CSV, old shapefiles without
``.prj``). A declared CRS is checked against the coordinates, then reprojected to EPSG:2154. A
missing one is inferred from the coordinate ranges among the systems met in Alsace — WGS84
(EPSG:4326), Lambert-93 (EPSG:2154) and the conic conformal zone CC48 (EPSG:3948) — by testing the
data's bounds against each candidate's area of use (pyproj), intersected with metropolitan France.
Exactly one candidate must fit; otherwise the user is asked to declare it. Coordinates that only fit
with x and y exchanged are refused as swapped, with a hint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import geopandas as gpd
from pyproj import CRS, Transformer

from .errors import AmbiguousCRSError, CRSError, SwappedAxesError

STORAGE_EPSG = 2154
#: Candidates for inference, in the order they are reported.
CANDIDATES: tuple[int, ...] = (4326, 2154, 3948)
#: Slack around an area of use, in degrees (data drawn slightly past a border still fits).
MARGIN_DEG = 0.05

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class CRSResolution:
    """What was decided about a frame's CRS, and why (a French sentence for the report)."""

    source: CRS
    how: str  # "declared" (by the file), "given" (by the caller) or "inferred"
    message: str


def crs_label(crs: CRS) -> str:
    """'WGS 84 (EPSG:4326)', or the CRS name when it has no EPSG code."""
    code = crs.to_epsg(min_confidence=70)
    names = {4326: "WGS84", 2154: "Lambert-93", 3948: "CC48"}
    if code is None:
        return crs.name
    return f"{names.get(code, crs.name)} (EPSG:{code})"


@cache
def _france() -> Bounds:
    """Metropolitan France in lon/lat: Lambert-93's area of use."""
    area = CRS.from_epsg(STORAGE_EPSG).area_of_use
    assert area is not None
    return area.west, area.south, area.east, area.north


@cache
def _domain(crs: CRS) -> Bounds:
    """Where coordinates in ``crs`` may legitimately fall, in lon/lat: its area of use ∩ France."""
    fw, fs, fe, fn = _france()
    area = crs.area_of_use
    if area is None:
        return fw, fs, fe, fn
    return max(area.west, fw), max(area.south, fs), min(area.east, fe), min(area.north, fn)


@cache
def _to_lonlat(crs: CRS) -> Transformer:
    return Transformer.from_crs(crs, 4326, always_xy=True)


def lonlat_bounds(bounds: Bounds, crs: CRS) -> Bounds | None:
    """Bounds reprojected to lon/lat, or None when they cannot be (outside the projection)."""
    if crs.is_geographic:
        west, south, east, north = bounds
        # Geographic data in the traditional GIS order (lon, lat), as GDAL hands it out.
        out = (west, south, east, north)
    else:
        try:
            out = _to_lonlat(crs).transform_bounds(*bounds, densify_pts=21)
        except Exception:
            return None
    return out if all(math.isfinite(v) for v in out) else None


def fits(bounds: Bounds, crs: CRS) -> bool:
    """True when data with these bounds, read in ``crs``, lies within the CRS's French domain."""
    box = lonlat_bounds(bounds, crs)
    if box is None:
        return False
    west, south, east, north = _domain(crs)
    m = MARGIN_DEG
    return (box[0] >= west - m and box[2] <= east + m and box[1] >= south - m
            and box[3] <= north + m and box[0] <= box[2] and box[1] <= box[3])


def _swap(bounds: Bounds) -> Bounds:
    return bounds[1], bounds[0], bounds[3], bounds[2]


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}".replace(",", "\u202f")
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _ranges(bounds: Bounds) -> str:
    return (f"x de {_fmt(bounds[0])} à {_fmt(bounds[2])}, "
            f"y de {_fmt(bounds[1])} à {_fmt(bounds[3])}")


def _swap_error(bounds: Bounds, crs: CRS, declared: bool) -> SwappedAxesError:
    what = "le SCR déclaré" if declared else "le SCR"
    if crs.is_geographic:
        return SwappedAxesError(
            f"Latitude et longitude inversées : les coordonnées ({_ranges(bounds)}) ne tombent en "
            f"France qu'en échangeant x et y — la première valeur ressemble à une latitude, la "
            f"seconde à une longitude. Avec {what} {crs_label(crs)}, l'ordre attendu est "
            "longitude puis latitude (x = longitude, comme l'exige GeoJSON RFC 7946). Corrigez "
            "l'export (ou échangez les colonnes du CSV) puis relancez l'import."
        )
    return SwappedAxesError(
        f"Axes x et y inversés : les coordonnées ({_ranges(bounds)}) ne tombent en France "
        f"qu'en échangeant x et y dans {what} {crs_label(crs)}. Mettez l'abscisse (x, est) "
        "en premier puis relancez l'import."
    )


def data_bounds(frame: gpd.GeoDataFrame) -> Bounds:
    bounds = tuple(float(v) for v in frame.total_bounds)
    if not all(math.isfinite(v) for v in bounds):
        raise CRSError("Impossible de déterminer le SCR : aucune coordonnée exploitable.")
    return bounds  # type: ignore[return-value]


def infer_crs(bounds: Bounds) -> CRSResolution:
    """The one candidate CRS whose domain holds ``bounds``; errors when none or several fit."""
    candidates = [CRS.from_epsg(code) for code in CANDIDATES]
    fitting = [crs for crs in candidates if fits(bounds, crs)]
    names = ", ".join(crs_label(c) for c in candidates)
    if len(fitting) == 1:
        chosen = fitting[0]
        others = [crs_label(c) for c in candidates if c is not chosen]
        return CRSResolution(chosen, "inferred", (
            f"SCR absent du fichier : {crs_label(chosen)} déduit des coordonnées "
            f"({_ranges(bounds)}), seul candidat dont le domaine de validité "
            f"({_area_name(chosen)}) les contient ; {' et '.join(others)} écartés. "
            "Précisez le SCR (--scr) s'il s'agit d'un autre système."
        ))
    if len(fitting) > 1:
        raise AmbiguousCRSError(
            f"SCR absent et ambigu : les coordonnées ({_ranges(bounds)}) conviennent à "
            f"{' comme à '.join(crs_label(c) for c in fitting)}. Indiquez le SCR des données "
            "(option --scr, par exemple --scr EPSG:2154)."
        )
    swapped = [crs for crs in candidates if fits(_swap(bounds), crs)]
    if swapped:
        raise _swap_error(bounds, swapped[0], declared=False)
    raise AmbiguousCRSError(
        f"SCR absent et impossible à déduire : les coordonnées ({_ranges(bounds)}) ne tombent en "
        f"France métropolitaine dans aucun des systèmes candidats ({names}). Indiquez le SCR des "
        "données (option --scr EPSG:xxxx)."
    )


def _area_name(crs: CRS) -> str:
    if crs.to_epsg() == 4326:
        return "longitudes et latitudes de la France métropolitaine"
    west, south, east, north = _domain(crs)
    return f"France, {south:.2f}° à {north:.2f}° N, {west:.2f}° à {east:.2f}° E"


def check_declared(bounds: Bounds, crs: CRS, *, given: bool = False) -> CRSResolution:
    """Accept a declared CRS only if the coordinates make sense in it (France, right order)."""
    label = crs_label(crs)
    if fits(bounds, crs):
        origin = "indiqué" if given else "déclaré par le fichier"
        action = ("déjà en Lambert-93" if crs.to_epsg() == STORAGE_EPSG
                  else "reprojeté en Lambert-93 (EPSG:2154)")
        return CRSResolution(crs, "given" if given else "declared", f"SCR {origin} : {label}, {action}.")
    if fits(_swap(bounds), crs):
        raise _swap_error(bounds, crs, declared=True)
    likely = [CRS.from_epsg(c) for c in CANDIDATES if fits(bounds, CRS.from_epsg(c))]
    hint = (f" Elles ressemblent à du {crs_label(likely[0])} : indiquez --scr EPSG:"
            f"{likely[0].to_epsg()}." if len(likely) == 1 else
            " Vérifiez le SCR des données et indiquez-le avec --scr.")
    raise CRSError(
        f"Les coordonnées ({_ranges(bounds)}) ne correspondent pas au SCR "
        f"{'indiqué' if given else 'déclaré'} {label} : elles tombent hors de France "
        f"métropolitaine.{hint}"
    )


def resolve_crs(frame: gpd.GeoDataFrame, crs: str | int | CRS | None = None
                ) -> tuple[gpd.GeoDataFrame, CRSResolution]:
    """The frame in EPSG:2154 and how its source CRS was decided.

    ``crs`` (e.g. ``"EPSG:3948"``) states the CRS of the coordinates, overriding the file's.
    """
    bounds = data_bounds(frame)
    if crs is not None:
        try:
            given = CRS.from_user_input(crs)
        except Exception as exc:
            raise CRSError(f"SCR inconnu : « {crs} » (exemple attendu : EPSG:2154).") from exc
        resolution = check_declared(bounds, given, given=True)
        if frame.crs is not None and not CRS(frame.crs).equals(given, ignore_axis_order=True):
            resolution = CRSResolution(given, "given", resolution.message.rstrip(".")
                                       + f" (au lieu de {crs_label(CRS(frame.crs))} déclaré "
                                       "par le fichier).")
    elif frame.crs is not None:
        resolution = check_declared(bounds, CRS(frame.crs))
    else:
        resolution = infer_crs(bounds)
    if resolution.source.to_epsg(min_confidence=70) == STORAGE_EPSG:
        return frame.set_crs(STORAGE_EPSG, allow_override=True), resolution
    out = frame.set_crs(resolution.source, allow_override=True).to_crs(STORAGE_EPSG)
    return out, resolution
