"""Helpers shared by CLI commands: consoles, the store option, progress bars."""

from __future__ import annotations

import gc
import getpass
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..clock import FIRST_YEAR, LAST_YEAR
from ..shipped import default_store

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from ..store.base import Store

    console: Console
    console_err: Console
T = TypeVar("T")
S = TypeVar("S", bound="Store")


def __getattr__(name: str) -> Any:
    """``console`` and ``console_err``, made on first use (PEP 562): a command that prints no
    rich text (``ort-geo stats --format json``) does not load rich."""
    if name in ("console", "console_err"):
        from rich.console import Console

        made = globals()[name] = Console(stderr=name == "console_err")
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _console(err: bool = False) -> Console:
    name = "console_err" if err else "console"
    return globals()[name] if name in globals() else __getattr__(name)


DEFAULT_STORE = default_store()

store_option = click.option(
    "--store", "-s", "store", default=DEFAULT_STORE, show_default=True, metavar="ENTREPÔT",
    help="Entrepôt : fichier .gpkg ou URL postgresql://…?schema=nom (variable ORT_GEO_STORE).",
)
#: A year given on the command line (``--annee``): one outside the plausible years is a usage
#: error (exit 2), not a silent default (``--annee 0`` read as "no year").
YEAR = click.IntRange(FIRST_YEAR, LAST_YEAR)
author_option = click.option(
    "--auteur", "author", metavar="NOM", default=lambda: os.environ.get("ORT_GEO_AUTHOR") or current_user(),
    help="Auteur inscrit au journal des modifications.",
)


def omitted(what: object) -> None:
    """The French line of an optional output left out (a missing tool or extra: the error
    says which and how to install it); what was written stands, the command succeeds."""
    _console().print(f"[yellow]Omis :[/] {what}", highlight=False, soft_wrap=True)


def current_user() -> str:
    """The login name, or "inconnu" for a user id without a name (containers, CI runners)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "inconnu"


def progress() -> Progress:
    """A French progress bar on stderr (hidden when stderr is not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=_console(err=True), transient=True,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    with progress() as bar:
        yield from bar.track(items, description=description, total=total)


@contextmanager
def loading() -> Iterator[None]:
    """Around a command's imports (pandas, GDAL…), which allocate hundreds of thousands of
    long-lived objects and free almost none: the cycle collector's passes during them are
    wasted (0.05 s of ``ort-geo stats``). Paused; what was loaded is then kept out of the
    collections (its permanent generation) until the command ends."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
        click.get_current_context().call_on_close(gc.unfreeze)


def closed_at_end(store: S) -> S:
    """``store``, closed when the command ends, however it ends (an error, ``sys.exit``): a
    PostGIS store's connections and pool thread are not left to the garbage collector."""
    click.get_current_context().call_on_close(store.close)
    return store


def opened(store: str, **options: Any) -> Store:
    """The store at ``store`` (:func:`ort_geo.store.open_store` and its ``options``), closed
    when the command ends (:func:`closed_at_end`)."""
    from ..store import open_store

    return closed_at_end(open_store(store, **options))
