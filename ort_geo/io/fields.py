"""Map a file's columns to a catalogue layer's fields: exact, case-insensitive, then aliases."""

from __future__ import annotations

import geopandas as gpd

from ..catalogue import LayerSpec
from ..errors import FieldError
from ..validation import slug
from .report import ImportReport
from .write import shapefile_names


def match_fields(spec: LayerSpec, columns: list[str]
                 ) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """``({column: field}, [unknown columns], {column: field already taken by another column}``.

    A column matches a field by its exact name, else by its name ignoring case and accents, else by
    one of the field's aliases, else by its 10-character Shapefile name
    (:func:`ort_geo.io.write.shapefile_names`). When several columns claim one field, the closest
    match wins and the others are left unmatched.
    """
    exact = {f.name: f.name for f in spec.fields}
    loose = {slug(f.name): f.name for f in spec.fields}
    aliases = {slug(a): f.name for f in spec.fields for a in f.aliases}
    # Names a Shapefile export cut to 10 characters (nb_logemen -> nb_logements).
    dbf = {slug(short): name for name, short in shapefile_names(spec.field_names).items()}
    ranked: list[tuple[int, str, str]] = []
    for column in columns:
        key = slug(str(column))
        for rank, table, probe in ((0, exact, str(column)), (1, loose, key), (2, aliases, key),
                                   (3, dbf, key)):
            if probe in table:
                ranked.append((rank, column, table[probe]))
                break
    mapping: dict[str, str] = {}
    duplicates: dict[str, str] = {}
    for _rank, column, target in sorted(ranked, key=lambda r: r[0]):
        if target in mapping.values():
            duplicates[column] = target
        else:
            mapping[column] = target
    unknown = [c for c in columns if c not in mapping and c not in duplicates]
    return mapping, unknown, duplicates


def map_fields(spec: LayerSpec, frame: gpd.GeoDataFrame, report: ImportReport) -> gpd.GeoDataFrame:
    """The frame with catalogue field names only; renames, dropped and missing fields reported.

    Raises FieldError when the key or a required field has no matching column.
    """
    geometry = frame.geometry.name
    columns = [c for c in frame.columns if c != geometry]
    mapping, unknown, duplicates = match_fields(spec, columns)
    renamed = {src: dst for src, dst in mapping.items() if src != dst}
    missing = [f.name for f in spec.fields if f.name not in mapping.values()]
    report.renamed, report.missing_fields = renamed, missing
    report.unknown_fields = unknown + list(duplicates)
    if renamed:
        report.note("Champs reconnus sous un autre nom : "
                    + ", ".join(f"{s} → {d}" for s, d in renamed.items()) + ".")
    if unknown:
        report.note(f"Champs inconnus de la couche {spec.name}, ignorés : {', '.join(unknown)}.")
    if duplicates:
        report.note("Colonnes en double d'un champ déjà lu, ignorées : " + ", ".join(
            f"{c} (→ {t}, pris dans {next(k for k, v in mapping.items() if v == t)})"
            for c, t in duplicates.items()) + ".")
    required = [n for n in missing if n == spec.key or spec.by_name[n].required]
    if required:
        raise FieldError(
            f"Champs obligatoires de la couche {spec.name} absents du fichier : "
            f"{', '.join(required)}. Colonnes du fichier : {', '.join(map(str, columns)) or 'aucune'}."
            f" Renommez la colonne correspondante (noms admis : "
            + "; ".join(f"{n} = {', '.join((n,) + spec.by_name[n].aliases)}" for n in required)
            + ")."
        )
    if missing:
        report.note(f"Champs du catalogue absents du fichier : {', '.join(missing)} "
                    "(vides pour les nouveaux objets, inchangés pour les objets existants).")
    out = frame[[*mapping, geometry]].rename(columns=mapping)
    return gpd.GeoDataFrame(out, geometry=geometry, crs=frame.crs)
