"""Référentiel national des bâtiments (RNB) export → the ``batiments`` layer.

The RNB publishes one CSV per département on data.gouv.fr (``RNB_<dept>.csv``, zipped): ``;``
separated, UTF-8, columns ``rnb_id``, ``point`` and ``shape`` (EWKT, e.g. ``SRID=4326;POINT(…)``),
``status``, ``ext_ids`` (JSON: links to BD TOPO and other sources), ``addresses`` (JSON: BAN
addresses) and ``plots`` (JSON: cadastral parcels with the share of the building on each).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from ..crs import STORAGE_EPSG, crs_label
from ..errors import EncodingError, FieldError, FormatError, GeometryError, InputError, with_detail
from ..io import ImportReport

SOURCE = "Référentiel national des bâtiments (RNB), Licence Ouverte 2.0"
REQUIRED = ("rnb_id", "shape", "status")
#: Statuses of buildings that stand; projects and demolished buildings are skipped.
STANDING = frozenset({"constructed", "ongoingChange", "notUsable"})
RNB_ID = re.compile(r"^[1-9A-HJKMNP-TV-Z]{12}$")
_EWKT = re.compile(r"^\s*SRID=(\d+);(.*)$", re.S)


def _open_text(path: Path) -> str:
    if not path.exists():
        raise InputError(f"Fichier introuvable : {path}")
    raw: bytes
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if not names:
                raise FormatError(f"L'archive {path.name} ne contient pas de fichier CSV du RNB.")
            raw = archive.read(names[0])
    else:
        raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EncodingError(f"{path.name} n'est pas en UTF-8 comme l'export du RNB "
                            f"(octet invalide à la position {exc.start}).") from None


def _ewkt(text: str, fid: str) -> tuple[int, shapely.Geometry]:
    match = _EWKT.match(text or "")
    try:
        if match:
            return int(match.group(1)), shapely.from_wkt(match.group(2))
        return 4326, shapely.from_wkt(text)
    except shapely.errors.GEOSException:
        raise GeometryError(f"Géométrie illisible pour le bâtiment RNB {fid} : {text[:60]}…"
                            ) from None


def _address(addresses: list[dict]) -> str | None:
    if not addresses:
        return None
    a = addresses[0]
    parts = [a.get("street_number"), a.get("street_rep"), a.get("street"),
             a.get("city_zipcode"), a.get("city_name")]
    return " ".join(str(p) for p in parts if p) or None


def read_rnb(path: str | Path, *, target: int = STORAGE_EPSG) -> tuple[gpd.GeoDataFrame, ImportReport]:
    """A ``batiments`` frame (in ``target``, the store's CRS) from an RNB CSV export (plain or
    zipped).

    ``id`` is the RNB id; ``bdtopo_id`` (extra column, not stored) carries the BD TOPO ``cleabs``
    the RNB links, so an importer can enrich BD TOPO footprints already in the store.
    """
    path = Path(path)
    report = ImportReport(source=path.name, format="CSV RNB")
    text = _open_text(path)
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise FieldError(f"{path.name} n'a pas les colonnes de l'export RNB : "
                         f"{', '.join(missing)} manquante(s) (colonnes lues : {', '.join(header)}).")
    rows, geoms, skipped = [], [], 0
    srids: set[int] = set()
    for record in reader:
        fid = (record.get("rnb_id") or "").strip()
        if not RNB_ID.match(fid):
            raise FieldError(f"Identifiant RNB invalide : « {fid} » (12 caractères attendus).")
        if record.get("status") not in STANDING:
            skipped += 1
            continue
        srid, geom = _ewkt(record.get("shape") or record.get("point") or "", fid)
        if geom.is_empty and record.get("point"):
            srid, geom = _ewkt(record["point"], fid)
        srids.add(srid)
        try:
            addresses = json.loads(record.get("addresses") or "[]")
            plots = json.loads(record.get("plots") or "[]") or []
            ext_ids = json.loads(record.get("ext_ids") or "[]") or []
        except json.JSONDecodeError as exc:
            raise with_detail(FormatError(f"JSON illisible pour le bâtiment RNB {fid} (ligne "
                                          f"{exc.lineno}, colonne {exc.colno})."), exc) from None
        plot = max(plots, key=lambda p: p.get("bdg_cover_ratio") or 0, default=None)
        idpar = plot.get("id") if plot else None
        ban = addresses[0].get("cle_interop_ban") if addresses else None
        code = (idpar or ban or "")[:5] or None
        bdtopo = next((e.get("id") for e in ext_ids if e.get("source") == "bdtopo"), None)
        rows.append({"id": fid, "rnb_id": fid, "adresse": _address(addresses), "idpar": idpar,
                     "code_insee": code, "demo": False, "source": SOURCE, "bdtopo_id": bdtopo})
        geoms.append(geom)
    if len(srids) > 1:
        raise FormatError(f"{path.name} mélange plusieurs SRID ({sorted(srids)}).")
    if skipped:
        report.note(f"{skipped} bâtiment(s) en projet ou démoli(s) ignoré(s).")
    srid = srids.pop() if srids else 4326
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=f"EPSG:{srid}")
    report.crs = f"EPSG:{srid}"
    frame = frame.to_crs(target)
    report.features = len(frame)
    report.note(f"{len(frame)} bâtiment(s) RNB lu(s) (SRID {srid}, reprojeté(s) en "
                f"{crs_label(target)}).")
    return frame, report
