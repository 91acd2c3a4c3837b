"""Import a file into a store layer: read, map to the catalogue, write atomically."""

from __future__ import annotations

from pathlib import Path

from ..store.base import Store, WriteMode
from .fields import map_fields
from .read import Progress, read_vector
from .report import ImportReport


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
) -> ImportReport:
    """Import ``path`` into ``layer`` of ``store`` and return the report (French messages).

    Every check (format, encoding, CRS, geometries, fields, values) runs before the single
    transactional ``store.write``: on any error the store is left exactly as it was.
    """
    spec = store.spec(layer)
    frame, report = read_vector(path, crs=crs, layer=source_layer, repair=repair,
                                prefer_layer=layer, progress=progress, target=store.epsg)
    report.layer = layer
    if progress:
        progress("Champs")
    frame = map_fields(spec, frame, report)
    if progress:
        progress("Écriture dans l'entrepôt")
    report.summary = store.write(layer, frame, author=author, mode=mode,
                                 message=f"import de {Path(path).name}")
    return report
