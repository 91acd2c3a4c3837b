"""Many territories in one run: ``ort-geo init --pvd-liste`` (e.g. the 1,607 PVD towns).

One process, so the commune reference is read once; each town gets its own manifest folder and
GeoPackage (``<dossier>/<INSEE>/territory.toml``, ``<dossier>/<INSEE>.gpkg``) through the same
:func:`ort_geo.build.init_territory` as a single ``ort-geo init --pvd``. A failure is recorded
with its French message and the run goes on.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, OrtGeoError


@dataclass
class BatchReport:
    """What a batch did: territories created, failures (code, message), time."""

    created: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    by_crs: dict[int, int] = field(default_factory=dict)

    def __str__(self) -> str:
        total = len(self.created) + len(self.failures)
        crs = ", ".join(f"EPSG:{k} : {v}" for k, v in sorted(self.by_crs.items()))
        lines = [f"{len(self.created)} territoire(s) créé(s) sur {total} en "
                 f"{self.seconds:.1f} s ({self.seconds / max(total, 1):.2f} s par ville) ; "
                 f"par SCR : {crs or '—'}.",
                 f"{len(self.failures)} échec(s)" + (" :" if self.failures else ".")]
        lines += [f"  {code} : {message}" for code, message in self.failures]
        return "\n".join(lines)


def read_codes(path: str | Path) -> list[str]:
    """INSEE codes from a CSV file (``;``, ``,`` or tab; UTF-8 or Windows-1252): its
    ``insee_com`` column (the ANCT PVD list), else the first."""
    from .io.table import csv_separator, decode_text

    path = Path(path)
    if not path.is_file():
        raise InputError(f"Liste de villes introuvable : {path}")
    text, _ = decode_text(path.read_bytes(), path.name)
    rows = [r for r in csv.reader(text.splitlines(), delimiter=csv_separator(text)) if r]
    if not rows:
        raise InputError(f"Liste de villes vide : {path}")
    header = [c.strip().lower() for c in rows[0]]
    column = header.index("insee_com") if "insee_com" in header else 0
    body = rows if re.fullmatch(r"\d[\dAB]\d{3}", rows[0][column].strip()) else rows[1:]
    return [r[column].strip() for r in body if len(r) > column and r[column].strip()]


def init_many(codes: Iterable[str], directory: Path, *,
              on_result: Callable[[str, str | None], None] | None = None) -> BatchReport:
    """Create the territory of each PVD town of ``codes`` under ``directory``."""
    from .build import init_territory

    report = BatchReport()
    start = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    for code in codes:
        error = None
        try:
            store = init_territory(directory / f"{code}.gpkg", directory / code, pvd=code)
            report.by_crs[store.epsg] = report.by_crs.get(store.epsg, 0) + 1
            store.close()
            report.created.append(code)
        except OrtGeoError as exc:
            error = str(exc).splitlines()[0]
            report.failures.append((code, error))
        except Exception as exc:  # noqa: BLE001 - one town's defect must not stop the batch
            error = f"erreur interne ({type(exc).__name__} : {exc})"
            report.failures.append((code, error))
        if on_result:
            on_result(code, error)
    report.seconds = time.perf_counter() - start
    return report
