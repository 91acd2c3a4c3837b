"""Export frames and store layers: GeoPackage, GeoJSON (RFC 7946), zipped Shapefile, French CSV.

GDAL (pyogrio) writes the geospatial formats; the CSV is written by pandas because French
spreadsheets want what GDAL's CSV driver cannot give: a decimal comma (with ``;`` separators and a
UTF-8 BOM so that Excel reads the accents).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..errors import (
    AccessDeniedError,
    CRSError,
    FormatError,
    GeometryError,
    StoreError,
    with_detail,
)
from ..privacy import public_records, public_view
from ..store.base import Store
from .table import FORMULA_START

#: Export formats and what they are called in messages.
FORMATS: dict[str, str] = {
    "gpkg": "GeoPackage",
    "geojson": "GeoJSON (RFC 7946, WGS84 lon/lat)",
    "shp-zip": "Shapefile zippé",
    "csv-fr": "CSV pour tableur (séparateur ;, virgule décimale, UTF-8 avec BOM, géométrie WKT)",
}
_ALIASES = {"shp": "shp-zip", "shapefile": "shp-zip", "zip": "shp-zip", "csv": "csv-fr",
            "json": "geojson", "geopackage": "gpkg"}
_BY_SUFFIX = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".zip": "shp-zip",
              ".csv": "csv-fr"}
DBF_NAME_LENGTH = 10
_FAMILY_SUFFIX = {"Point": "points", "LineString": "lignes", "Polygon": "polygones"}


def export_format(path: str | Path, fmt: str | None = None) -> str:
    """The canonical format name for ``fmt``, or the one ``path``'s extension implies."""
    if fmt is not None:
        key = _ALIASES.get(fmt.lower(), fmt.lower())
        if key not in FORMATS:
            raise FormatError(f"Format d'export inconnu : « {fmt} » (formats : "
                              f"{', '.join(FORMATS)}).")
        return key
    suffix = Path(path).suffix.lower()
    if suffix not in _BY_SUFFIX:
        raise FormatError(f"Extension « {suffix or '(aucune)'} » sans format d'export connu : "
                          f"précisez le format ({', '.join(FORMATS)}).")
    return _BY_SUFFIX[suffix]


def shapefile_names(names: list[str]) -> dict[str, str]:
    """Unique DBF field names of at most 10 characters, deterministic in the order given.

    ``nb_logements`` -> ``nb_logemen``; a later ``nb_logements_vacants`` -> ``nb_logeme1``.
    The importer uses the same function on a layer's catalogue fields to map them back.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        short = name[:DBF_NAME_LENGTH]
        n = 1
        while short.lower() in used:
            tail = str(n)
            short = name[:DBF_NAME_LENGTH - len(tail)] + tail
            n += 1
        used.add(short.lower())
        out[name] = short
    return out


def write_frame(
    frame: gpd.GeoDataFrame,
    path: str | Path,
    fmt: str | None = None,
    *,
    layer_name: str | None = None,
    dbf_names: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    geometry_type: str | None = None,
) -> Path:
    """Write ``frame`` to ``path`` as ``fmt`` (gpkg, geojson, shp-zip or csv-fr; else by extension).

    GeoJSON is reprojected to WGS84 lon/lat (RFC 7946); the other formats keep the frame's CRS.
    ``dbf_names`` fixes the 10-character Shapefile names (default: :func:`shapefile_names`) and
    ``labels`` (field -> French label) documents them in the archive's ``champs.csv``.
    ``geometry_type`` (e.g. ``"MultiPolygon"``) declares the type of an empty frame's layer.
    """
    path = Path(path)
    kind = export_format(path, fmt)
    if frame.crs is None:
        raise CRSError("Export impossible : les géométries n'ont pas de SCR.")
    name = layer_name or path.stem
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = _plain_columns(frame)
    try:
        if kind == "gpkg":
            pyogrio.write_dataframe(plain, path, layer=name, driver="GPKG",
                                    geometry_type=geometry_type if plain.empty else None,
                                    dataset_options={"VERSION": GPKG_VERSION})
        elif kind == "geojson":
            path.unlink(missing_ok=True)
            pyogrio.write_dataframe(plain.to_crs(4326), path, driver="GeoJSON",
                                    layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"})
        elif kind == "shp-zip":
            _write_shapefile_zip(plain, path, name, dbf_names, labels or {}, geometry_type)
        else:
            _write_csv_fr(plain, path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        # GDAL's own (English) reason goes to the detail; the usual causes are the path's.
        raise with_detail(StoreError(
            f"Écriture impossible de {path} : GDAL ne peut pas créer ce fichier (dossier "
            "protégé ou en lecture seule, disque plein, nom refusé par le système…)."), exc) \
            from None
    return path


def export_layer(
    store: Store, layer: str, path: str | Path, fmt: str | None = None, public: bool = False
) -> Path:
    """Export a store layer; with ``public=True`` records of restricted sources and every
    non-public field are removed first."""
    spec = store.spec(layer)
    if public and not spec.public:
        raise AccessDeniedError(f"La couche {layer} n'est pas publique : export public refusé.")
    frame = store.read(layer)
    if public:
        frame = public_view(spec, public_records(frame))
    kind = "Unknown" if spec.geometry == "Any" or spec.accepts_points else spec.geometry
    return write_frame(frame, path, fmt, layer_name=layer,
                       dbf_names=shapefile_names(spec.field_names),
                       labels={f.name: f.label for f in spec.fields}, geometry_type=kind)


#: The GeoPackage version of exports, the store's (ort_geo.store.gpkg.USER_VERSION): 1.4, whose
#: R-tree triggers let other clients UPSERT. GDAL before 3.7 (QGIS 3.22) reads and writes it with
#: a one-line "partially supported" warning; a 1.3 file would need the pre-1.4 triggers.
GPKG_VERSION = "1.4"


def _plain_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Dates as ISO text (every format reads them back; DBF and CSV have no time zone issues)."""
    out = frame.copy()
    for column in out.columns:
        if column == out.geometry.name or out[column].dtype != object:
            continue
        values = out[column]
        first = values.first_valid_index()  # columns from a store are typed: one probe suffices
        if first is not None and isinstance(values[first], dt.date):
            out[column] = values.map(lambda v: v.isoformat() if isinstance(v, dt.date) else v)
    return out


def _family(geom_type: str) -> str:
    return geom_type.removeprefix("Multi")


def _write_shapefile_zip(frame: gpd.GeoDataFrame, path: Path, name: str,
                         dbf_names: Mapping[str, str] | None, labels: Mapping[str, str],
                         geometry_type: str | None) -> None:
    geometry = frame.geometry.name
    columns = [c for c in frame.columns if c != geometry]
    names = dict(dbf_names or {})
    missing = [c for c in columns if c not in names]
    if missing:  # columns outside the given mapping get names that do not clash with it
        taken = list(names.values())
        extra = shapefile_names(taken + missing)
        names.update({c: extra[c] for c in missing})
    renamed = frame.rename(columns={c: names[c] for c in columns})
    families = renamed.geometry.geom_type.map(_family)
    if families.isna().any():
        raise GeometryError("Export Shapefile impossible : objets sans géométrie.")
    groups = sorted(families.unique()) or [None]  # an empty layer still gets its shapefile
    if "GeometryCollection" in groups:
        raise GeometryError("Export Shapefile impossible : collections de géométries.")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for family in groups:
            # A shapefile holds one geometry type: mixed layers give one shapefile per type.
            stem = name if len(groups) == 1 else f"{name}_{_FAMILY_SUFFIX[family]}"
            part = renamed[families == family] if family else renamed
            kind = geometry_type if family is None and geometry_type != "Unknown" else None
            pyogrio.write_dataframe(part, folder / f"{stem}.shp", driver="ESRI Shapefile",
                                    encoding="UTF-8", geometry_type=kind)
            (folder / f"{stem}.cpg").write_text("UTF-8")
        rows = [{"champ_dbf": names[c], "champ": c, "libelle": labels.get(c, "")}
                for c in columns]
        pd.DataFrame(rows, columns=["champ_dbf", "champ", "libelle"]).to_csv(
            folder / "champs.csv", sep=";", index=False, encoding="utf-8-sig")
        tmp_zip = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as archive:
            for part_file in sorted(folder.iterdir()):
                archive.write(part_file, part_file.name)
        tmp_zip.replace(path)


def _write_csv_fr(frame: gpd.GeoDataFrame, path: Path) -> None:
    geometry = frame.geometry.name
    table = pd.DataFrame(frame.drop(columns=geometry))
    for column in table.columns:
        values = table[column]
        if values.dtype == bool or str(values.dtype) == "boolean":
            table[column] = values.map(lambda v: None if pd.isna(v) else ("oui" if v else "non"))
    digits = 7 if frame.crs.is_geographic else 2  # ~1 cm either way
    table["wkt"] = shapely.to_wkt(frame.geometry.values, rounding_precision=digits)
    path.write_text(csv_fr(table), encoding="utf-8-sig")


def _decimal_comma(value: Any) -> Any:
    if isinstance(value, (float, np.floating)) and not pd.isna(value):
        return repr(float(value)).replace(".", ",")
    if isinstance(value, str) and value.startswith(FORMULA_START):
        # "=HYPERLINK(…)" typed in a title, or imported from a partner's file, would run when
        # the CSV is opened (OWASP's "CSV injection"): written as text instead.
        return "'" + value
    return value


def csv_fr(table: pd.DataFrame) -> str:
    """A table as CSV for French spreadsheets: ``;`` separators and a decimal comma in every
    number — also in mixed columns (rates next to masked "< 11" cells), which pandas' ``decimal``
    option leaves with a point, so that Excel would read them as text; no text read as a
    formula (:data:`FORMULA_START`)."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(_decimal_comma)
    return out.to_csv(sep=";", decimal=",", index=False)
