"""A real headless browser (Debian's chromium, driven by playwright) to look at the maps.

Used for the demo's screenshots, the browser tests and the staff-map benchmark. Never downloads a
browser: it runs the system chromium (``ORT_GEO_CHROMIUM`` or ``/usr/bin/chromium``). Every request
that is not for a local file is aborted and recorded, so a page shows what it shows offline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MissingToolError, OrtGeoError, require_module, require_tool

#: JavaScript conditions for "the map is shown": runtime ready; and building tiles drawn.
READY = "window.ortGeoReady === true"
READY_TILES = READY + " && (!!window.ortGeoTilesLoaded || !window.ortGeoTilesExpected)"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    """The system chromium, or None when it is not installed: ``ORT_GEO_CHROMIUM`` when set (and
    only it: pointing it nowhere makes the tool behave as without chromium), else
    ``/usr/bin/chromium``, else ``chromium`` on PATH."""
    try:
        return _chromium()
    except MissingToolError:
        return None


def _chromium() -> str:
    chosen = os.environ.get("ORT_GEO_CHROMIUM")
    if chosen:
        return require_tool("chromium", chosen)
    default = "/usr/bin/chromium"
    return require_tool("chromium", default if Path(default).is_file() else None)


class BrowserError(OrtGeoError):
    """A page failed to load in the browser."""


@dataclass
class PageVisit:
    """What happened while a page was open."""

    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    seconds: float = 0.0


@contextmanager
def browser() -> Iterator[Any]:
    """A playwright chromium browser (the system one)."""
    sync_playwright = require_module("playwright.sync_api", "browser").sync_playwright
    executable = _chromium()
    with sync_playwright() as p:
        try:
            instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:  # playwright's own errors: a chromium that does not start
            raise BrowserError(f"Chromium ({executable}) ne démarre pas : "
                               f"{str(exc).splitlines()[0] if str(exc) else exc!r}") from None
        try:
            yield instance
        finally:
            instance.close()


@contextmanager
def open_page(instance: Any, html: Path, *, width: int = 1400, height: int = 900,
              ready: str = READY, timeout_s: float = 30) -> Iterator[tuple[Any, PageVisit]]:
    """Open a local HTML file offline; yields the page and the record of errors (console errors
    included) and blocked requests."""
    with _open(instance, Path(html).resolve().as_uri(), "file:", shown=str(html),
               width=width, height=height, ready=ready, timeout_s=timeout_s,
               console=True) as opened:
        yield opened


@contextmanager
def open_site(instance: Any, url: str, *, width: int = 1400, height: int = 900,
              ready: str | None = None, timeout_s: float = 30, context: Any = None,
              ) -> Iterator[tuple[Any, PageVisit]]:
    """Open a page served by a local server (``ort-geo serve``): only requests to that server's
    origin go through, everything else is aborted and recorded (basemap tiles included).

    ``context`` reuses a browser context (its session storage, its downloads); by default a new
    one is made and closed afterwards.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with _open(instance, url, f"{parts.scheme}://{parts.netloc}/", shown=url, width=width,
               height=height, ready=ready, timeout_s=timeout_s, context=context) as opened:
        yield opened


@contextmanager
def _open(instance: Any, url: str, allowed: str, *, shown: str, width: int, height: int,
          ready: str | None, timeout_s: float, context: Any = None, console: bool = False,
          ) -> Iterator[tuple[Any, PageVisit]]:
    """Load ``url`` with every request but those to ``allowed`` (a URL prefix) and the page's
    own ``data:``/``blob:`` URLs aborted and recorded; script errors recorded (and console
    errors with ``console``). A failed load is a BrowserError naming ``shown``."""
    own = context is None
    if own:
        context = instance.new_context(viewport={"width": width, "height": height},
                                       locale="fr-FR", accept_downloads=True)
    page = context.new_page()
    visit = PageVisit()
    page.on("pageerror", lambda exc: visit.errors.append(f"{exc} {exc.stack or ''}"[:800]))
    if console:
        page.on("console",
                lambda msg: visit.errors.append(msg.text) if msg.type == "error" else None)

    def route(r: Any) -> None:
        if r.request.url.startswith((allowed, "data:", "blob:")):
            r.continue_()
        else:
            visit.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    start = time.perf_counter()
    try:
        page.goto(url, wait_until="load", timeout=timeout_s * 1000)
        if ready:
            page.wait_for_function(ready, timeout=timeout_s * 1000)
    except Exception as exc:
        if own:
            context.close()
        raise BrowserError(f"La page {shown} ne s'est pas chargée : {exc}; erreurs : "
                           f"{visit.errors}") from exc
    visit.seconds = time.perf_counter() - start
    try:
        yield page, visit
    finally:
        if own:
            context.close()
        else:
            page.close()


def screenshot(html: str | os.PathLike[str], png: str | os.PathLike[str], *, width: int = 1400,
               height: int = 900, zoom: int | None = None, ready: str = READY) -> PageVisit:
    """Render ``html`` offline to a PNG; ``zoom`` sets the map's zoom level first."""
    with browser() as instance, open_page(instance, Path(html), width=width, height=height,
                                          ready=ready) as (page, visit):
        if zoom is not None:
            page.evaluate(f"ortGeo.map.setZoom({int(zoom)}, {{animate: false}})")
        page.wait_for_timeout(600)  # let tiles and vector layers settle
        page.screenshot(path=str(png))
    return visit
