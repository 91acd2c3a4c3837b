"""Coordinate reference systems: the territory's, and those of incoming data (check, infer, reproject).

A store keeps its geometries in its territory's official projected CRS (:func:`territory_epsg`):
Lambert-93 (EPSG:2154) in metropolitan France; overseas RGAF09 / UTM 20N (5490, Guadeloupe and
Martinique), RGFG95 / UTM 22N (2972, Guyane), RGR92 / UTM 40S (2975, La Réunion) and RGM04 /
UTM 38S (4471, Mayotte). The store says which (``Store.epsg``); everything else reads it there.

Files reach planners with a declared CRS, a wrong one, or none at all (CSV, old shapefiles without
``.prj``). A declared CRS is checked against the coordinates, then reprojected to the store's CRS
(the *target*). A missing one is inferred from the coordinate ranges among the systems met on the
territory (:func:`candidates`: WGS84, Lambert-93 and CC48 in metropolitan France; WGS84 and the
local UTM projection overseas) by testing the data's bounds against each candidate's area of use
(pyproj) intersected with the target's. Exactly one candidate must fit; otherwise the user is asked
to declare it. Coordinates that only fit with x and y exchanged are refused as swapped, with a hint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from pyproj import CRS, Transformer

from .errors import AmbiguousCRSError, CRSError, SwappedAxesError

if TYPE_CHECKING:
    import geopandas as gpd

#: Lambert-93: the CRS of metropolitan stores, and of every store made before stores had their own.
STORAGE_EPSG = 2154
#: The official projected CRS of each overseas département (INSEE code); Lambert-93 elsewhere.
OVERSEAS_EPSG: dict[str, int] = {"971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}
#: Every CRS a store may use.
TERRITORY_EPSG: tuple[int, ...] = (STORAGE_EPSG, 5490, 2972, 2975, 4471)
#: Where each territory CRS applies, in French.
REGIONS: dict[int, str] = {2154: "France métropolitaine", 5490: "Guadeloupe et Martinique",
                           2972: "Guyane", 2975: "La Réunion", 4471: "Mayotte"}
#: Candidates for inference in metropolitan France, in the order they are reported.
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


_NAMES = {4326: "WGS84", 2154: "Lambert-93", 3948: "CC48", 5490: "RGAF09 / UTM 20N",
          2972: "RGFG95 / UTM 22N", 2975: "RGR92 / UTM 40S", 4471: "RGM04 / UTM 38S"}


def departement_of(insee: str) -> str:
    """The département code of a commune: three digits overseas ("974"), else two ("68", "2A")."""
    return insee[:3] if insee.startswith("97") else insee[:2]


def territory_epsg(insee: str) -> int:
    """The official projected CRS of the territory a commune (INSEE code) belongs to."""
    return OVERSEAS_EPSG.get(departement_of(insee), STORAGE_EPSG)


def candidates(target: int = STORAGE_EPSG) -> tuple[int, ...]:
    """The CRSs an undeclared file on a territory stored in ``target`` may be in."""
    return CANDIDATES if target == STORAGE_EPSG else (4326, target)


def crs_label(crs: CRS | int) -> str:
    """'WGS 84 (EPSG:4326)', or the CRS name when it has no EPSG code."""
    crs = CRS.from_epsg(crs) if isinstance(crs, int) else crs
    code = crs.to_epsg(min_confidence=70)
    if code is None:
        return crs.name
    return f"{_NAMES.get(code, crs.name)} (EPSG:{code})"


@cache
def area_of(epsg: int) -> Bounds:
    """Where a territory CRS applies, in lon/lat: its area of use."""
    area = CRS.from_epsg(epsg).area_of_use
    assert area is not None
    return area.west, area.south, area.east, area.north


@cache
def _domain(crs: CRS, target: int = STORAGE_EPSG) -> Bounds:
    """Where coordinates in ``crs`` may legitimately fall, in lon/lat: its area of use ∩ the
    target's (the territory's region)."""
    fw, fs, fe, fn = area_of(target)
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


def fits(bounds: Bounds, crs: CRS, target: int = STORAGE_EPSG) -> bool:
    """True when data with these bounds, read in ``crs``, lies within the CRS's domain on the
    territory stored in ``target``."""
    box = lonlat_bounds(bounds, crs)
    if box is None:
        return False
    west, south, east, north = _domain(crs, target)
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


def _where(target: int) -> str:
    return {2154: "en France", 5490: "aux Antilles", 2972: "en Guyane", 2975: "à La Réunion",
            4471: "à Mayotte"}.get(target, "sur le territoire")


def _swap_error(bounds: Bounds, crs: CRS, declared: bool,
                target: int = STORAGE_EPSG) -> SwappedAxesError:
    what = "le SCR déclaré" if declared else "le SCR"
    if crs.is_geographic:
        return SwappedAxesError(
            f"Latitude et longitude inversées : les coordonnées ({_ranges(bounds)}) ne tombent "
            f"{_where(target)} qu'en échangeant x et y — la première valeur ressemble à une latitude, la "
            f"seconde à une longitude. Avec {what} {crs_label(crs)}, l'ordre attendu est "
            "longitude puis latitude (x = longitude, comme l'exige GeoJSON RFC 7946). Corrigez "
            "l'export (ou échangez les colonnes du CSV) puis relancez l'import."
        )
    return SwappedAxesError(
        f"Axes x et y inversés : les coordonnées ({_ranges(bounds)}) ne tombent "
        f"{_where(target)} qu'en échangeant x et y dans {what} {crs_label(crs)}. Mettez l'abscisse (x, est) "
        "en premier puis relancez l'import."
    )


def data_bounds(frame: gpd.GeoDataFrame) -> Bounds:
    bounds = tuple(float(v) for v in frame.total_bounds)
    if not all(math.isfinite(v) for v in bounds):
        raise CRSError("Impossible de déterminer le SCR : aucune coordonnée exploitable.")
    return bounds  # type: ignore[return-value]


def infer_crs(bounds: Bounds, target: int = STORAGE_EPSG) -> CRSResolution:
    """The one candidate CRS whose domain holds ``bounds``; errors when none or several fit."""
    options = [CRS.from_epsg(code) for code in candidates(target)]
    fitting = [crs for crs in options if fits(bounds, crs, target)]
    names = ", ".join(crs_label(c) for c in options)
    if len(fitting) == 1:
        chosen = fitting[0]
        others = [crs_label(c) for c in options if c is not chosen]
        return CRSResolution(chosen, "inferred", (
            f"SCR absent du fichier : {crs_label(chosen)} déduit des coordonnées "
            f"({_ranges(bounds)}), seul candidat dont le domaine de validité "
            f"({_area_name(chosen, target)}) les contient ; {' et '.join(others)} écarté"
            f"{'s' if len(others) > 1 else ''}"
            + ("" if chosen.to_epsg() == target else f" ; reprojeté en {crs_label(target)}")
            + ". Précisez le SCR (--scr) s'il s'agit d'un autre système."
        ))
    if len(fitting) > 1:
        raise AmbiguousCRSError(
            f"SCR absent et ambigu : les coordonnées ({_ranges(bounds)}) conviennent à "
            f"{' comme à '.join(crs_label(c) for c in fitting)}. Indiquez le SCR des données "
            "(option --scr, par exemple --scr EPSG:2154)."
        )
    swapped = [crs for crs in options if fits(_swap(bounds), crs, target)]
    if swapped:
        raise _swap_error(bounds, swapped[0], declared=False, target=target)
    raise AmbiguousCRSError(
        f"SCR absent et impossible à déduire : les coordonnées ({_ranges(bounds)}) ne tombent "
        f"pas dans le territoire ({REGIONS.get(target, crs_label(target))}) dans aucun des "
        f"systèmes candidats ({names}). Indiquez le SCR des données (option --scr EPSG:xxxx)."
    )


def _deg(value: float, positive: str, negative: str) -> str:
    return f"{abs(value):.2f}° {positive if value >= 0 else negative}"


def _area_name(crs: CRS, target: int = STORAGE_EPSG) -> str:
    region = REGIONS.get(target, "territoire")
    if crs.to_epsg() == 4326:
        de = "de la" if target == STORAGE_EPSG else "de"
        return f"longitudes et latitudes {de} {region}"
    west, south, east, north = _domain(crs, target)
    return (f"{region}, {_deg(south, 'N', 'S')} à {_deg(north, 'N', 'S')}, "
            f"{_deg(west, 'E', 'O')} à {_deg(east, 'E', 'O')}")


def check_declared(bounds: Bounds, crs: CRS, *, given: bool = False,
                   target: int = STORAGE_EPSG) -> CRSResolution:
    """Accept a declared CRS only if the coordinates make sense in it (on the territory, right
    order)."""
    label = crs_label(crs)
    if fits(bounds, crs, target):
        origin = "indiqué" if given else "déclaré par le fichier"
        action = (f"déjà en {_NAMES.get(target, crs_label(target))}" if crs.to_epsg() == target
                  else f"reprojeté en {crs_label(target)}")
        return CRSResolution(crs, "given" if given else "declared", f"SCR {origin} : {label}, {action}.")
    if fits(_swap(bounds), crs, target):
        raise _swap_error(bounds, crs, declared=True, target=target)
    likely = [CRS.from_epsg(c) for c in candidates(target)
              if fits(bounds, CRS.from_epsg(c), target)]
    hint = (f" Elles ressemblent à du {crs_label(likely[0])} : indiquez --scr EPSG:"
            f"{likely[0].to_epsg()}." if len(likely) == 1 else
            " Vérifiez le SCR des données et indiquez-le avec --scr.")
    raise CRSError(
        f"Les coordonnées ({_ranges(bounds)}) ne correspondent pas au SCR "
        f"{'indiqué' if given else 'déclaré'} {label} : elles tombent hors du territoire "
        f"({REGIONS.get(target, crs_label(target))}).{hint}"
    )


def resolve_crs(frame: gpd.GeoDataFrame, crs: str | int | CRS | None = None, *,
                target: int = STORAGE_EPSG) -> tuple[gpd.GeoDataFrame, CRSResolution]:
    """The frame in the ``target`` CRS (the store's) and how its source CRS was decided.

    ``crs`` (e.g. ``"EPSG:3948"``) states the CRS of the coordinates, overriding the file's.
    """
    bounds = data_bounds(frame)
    if crs is not None:
        try:
            given = CRS.from_user_input(crs)
        except Exception as exc:
            raise CRSError(f"SCR inconnu : « {crs} » (exemple attendu : EPSG:2154).") from exc
        resolution = check_declared(bounds, given, given=True, target=target)
        if frame.crs is not None and not CRS(frame.crs).equals(given, ignore_axis_order=True):
            resolution = CRSResolution(given, "given", resolution.message.rstrip(".")
                                       + f" (au lieu de {crs_label(CRS(frame.crs))} déclaré "
                                       "par le fichier).")
    elif frame.crs is not None:
        resolution = check_declared(bounds, CRS(frame.crs), target=target)
    else:
        resolution = infer_crs(bounds, target)
    if resolution.source.to_epsg(min_confidence=70) == target:
        return frame.set_crs(target, allow_override=True), resolution
    out = frame.set_crs(resolution.source, allow_override=True).to_crs(target)
    return out, resolution
