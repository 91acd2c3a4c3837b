"""Assemble the atlas: number the pages, draw them in order, write the PDF atomically."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ort_geo import __version__
from ort_geo.atlas_plan import AtlasPlan, Edition, buildings_of, plan_atlas
from ort_geo.errors import InputError, OrtGeoError, require_module, require_tool
from ort_geo.store import Store
from ort_geo.territory import Territory

if TYPE_CHECKING:
    from .layout import Sheet

Progress = Callable[[int, int, str], None]

#: matplotlib settings for print: TrueType fonts embedded (type 42) so text stays selectable and
#: accents render; DejaVu Sans ships with matplotlib, so the output does not depend on the host.
RC = {
    "pdf.fonttype": 42,
    "font.family": "DejaVu Sans",
    "hatch.linewidth": 0.5,
    "legend.handletextpad": 0.6,
}


@dataclass(frozen=True)
class AtlasResult:
    path: Path
    pages: int
    sectors: int
    zones: int
    annex_pages: int
    edition: str


def build_atlas(
    store: Store,
    output: str | Path,
    *,
    edition: Edition = "public",
    paper: str = "A4",
    territory: Territory | None = None,
    dem: str | Path | None = None,
    progress: Progress | None = None,
) -> AtlasResult:
    """Write the atlas of ``store`` to ``output`` (PDF) and describe what was written."""
    output = pdf_output(output, paper)
    from . import pages as P
    if dem is not None and not Path(dem).is_file():
        raise InputError(f"Modèle numérique de terrain introuvable : {dem}")

    plan = plan_atlas(store, edition=edition, territory=territory)
    staff = plan.edition == "staff"
    annex_parts = P.paginate(P.annex_rows(plan), P.annex_body(plan))

    # Number every page first: the contents and the cross-references need the numbers.
    page_of: dict[tuple[str, str], int] = {}
    number = 3  # cover, contents, overview
    for page in plan.pages:
        number += 1
        page_of[(page.layer, page.feature_id)] = number
        number += 1 if staff else 0
    annex_page = number + 1
    total = number + len(annex_parts)
    entries = _contents(plan, page_of, annex_page, staff)

    jobs: list[tuple[str, Callable[[Sheet], None]]] = [
        ("couverture", lambda s: P.cover(s, plan, dem)),
        ("sommaire", lambda s: P.contents(s, plan, entries, total)),
        ("carte d'ensemble", lambda s: P.overview(s, plan, 3, total, page_of, dem)),
    ]
    for page in plan.pages:
        n = page_of[(page.layer, page.feature_id)]
        jobs.append((page.name, lambda s, p=page, n=n: P.feature_page(
            s, plan, p, n, total, annex_page, dem)))
        if staff:
            jobs.append((f"bâti – {page.name}", lambda s, p=page, n=n: P.feature_page(
                s, plan, p, n + 1, total, annex_page, dem, buildings=buildings_of(store, p))))
    for k, rows in enumerate(annex_parts, start=1):
        jobs.append(("annexe", lambda s, r=rows, k=k: P.annex(
            s, plan, r, annex_page + k - 1, total, k, len(annex_parts))))
    assert len(jobs) == total

    write_pdf(output, paper, jobs, _metadata(plan), progress=progress)
    if progress is not None:
        progress(total, total, "terminé")
    return AtlasResult(output, total, len(plan.sectors), len(plan.zones), len(annex_parts),
                       plan.edition)


def pdf_output(output: str | Path, paper: str) -> Path:
    """The PDF path of an atlas or bilan, checked with the paper format (and matplotlib, the
    ``pdf`` extra, set to draw off screen) before any work."""
    require_module("matplotlib", "pdf").use("Agg", force=False)
    from .layout import PAPERS

    output = Path(output)
    if paper not in PAPERS:
        raise InputError(f"Format de papier inconnu « {paper} » : choisissez A4 ou A3.")
    if output.suffix.lower() != ".pdf":
        raise InputError(f"Le fichier de sortie doit se terminer par .pdf : {output}")
    return output


def write_pdf(output: Path, paper: str, pages: list[tuple[str, Callable[[Sheet], None]]],
              metadata: dict, *, progress: Progress | None = None) -> None:
    """Draw each page on a fresh sheet into the PDF ``output``, atomically: the pages go to
    ``<output>.partiel``, which replaces ``output`` once complete (a failure keeps the PDF
    that was there and leaves no partial file). Call :func:`pdf_output` first."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages

    from .layout import Sheet

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partiel")
    try:
        with rc_context(RC), PdfPages(partial, metadata=metadata) as pdf:
            for done, (label, draw) in enumerate(pages):
                if progress is not None:
                    progress(done, len(pages), label)
                sheet = Sheet.new(paper)
                draw(sheet)
                pdf.savefig(sheet.fig)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)


def _contents(plan: AtlasPlan, page_of: dict[tuple[str, str], int], annex_page: int,
              staff: bool) -> list:
    from .pages import Entry

    entries = [Entry(0, "Carte d'ensemble du territoire", 3)]
    for heading, pages in (("Secteurs d'intervention de l'ORT", plan.sectors),
                           ("Zones de permis de louer", plan.zones)):
        if not pages:
            continue
        entries.append(Entry(0, heading, page_of[(pages[0].layer, pages[0].feature_id)]))
        for page in pages:
            n = page_of[(page.layer, page.feature_id)]
            entries.append(Entry(1, f"{page.number}. {page.name}", n))
            if staff:
                entries.append(Entry(1, f"     bâti et vacance – {page.name}", n + 1))
    entries.append(Entry(0, "Annexe – les actions par orientation", annex_page))
    return entries


def _metadata(plan: AtlasPlan) -> dict:
    edition = "édition publique" if plan.edition == "public" else "édition de travail, " \
        "diffusion restreinte"
    return {
        "Title": f"{plan.title} – {plan.territory_title}",
        "Subject": f"Annexe 2 de la {plan.convention_title[:1].lower()}"
                   f"{plan.convention_title[1:]} ({edition})",
        "Author": "ort-geo",
        "Keywords": "ORT; Petites villes de demain; atlas cartographique; annexe 2",
        "Creator": f"ort-geo {__version__}",
        "CreationDate": plan.date,
        "ModDate": plan.date,
    }


def page_png(pdf: str | Path, page: int, png: str | Path, *, dpi: int = 110) -> Path:
    """Render one page of a PDF to PNG with poppler's ``pdftoppm`` (Debian poppler-utils)."""
    import subprocess

    tool = require_tool("pdftoppm")
    png = Path(png)
    done = subprocess.run([tool, "-png", "-r", str(dpi), "-f", str(page), "-l", str(page),
                           "-singlefile", str(pdf), str(png.with_suffix(""))],
                          capture_output=True, text=True)
    if done.returncode:
        raise OrtGeoError(f"pdftoppm n'a pas rendu la page {page} de {pdf} : "
                          f"{done.stderr.strip()[:300]}")
    return png
