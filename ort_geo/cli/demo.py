"""``ort-geo demo``: the ``make demo`` entry point — the shipped territory's atlas built into ``--out``.

Steps: build the store from the first manifest shipped in layers/ (the first territory), validate
it, print a French summary. Further outputs (web maps, atlas PDF) are added as steps below by
their modules.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from ..rules import errors, format_report, validate
from ..territory import load_territory
from ._common import console, omitted
from .build import DEFAULT_TERRITORY, dem_option, run_build


@click.command("demo")
@click.option("--out", "out", default="out", show_default=True, type=click.Path(file_okay=False),
              help="Dossier de sortie.")
@dem_option
def command(out: str, dem: str | None) -> None:
    """Construit la démonstration du territoire livré avec ort-geo (entrepôt, validation,
    résumé) dans --out."""
    if DEFAULT_TERRITORY is None:
        raise click.ClickException("Aucun territoire livré (layers/<territoire>/territory.toml).")
    manifest = load_territory(DEFAULT_TERRITORY)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    store_path = out_dir / f"{manifest.name}.gpkg"
    console.rule(f"[bold]ort-geo — démonstration : {manifest.title}")
    store = run_build(str(DEFAULT_TERRITORY), str(store_path), dem)

    found = validate(store)
    console.print(format_report(found), highlight=False, soft_wrap=True)
    if errors(found):
        sys.exit(1)

    table = Table(title=f"Entrepôt {store_path}")
    for col in ("couche", "objets", "origine"):
        table.add_column(col, justify="right" if col == "objets" else "left")
    for name in store.layer_names():
        meta = store.get_meta(name)
        origin = ("données de démonstration générées" if meta.get("demo") == "oui"
                  else "localisations indicatives" if name == "actions"
                  else "périmètres indicatifs" if meta.get("indicatif") == "oui"
                  else f"méthode : {meta['methode']}" if meta.get("methode")
                  else meta.get("source", ""))
        table.add_row(store.spec(name).title, str(store.count(name)), origin)
    console.print(table)
    buildings = store.read("batiments", columns=["nb_logements"])
    console.print(
        f"{len(buildings)} bâtiments et {int(buildings['nb_logements'].sum())} logements : "
        "[bold]données de démonstration générées[/], aucun bâtiment réel.")
    strata = store.get_meta("strates")
    console.print(f"Strates : {strata.get('parametres', '')}.")
    # -- further demo outputs (web maps, atlas) go below ------------------------------------
    skipped = _Skipped()
    _web_maps(store, out_dir, skipped)
    _atlas(store, out_dir, dem, skipped)
    _follow_up(store, out_dir, skipped)
    skipped.report()


class _Skipped:
    """What the demo went without, by cause (a missing tool or extra, a browser that fails):
    one French line per cause at the end, naming every file it left out."""

    def __init__(self) -> None:
        self.causes: dict[str, tuple[Exception, list[str]]] = {}

    def add(self, exc: Exception, *files: str) -> None:
        key = getattr(exc, "tool", None) or getattr(exc, "extra", None) or str(exc)
        self.causes.setdefault(key, (exc, []))[1].extend(files)

    def report(self) -> None:
        from ..errors import MissingToolError, install_command

        for exc, files in self.causes.values():
            named = ", ".join(files[:-1]) + " et " + files[-1] if len(files) > 1 else files[0]
            why = (f"{exc.tool} est introuvable ; pour l'installer : "
                   f"{install_command(exc.package)}" if isinstance(exc, MissingToolError)
                   else str(exc))
            omitted(f"{named} — {why}")


def _web_maps(store, out_dir: Path, skipped: _Skipped) -> None:
    """The residents' map and the staff map, each with a PNG screenshot when chromium is there."""
    from ..errors import MissingExtraError, MissingToolError, OrtGeoError, require_module
    from ..webmap import write_map
    from ..webmap.browser import READY, READY_TILES, _chromium, screenshot

    try:  # one check for both captures: they need the same browser
        require_module("playwright.sync_api", "browser")
        _chromium()
        missing: Exception | None = None
    except (MissingExtraError, MissingToolError) as exc:
        missing = exc
    for audience, name, ready in (("public", "carte-publique", READY),
                                  ("staff", "carte-travail", READY_TILES)):
        with console.status(f"Carte web {name}…"):
            report = write_map(store, out_dir / f"{name}.html", audience=audience)  # type: ignore[arg-type]
        console.print(f"Carte : {report}", highlight=False)
        if missing is None:
            try:
                with console.status(f"Capture {name}.png…"):
                    screenshot(report.path, out_dir / f"{name}.png", ready=ready)
                console.print(f"Capture : {out_dir / f'{name}.png'}", highlight=False)
                continue
            except OrtGeoError as exc:  # a chromium that does not start or a page that fails
                missing = exc
        skipped.add(missing, f"{name}.png")


def _atlas(store, out_dir: Path, dem: str | None, skipped: _Skipped) -> None:
    """The public printed atlas and a PNG of its first sector page."""
    import time

    from atlas import build_atlas, page_png

    from ..errors import OrtGeoError

    started = time.perf_counter()
    with console.status("Atlas public (PDF)…"):
        result = build_atlas(store, out_dir / "atlas-public.pdf", edition="public", dem=dem)
    console.print(f"Atlas public : {result.path} ({result.pages} pages, "
                  f"{time.perf_counter() - started:.1f} s).", highlight=False)
    png = out_dir / "atlas-public-secteur-1.png"
    try:
        page_png(result.path, 4, png)
        console.print(f"Aperçu de la première page de secteur : {png}", highlight=False)
    except OrtGeoError as exc:
        skipped.add(exc, png.name)


def _follow_up(store, out_dir: Path, skipped: _Skipped) -> None:
    """The tableau de bord and the bilan of the last full year, with PNGs of their first
    screens and pages, from the seeded history."""
    from atlas import page_png
    from atlas.bilan import build_bilan

    from .. import clock
    from ..dashboard import capture, write_dashboard
    from ..errors import OrtGeoError

    with console.status("Tableau de bord…"):
        report = write_dashboard(store, out_dir / "tableau.html")
    console.print(f"Tableau de bord : {report}", highlight=False)
    try:
        with console.status("Capture du tableau de bord…"):
            capture(report.path, out_dir / "tableau.png")
        console.print(f"Capture : {out_dir / 'tableau.png'}", highlight=False)
    except OrtGeoError as exc:  # no chromium or playwright, or a page that fails
        skipped.add(exc, "tableau.png")
    year = clock.today().year - 1
    with console.status(f"Bilan annuel {year}…"):
        result = build_bilan(store, out_dir / f"bilan-{year}.pdf", year=year)
    console.print(f"Bilan annuel {year} : {result.path} ({result.pages} pages).",
                  highlight=False)
    try:
        for page in (1, 2):
            page_png(result.path, page, out_dir / f"bilan-{year}-page-{page}.png")
        console.print(f"Aperçus du bilan : {out_dir}/bilan-{year}-page-*.png", highlight=False)
    except OrtGeoError as exc:
        skipped.add(exc, f"bilan-{year}-page-*.png")
