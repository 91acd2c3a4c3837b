"""Read any vector file planners bring into a GeoDataFrame in the store's CRS, with a report.

GDAL (through pyogrio) does the parsing, as everywhere in the field: GeoJSON, GeoPackage, Shapefile
(a ``.shp``, its folder or a ``.zip``), KML/KMZ, FlatGeobuf and CSV with a WKT column or lon/lat
columns. This module decides what GDAL cannot: whether a file is what its name claims, which text
encoding an old DBF or CSV uses, which CRS undeclared coordinates are in (:mod:`ort_geo.crs`), and
what to do with empty or invalid geometries.
"""

from __future__ import annotations

import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS

from .. import geomcheck
from ..crs import STORAGE_EPSG, crs_label, resolve_crs
from ..errors import (
    EncodingError,
    FormatError,
    GeometryError,
    InputError,
    TooLargeError,
    with_detail,
)
from .report import ImportReport
from .table import unguard_formulas

#: Extension -> (format name for messages, GDAL drivers that may legitimately open it). OGC
#: JSON-FG is GeoJSON with extra members: GDAL opens a GeoJSON file with its JSONFG driver as
#: soon as one geometry has a JSON-FG type ("MultiSurface", "CircularString"…).
EXTENSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    ".geojson": ("GeoJSON", ("GeoJSON", "JSONFG")),
    ".json": ("GeoJSON", ("GeoJSON", "JSONFG", "ESRIJSON", "TopoJSON")),
    ".gpkg": ("GeoPackage", ("GPKG",)),
    ".shp": ("Shapefile", ("ESRI Shapefile",)),
    ".kml": ("KML", ("LIBKML", "KML")),
    ".kmz": ("KMZ", ("LIBKML", "KML")),
    ".fgb": ("FlatGeobuf", ("FlatGeobuf",)),
    ".csv": ("CSV", ("CSV",)),
    ".txt": ("CSV", ("CSV",)),
    ".tsv": ("CSV", ("CSV",)),
}
#: CSV geometry columns GDAL should recognise (case-insensitive), then drop from the attributes.
CSV_OPTIONS = {
    "GEOM_POSSIBLE_NAMES": "wkt,geometry,geom,the_geom,geometrie,géométrie",
    "X_POSSIBLE_NAMES": "lon,lng,long,longitude,x",
    "Y_POSSIBLE_NAMES": "lat,latitude,y",
    "KEEP_GEOM_COLUMNS": "NO",
    "AUTODETECT_TYPE": "NO",  # keep text ("06800", "1,5"): the catalogue types the values
    "EMPTY_STRING_AS_NULL": "YES",
}
#: Placemark attributes LIBKML adds to every layer: styling and time, never domain data.
KML_STANDARD = ("timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude",
                "visibility", "drawOrder", "icon", "snippet")
#: Columns used to name a feature in messages, in order of preference (case-insensitive).
_LABEL_COLUMNS = ("id", "code_insee", "code", "identifiant", "nom", "name")
MAX_LISTED = 15
#: Suffixes of the parts of a layer split by geometry type (see ort_geo.io.write).
_SPLIT_SUFFIXES = ("points", "lignes", "polygones")

Progress = Callable[[str], None]


@dataclass
class _Source:
    """Where GDAL should read, and what the file claimed to be."""

    gdal_path: str
    name: str
    kind: str
    drivers: tuple[str, ...] = ()
    open_options: dict[str, str] = field(default_factory=dict)
    is_dbf: bool = False


def read_vector(
    path: str | Path,
    *,
    crs: str | int | None = None,
    layer: str | None = None,
    repair: bool = True,
    prefer_layer: str | None = None,
    progress: Progress | None = None,
    target: int = STORAGE_EPSG,
    columns: Sequence[str] | None = None,
    skip_features: int = 0,
    max_features: int | None = None,
) -> tuple[gpd.GeoDataFrame, ImportReport]:
    """Read a vector file into a GeoDataFrame in ``target`` (the store's CRS, ``Store.epsg``),
    with a French report.

    ``layer`` picks a layer (or a shapefile) inside a multi-layer source; ``crs`` states the CRS of
    the coordinates (overriding the file's; inferred when both are missing). Invalid geometries are
    repaired (reported per feature) or, with ``repair=False``, refused. Attributes are kept as read:
    mapping them to a catalogue layer is :func:`ort_geo.io.import_file`'s job.

    ``columns`` reads only those attributes (matched without case; absent ones are ignored),
    ``skip_features`` / ``max_features`` one chunk of a large single-layer file (see
    :func:`layer_size`): a département's buildings need not be in memory at once.

    Raises FormatError, EncodingError, CRSError (AmbiguousCRSError, SwappedAxesError) or
    GeometryError; nothing is written anywhere.
    """
    step = progress or (lambda _label: None)
    step("Lecture du fichier")
    sources = _locate(Path(path), layer, prefer_layer)
    source = sources[0]
    report = ImportReport(source=source.name)
    frames, chosen = [], []
    for part in sources:
        if part.kind == "GeoJSON" and not part.gdal_path.startswith("/vsi"):
            geomcheck.check_json_file(part.gdal_path, part.name)
        layers = _layers(part)
        names = _choose_layer(part, layers, layer, prefer_layer)
        for name in names:
            frame, encoding, driver = _read_layer(part, name, report, columns=columns,
                                                  skip_features=skip_features,
                                                  max_features=max_features)
            frames.append(frame)
        chosen += names
        if len(names) == 1 and len(layers) > 1:
            report.source_layer = names[0]
    report.format = _format_label(driver)
    if source.kind in ("KML", "KMZ"):
        frames = [_drop_kml_standard(f) for f in frames]
    frame = frames[0] if len(frames) == 1 else _concat(frames, source)
    if len(chosen) > 1:
        report.note(f"{len(chosen)} couches réunies : {', '.join(chosen)}.")
    report.encoding = encoding
    report.features = len(frame)
    report.note(f"{len(frame)} objet(s) lu(s).")
    _check_geometries(frame, source)
    geomcheck.check_frame(frame.geometry.values, feature_labels(frame), where=source.name)
    if driver in ("GeoJSON", "JSONFG") and not _declares_crs(source):
        # GDAL labels every GeoJSON WGS84 (RFC 7946), but files without a "crs" member are often
        # projected coordinates whose CRS was lost: let the coordinates decide.
        frame = frame.set_crs(None, allow_override=True)

    step("Système de coordonnées")
    declared = crs if crs is not None else frame.crs
    try:
        geographic = None if declared is None else CRS.from_user_input(declared).is_geographic
    except Exception:  # noqa: BLE001 - an unknown CRS is resolve_crs's to refuse
        geographic = False
    geomcheck.check_plausible(frame.geometry.values, feature_labels(frame), where=source.name,
                              geographic=geographic)
    frame, resolution = resolve_crs(frame, crs, target=target)
    geomcheck.check_in_france(frame.geometry.values, feature_labels(frame), where=source.name,
                              epsg=target)
    report.crs = crs_label(resolution.source)
    report.crs_inferred = resolution.how == "inferred"
    report.note(resolution.message)

    step("Géométries")
    frame = _repair(frame, report, repair)
    return frame.reset_index(drop=True), report


# -- locating the data -----------------------------------------------------------------------

def _locate(path: Path, layer: str | None, prefer: str | None) -> list[_Source]:
    if not path.exists():
        raise InputError(f"Fichier introuvable : {path}")
    if path.is_dir():
        shps = sorted(p for p in path.iterdir() if p.suffix.lower() == ".shp")
        if not shps:
            raise FormatError(f"Le dossier {path.name} ne contient aucun shapefile (.shp).")
        picked = _pick_shapefiles([p.name for p in shps], layer, prefer, path.name)
        for shp in picked:
            _check_sidecars([p.name for p in path.iterdir()], shp, path.name)
        return [_Source(str(path / shp), path.name, "Shapefile", EXTENSIONS[".shp"][1],
                        is_dbf=True) for shp in picked]
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _locate_zip(path, layer, prefer)
    kind, drivers = EXTENSIONS.get(suffix, ("", ()))
    if suffix == ".shp":
        siblings = [p.name for p in path.parent.iterdir() if p.stem == path.stem]
        _check_sidecars(siblings, path.name, path.name)
    options = dict(CSV_OPTIONS) if kind == "CSV" else {}
    return [_Source(str(path), path.name, kind, drivers, options, is_dbf=suffix == ".shp")]


def _locate_zip(path: Path, layer: str | None, prefer: str | None) -> list[_Source]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist()
                     if not n.endswith("/") and not n.startswith("__MACOSX/")]
    except zipfile.BadZipFile:
        raise FormatError(f"« {path.name} » n'est pas une archive ZIP valide.") from None
    shps = [n for n in names if n.lower().endswith(".shp")]
    if shps:
        picked = _pick_shapefiles(shps, layer, prefer, path.name)
        for shp in picked:
            _check_sidecars(names, shp, path.name)
        return [_Source(f"/vsizip/{path}/{shp}", path.name, "Shapefile", EXTENSIONS[".shp"][1],
                        is_dbf=True) for shp in picked]
    # A .txt in an archive is a readme far more often than a CSV.
    others = [n for n in names if Path(n).suffix.lower() in EXTENSIONS.keys() - {".txt", ".shp"}]
    if len(others) == 1:
        kind, drivers = EXTENSIONS[Path(others[0]).suffix.lower()]
        options = dict(CSV_OPTIONS) if kind == "CSV" else {}
        return [_Source(f"/vsizip/{path}/{others[0]}", path.name, kind, drivers, options)]
    listed = ", ".join(names[:10]) or "archive vide"
    raise FormatError(
        f"L'archive « {path.name} » ne contient pas de shapefile (.shp)"
        + (" mais plusieurs fichiers géographiques" if others else "")
        + f" : {listed}. Attendu : un shapefile complet (.shp, .shx, .dbf, et .prj si possible)."
    )


def check_unzipped(path: Path, limit: int) -> None:
    """Refuse (:class:`TooLargeError`) a ``.zip`` whose members hold more than ``limit`` bytes
    once inflated, counted while inflating them, ``limit + 1`` bytes at the most: the sizes an
    archive declares can lie (GDAL inflates a member to the end of its data whatever its header
    says: 80 MB read from a member declared as 1 kB). An archive Python cannot read is left to
    :func:`read_vector`, which says so."""
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
            total = 0
            for info in archive.infolist():
                total += _inflated_size(raw, info, limit - total)
                if total > limit:
                    raise TooLargeError(f"Archive trop volumineuse une fois décompressée "
                                        f"({limit // 2**20} Mo au plus).")
    except (zipfile.BadZipFile, zlib.error, struct.error):
        return


def _inflated_size(raw: Any, info: zipfile.ZipInfo, room: int) -> int:
    """The bytes ``info``'s data inflate to, up to ``room + 1``; neither its compressed nor its
    inflated declared size is trusted (the deflate stream says where it ends)."""
    raw.seek(info.header_offset)
    head = raw.read(30)
    if head[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(info.filename)
    name_length, extra_length = struct.unpack("<HH", head[26:30])
    raw.seek(info.header_offset + 30 + name_length + extra_length)
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size  # as they are: no larger than the file itself
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise FormatError(f"« {info.filename} » : méthode de compression non prise en charge "
                          "(archive ZIP ordinaire attendue).")
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    size = 0
    while not inflate.eof and size <= room:
        data = inflate.unconsumed_tail or raw.read(1 << 16)
        if not data:
            break
        size += len(inflate.decompress(data, room + 1 - size))
    return size


def _pick_shapefiles(shps: list[str], layer: str | None, prefer: str | None, where: str
                     ) -> list[str]:
    """The shapefile(s) to read: the only one, the one named, or the parts of one split export."""
    if len(shps) == 1:
        return shps
    stems = {Path(n).stem: n for n in shps}
    for wanted in (layer, prefer):
        if wanted in stems:
            return [stems[wanted]]
    # ort-geo (and others) split a mixed-geometry layer into <name>_points, _lignes, _polygones.
    bases = {stem.rpartition("_")[0] for stem in stems}
    suffixes = {stem.rpartition("_")[2] for stem in stems}
    if len(bases) == 1 and suffixes <= set(_SPLIT_SUFFIXES):
        return shps
    raise FormatError(
        f"« {where} » contient plusieurs shapefiles ({', '.join(shps)}) : précisez lequel lire "
        "(nom sans extension)."
    )


def _check_sidecars(names: list[str], shp: str, where: str) -> None:
    stem = str(Path(shp).with_suffix("")).lower()
    present = {str(Path(n).with_suffix("")).lower() + Path(n).suffix.lower() for n in names}
    missing = [ext for ext in (".shx", ".dbf") if stem + ext not in present]
    if missing:
        raise FormatError(
            f"Shapefile incomplet dans « {where} » : {', '.join(missing)} manquant(s) à côté de "
            f"{Path(shp).name}. Un shapefile se compose d'au moins .shp, .shx et .dbf."
        )


def _layers(source: _Source) -> list[str]:
    try:
        rows = pyogrio.list_layers(source.gdal_path)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise _not_recognised(source, exc) from None
    return [str(r[0]) for r in rows]


def _not_recognised(source: _Source, exc: Exception) -> FormatError:
    # GDAL's own (English) text goes to the error's detail (-v), never into the French line
    detail = str(exc).split(";")[0]
    reason = ("GDAL ne reconnaît pas son contenu" if "not recognized" in detail
              else "GDAL ne parvient pas à le lire (contenu incomplet ou endommagé)")
    claim = f"un fichier {source.kind} lisible" if source.kind else "un format géographique connu"
    return with_detail(FormatError(f"« {source.name} » n'est pas {claim} : {reason}."), exc)


def _choose_layer(source: _Source, layers: list[str], layer: str | None, prefer: str | None
                  ) -> list[str]:
    if not layers:
        raise FormatError(f"« {source.name} » ne contient aucune couche géographique.")
    if layer is not None and source.kind != "Shapefile":  # shapefiles are picked by name
        if layer not in layers:
            raise FormatError(f"Couche « {layer} » absente de « {source.name} » "
                              f"(couches : {', '.join(layers)}).")
        return [layer]
    if len(layers) == 1:
        return layers
    if prefer in layers:
        return [prefer]
    if source.kind in ("KML", "KMZ"):
        return layers  # the folders of one map: read them all
    raise FormatError(f"« {source.name} » contient plusieurs couches ({', '.join(layers)}) : "
                      "précisez laquelle importer.")


def layer_size(path: str | Path, *, layer: str | None = None,
               prefer_layer: str | None = None) -> int | None:
    """How many features :func:`read_vector` would read from ``path`` (None when it gathers
    several layers or files, which are not read in chunks)."""
    sources = _locate(Path(path), layer, prefer_layer)
    if len(sources) != 1:
        return None
    names = _choose_layer(sources[0], _layers(sources[0]), layer, prefer_layer)
    if len(names) != 1:
        return None
    try:
        info = pyogrio.read_info(sources[0].gdal_path, layer=names[0], force_feature_count=True,
                                 **sources[0].open_options)
    except (DataSourceError, DataLayerError) as exc:
        raise _not_recognised(sources[0], exc) from None
    return int(info["features"])


def _read_layer(source: _Source, name: str, report: ImportReport, *,
                columns: Sequence[str] | None = None, skip_features: int = 0,
                max_features: int | None = None) -> tuple[gpd.GeoDataFrame, str | None, str]:
    """One layer, decoding text as UTF-8 first and falling back to the file's or Windows' code page.

    GDAL reads an undeclared DBF as ISO-8859-1 and a CSV as UTF-8; French files from older tools
    are CP1252 (é, œ, ’, €), so both are tried explicitly and the choice is reported.
    """
    try:
        info = pyogrio.read_info(source.gdal_path, layer=name, **source.open_options)
    except (DataSourceError, DataLayerError) as exc:
        raise _not_recognised(source, exc) from None
    driver = info["driver"]
    if source.drivers and driver not in source.drivers:
        raise FormatError(
            f"« {source.name} » n'est pas un fichier {source.kind} : GDAL y reconnaît du "
            f"{_format_label(driver)}. Renommez-le avec la bonne extension ou réexportez-le."
        )
    chunk: dict[str, Any] = {}
    if columns is not None:
        wanted = {c.lower() for c in columns}
        chunk["columns"] = [f for f in info["fields"] if f.lower() in wanted]
    if skip_features or max_features is not None:
        chunk |= {"skip_features": skip_features, "max_features": max_features}
    declared = info.get("encoding")
    textual = source.is_dbf or driver == "CSV"
    attempts: list[str | None] = ["UTF-8"] if textual else [None]
    fallback = declared if declared and declared.upper() not in ("UTF-8", "ISO-8859-1") else "cp1252"
    attempts.append(fallback)
    for encoding in attempts:
        try:
            with warnings.catch_warnings():  # GDAL's notes: the report says what matters
                warnings.simplefilter("ignore", RuntimeWarning)
                # An unreadable geometry (unclosed ring, too few points…) becomes missing and is
                # then refused naming its feature, instead of GEOS failing the whole read.
                frame = pyogrio.read_dataframe(source.gdal_path, layer=name, encoding=encoding,
                                               on_invalid="ignore", **chunk,
                                               **source.open_options)
        except UnicodeDecodeError:
            continue
        except (DataSourceError, DataLayerError) as exc:
            raise _not_recognised(source, exc) from None
        if encoding == fallback:
            what = "DBF" if source.is_dbf else "texte"
            report.note(f"Encodage du {what} : pas d'UTF-8 valide, lu en {_encoding_label(fallback)} "
                        "(accents conservés).")
        if driver == "CSV":  # perhaps written by the tool for a spreadsheet (io.write.csv_fr)
            frame = unguard_formulas(frame)
        return frame, (encoding or declared or "UTF-8"), driver
    raise EncodingError(f"« {source.name} » : texte illisible en UTF-8 comme en "
                        f"{_encoding_label(fallback)}. Réenregistrez-le en UTF-8.")


def _declares_crs(source: _Source, head_bytes: int = 1 << 20) -> bool:
    """True when a GeoJSON file has a top-level "crs" member, or JSON-FG's "coordRefSys"
    (looked for before "features")."""
    if source.gdal_path.startswith("/vsizip/"):
        archive, _, member = source.gdal_path[len("/vsizip/"):].partition(".zip/")
        try:
            with zipfile.ZipFile(archive + ".zip") as zf, zf.open(member) as fh:
                head = fh.read(head_bytes)
        except zipfile.BadZipFile:  # data that do not match the header (size, checksum)
            raise FormatError(f"L'archive « {source.name} » est endommagée : le contenu de "
                              f"« {member} » ne correspond pas à ce qu'elle en déclare.") from None
    else:
        with open(source.gdal_path, "rb") as fh:
            head = fh.read(head_bytes)
    match = re.search(rb'"(crs|coordRefSys|features)"\s*:', head)
    return match is not None and match.group(1) != b"features"


def _encoding_label(encoding: str) -> str:
    return {"cp1252": "CP1252 (Windows-1252, Latin-1 étendu)"}.get(encoding, encoding)


def _format_label(driver: str) -> str:
    return {"GPKG": "GeoPackage", "ESRI Shapefile": "Shapefile", "LIBKML": "KML",
            "JSONFG": "JSON-FG"}.get(driver, driver)


def _drop_kml_standard(frame: pd.DataFrame) -> pd.DataFrame:
    drop = [c for c in frame.columns if c in KML_STANDARD]
    if "description" in frame.columns and frame["description"].isna().all():
        drop.append("description")
    frame = frame.drop(columns=drop)
    if "id2" in frame.columns and "id" in frame.columns:
        # LIBKML names the Placemark's XML id "id" and an "id" data field "id2": keep the data.
        frame = frame.drop(columns=["id"]).rename(columns={"id2": "id"})
    return frame


def _concat(frames: list[pd.DataFrame], source: _Source) -> gpd.GeoDataFrame:
    crss = {str(f.crs) for f in frames if isinstance(f, gpd.GeoDataFrame)}
    if len(crss) > 1:
        raise FormatError(f"« {source.name} » : ses couches n'ont pas le même SCR "
                          f"({', '.join(sorted(crss))}) ; importez-les séparément.")
    crs = next((f.crs for f in frames if isinstance(f, gpd.GeoDataFrame)), None)
    plain = [pd.DataFrame(f) for f in frames]
    return gpd.GeoDataFrame(pd.concat(plain, ignore_index=True), geometry="geometry", crs=crs)


# -- geometries ------------------------------------------------------------------------------

def feature_labels(frame: pd.DataFrame) -> list[str]:
    """'objet 3 (id=s2)' for each row: the row number and the best identifying column."""
    lower = {str(c).lower(): c for c in frame.columns}
    column = next((lower[c] for c in _LABEL_COLUMNS if c in lower), None)
    values = frame[column].tolist() if column is not None else [None] * len(frame)
    return [f"objet {i + 1}" + ("" if pd.isna(v) else f" ({column}={v})")
            for i, v in enumerate(values)]


def _listing(items: list[str]) -> str:
    shown = items[:MAX_LISTED]
    more = f"\n  … et {len(items) - len(shown)} autre(s)" if len(items) > len(shown) else ""
    return "\n  " + "\n  ".join(shown) + more


def _check_geometries(frame: Any, source: _Source) -> None:
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        hint = (" Colonnes attendues : une colonne WKT (wkt, geometry, geom) ou deux colonnes "
                "lon/lat (longitude/latitude, x/y)." if source.kind == "CSV" else "")
        raise FormatError(f"« {source.name} » ne contient aucune géométrie.{hint}")
    if frame.empty:
        raise InputError(f"« {source.name} » ne contient aucun objet.")
    geoms = frame.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        labels = np.asarray(feature_labels(frame), dtype=object)[missing].tolist()
        raise GeometryError(
            f"Géométries vides, absentes ou illisibles (anneau non fermé, trop peu de points…) "
            f"dans « {source.name} » ({len(labels)}) : elles sont refusées, rien n'a été "
            f"importé.{_listing(labels)}"
        )
    if shapely.has_z(geoms).any():
        frame.geometry = shapely.force_2d(geoms)


_FAMILIES = {
    "Polygon": "polygon", "MultiPolygon": "polygon",
    "LineString": "line", "MultiLineString": "line", "LinearRing": "line",
    "Point": "point", "MultiPoint": "point",
}
_PART_TYPES = {"polygon": ("Polygon",), "line": ("LineString",), "point": ("Point",)}


def repair_geometry(geom: shapely.Geometry) -> shapely.Geometry:
    """A valid geometry of the same family (polygonal stays polygonal), possibly empty."""
    fixed = shapely.make_valid(geom)
    family = _FAMILIES.get(geom.geom_type)
    if family is None or _FAMILIES.get(fixed.geom_type) == family:
        return fixed
    parts = [p for p in shapely.get_parts(shapely.get_parts(fixed))
             if p.geom_type in _PART_TYPES[family]]
    if family == "line":
        parts = [p for p in parts if p.length > 0]
        merged = shapely.line_merge(shapely.MultiLineString(parts)) if parts else None
        return merged if merged is not None else shapely.LineString()
    if family == "polygon":
        parts = [p for p in parts if p.area > 0]
        if not parts:
            return shapely.Polygon()
        return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    return shapely.MultiPoint(parts) if len(parts) > 1 else (parts[0] if parts else shapely.Point())


def _repair(frame: gpd.GeoDataFrame, report: ImportReport, repair: bool) -> gpd.GeoDataFrame:
    geoms = frame.geometry.values
    invalid = ~shapely.is_valid(geoms)
    if not invalid.any():
        return frame
    labels = feature_labels(frame)
    reasons = {i: shapely.is_valid_reason(geoms[i]) for i in np.flatnonzero(invalid)}
    if not repair:
        items = [f"{labels[i]} : {_reason_fr(r)}" for i, r in reasons.items()]
        raise GeometryError(
            f"Géométries invalides ({len(items)}) : import refusé (option de refus des "
            f"géométries invalides). Corrigez-les, ou importez sans cette option pour les "
            f"réparer automatiquement.{_listing(items)}"
        )
    out = frame.copy()
    fixed = list(geoms)
    broken: list[str] = []
    for i, reason in reasons.items():
        new = repair_geometry(geoms[i])
        if new.is_empty:
            broken.append(f"{labels[i]} : {_reason_fr(reason)}")
            continue
        fixed[i] = new
        change = ("" if new.geom_type == geoms[i].geom_type
                  else f", {geoms[i].geom_type} → {new.geom_type}")
        report.repaired.append(f"{labels[i]} : {_reason_fr(reason)} → réparée{change}")
    if broken:
        raise GeometryError(f"Géométries invalides irréparables ({len(broken)}) : la réparation "
                            f"ne laisse rien de la géométrie d'origine.{_listing(broken)}")
    out[frame.geometry.name] = gpd.GeoSeries(fixed, index=frame.index, crs=frame.crs)
    report.note(f"{len(report.repaired)} géométrie(s) invalide(s) réparée(s) :"
                + _listing(report.repaired))
    return out


def _reason_fr(reason: str) -> str:
    words = {"Self-intersection": "auto-intersection", "Ring Self-intersection":
             "anneau auto-sécant", "Too few points in geometry component":
             "trop peu de points", "Interior is disconnected": "intérieur déconnecté",
             "Hole lies outside shell": "trou hors du contour", "Nested shells":
             "contours imbriqués", "Duplicate Rings": "anneaux en double"}
    for en, fr in words.items():
        if reason.startswith(en):
            return fr + reason[len(en):]
    return reason
