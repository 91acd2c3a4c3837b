"""Import a file into a store layer: read, map to the catalogue, write atomically."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd

from ..catalogue import LayerSpec
from ..errors import ValidationError
from ..store.base import Store, WriteMode
from ..validation import slug
from .fields import map_fields, match_fields
from .read import Progress, read_vector
from .report import ImportReport
from .table import french_numbers, read_table


def import_file(
    store: Store,
    layer: str,
    path: str | Path,
    *,
    author: str,
    mode: WriteMode = "upsert",
    repair: bool = True,
    crs: str | int | None = None,
    source_layer: str | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> ImportReport:
    """Import ``path`` into ``layer`` of ``store`` and return the report (French messages).

    Every check (format, encoding, CRS, geometries, fields, values) runs before the single
    transactional ``store.write``: on any error the store is left exactly as it was. An import
    into a zone layer (sectors, permis de louer, activity zones, îlot) also runs the rules of
    ``ort-geo validate`` that an API edit runs: the errors the file would introduce refuse it
    (:class:`ValidationError`, French report) unless ``force``, which stores it anyway and writes
    the violations in the journal entry's message.
    """
    spec = store.spec(layer)
    if not spec.spatial:
        report = _import_table(store, spec, path, author=author, mode=mode, progress=progress)
        return report
    frame, report = read_vector(path, crs=crs, layer=source_layer, repair=repair,
                                prefer_layer=layer, progress=progress, target=store.epsg)
    report.layer = layer
    if progress:
        progress("Champs")
    frame = map_fields(spec, frame, report)
    message = f"import de {Path(path).name}"
    violations = _rule_errors(store, layer, frame, mode)
    if violations:
        from ..rules import format_report

        text = format_report(violations)
        if not force:
            raise ValidationError(
                f"Import refusé : « {Path(path).name} » enfreindrait les règles du territoire "
                f"(rien n'a été importé ; --forcer l'importe malgré tout).\n{text}")
        message += " — importé avec --forcer malgré : " + "; ".join(str(v) for v in violations)
        report.note(f"Importé malgré {len(violations)} violation(s) des règles (--forcer), "
                    f"inscrites au journal :\n{text}")
    if progress:
        progress("Écriture dans l'entrepôt")
    report.summary = store.write(layer, frame, author=author, mode=mode, message=message)
    return report


def _rule_errors(store: Store, layer: str, frame, mode: WriteMode) -> list:
    """Rule errors the import would introduce in a zone layer (none elsewhere, or for a store
    that records no territory): the check of an API edit (:func:`ort_geo.editing.check_changes`),
    on the whole file."""
    from ..editing import check_changes
    from ..validation import frame_to_features

    spec = store.spec(layer)
    if not spec.editable or spec.geometry not in ("Polygon", "MultiPolygon"):
        return []
    features = frame_to_features(spec, frame, epsg=store.epsg)
    deletes: list[str] = []
    if mode == "replace":
        incoming = {f.id for f in features}
        stored = store.read(layer, columns=[])[spec.key].astype(str)
        deletes = [fid for fid in stored if fid not in incoming]
    check = check_changes(store, layer, features, deletes)
    return [f.violation for f in check.introduced]


def _import_table(store: Store, spec: LayerSpec, path: str | Path, *, author: str,
                  mode: WriteMode, progress: Progress | None) -> ImportReport:
    """A spreadsheet (French-Excel CSV or XLSX) into a table without geometry."""
    if progress:
        progress("Lecture du fichier")
    table, report = read_table(path)
    report.layer = spec.name
    mapping, _unknown, _dup = match_fields(spec, list(table.columns))
    if spec.key not in mapping.values() and spec.key_from:
        sources = {field: column for column, field in mapping.items()}
        if all(f in sources for f in spec.key_from):
            parts = [table[sources[f]].map(_key_part) for f in spec.key_from]
            table[spec.key] = ["|".join(p) for p in zip(*parts, strict=True)]
            report.note(f"Identifiants composés de : {', '.join(spec.key_from)}.")
    frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries([None] * len(table),
                                                           index=table.index, crs=store.crs))
    if progress:
        progress("Champs")
    frame = map_fields(spec, frame, report)
    frame = french_numbers(spec, frame)
    if progress:
        progress("Écriture dans l'entrepôt")
    report.summary = store.write(spec.name, frame, author=author, mode=mode,
                                 message=f"import de {Path(path).name}")
    return report


def _key_part(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    # Keys travel in URLs: plain words are kept, others become lower-case ASCII.
    return text if re.fullmatch(r"[A-Za-z0-9_.\-]*", text) else slug(text)
