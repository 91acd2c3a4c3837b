"""Vendored JavaScript and CSS, inlined into the maps so they work from disk with no CDN.

Folium links Leaflet and its plugins from CDNs. Our maps must open offline, so every script and
stylesheet comes from npm packages pinned below and vendored in ``vendor/`` (with their licences):
``python -m ort_geo.webmap.assets`` refreshes them with ``npm pack`` and rewrites ``MANIFEST.json``
(one sha256 per file, checked by the tests). Elements name an asset with a ``vendor:`` pseudo-URL
(``vendor:leaflet/dist/leaflet.js``); :func:`inline_assets` replaces each such ``<script>``/
``<link>`` with its content, images referenced by CSS becoming ``data:`` URIs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..errors import OrtGeoError

VENDOR = Path(__file__).parent / "vendor"
STATIC = Path(__file__).parent / "static"
SCHEME = "vendor:"
#: Pseudo-package of our own runtime files (``static/``).
OWN = "ort-geo"


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    licence: str
    files: tuple[str, ...]
    #: Folder under ``vendor/`` (scoped npm names hold a slash, pseudo-URLs cannot).
    folder: str = ""

    @property
    def directory(self) -> str:
        return self.folder or self.name


#: Pinned npm packages and the files the maps use (paths inside the package).
PACKAGES: tuple[NpmPackage, ...] = (
    NpmPackage("leaflet", "1.9.4", "LICENSE", (
        "dist/leaflet.js", "dist/leaflet.css", "dist/images/layers.png",
        "dist/images/layers-2x.png", "dist/images/marker-icon.png")),
    NpmPackage("leaflet.fullscreen", "3.0.2", "LICENSE", (
        "Control.FullScreen.js", "Control.FullScreen.css", "icon-fullscreen.svg")),
    NpmPackage("leaflet-search", "4.0.0", "license.txt", (
        "dist/leaflet-search.min.js", "dist/leaflet-search.min.css", "images/search-icon.png",
        "images/loader.gif")),
    # Staff map only: vector tiles read from an embedded PMTiles archive.
    NpmPackage("leaflet.vectorgrid", "1.3.0", "LICENSE", (
        "dist/Leaflet.VectorGrid.bundled.min.js",)),
    NpmPackage("pmtiles", "4.5.0", "LICENSE", ("dist/pmtiles.js",)),
    # The editor only (/editeur): drawing, vertex editing, cutting, snapping.
    NpmPackage("@geoman-io/leaflet-geoman-free", "2.20.2", "LICENSE", (
        "dist/leaflet-geoman.min.js", "dist/leaflet-geoman.css"), folder="leaflet-geoman-free"),
    # Tableau de bord (ort_geo/dashboard): Vega-Lite charts written by Altair, drawn offline.
    NpmPackage("vega", "6.4.0", "LICENSE", ("build/vega.min.js",)),
    NpmPackage("vega-lite", "6.5.0", "LICENSE", ("build/vega-lite.min.js",)),
    NpmPackage("vega-embed", "7.3.0", "LICENSE", ("build/vega-embed.min.js",)),
)

#: Licence texts of packages whose npm tarball carries none (copied from their repositories).
_MISSING_LICENCES = {
    "leaflet.vectorgrid": "README.md#Legalese",
    "pmtiles": "https://github.com/protomaps/PMTiles/blob/main/LICENSE",
}


class AssetError(OrtGeoError):
    """A vendored asset is missing or altered."""


def url(package: str, path: str) -> str:
    """The pseudo-URL elements use to name a vendored file."""
    return f"{SCHEME}{package}/{path}"


def _vendored(package: str, path: str) -> Path:
    file = (STATIC if package == OWN else VENDOR / package) / path
    if not file.is_file():
        raise AssetError(f"Ressource web absente du paquet : {package}/{path}.")
    return file


def _data_uri(file: Path) -> str:
    mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(file.read_bytes()).decode()}"


@cache
def css_text(package: str, path: str) -> str:
    """A vendored stylesheet with every relative ``url()`` turned into a data URI."""
    file = _vendored(package, path)

    def embed(match: re.Match[str]) -> str:
        target = match.group(2)
        if target.startswith(("data:", "#", "%23")):  # %23: a fragment inside an inline SVG
            return match.group(0)
        relative = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        return f'url("{_data_uri(_vendored(package, relative))}")'

    return re.sub(r"url\((['\"]?)([^'\")]+)\1\)", embed, file.read_text(encoding="utf-8"))


@cache
def js_text(package: str, path: str) -> str:
    return _vendored(package, path).read_text(encoding="utf-8")


_SCRIPT = re.compile(r'<script src="vendor:([^/"]+)/([^"]+)"></script>')
_LINK = re.compile(r'<link rel="stylesheet" href="vendor:([^/"]+)/([^"]+)"\s*/?>')
_EXTERNAL = re.compile(r'<(?:script[^>]+src|link[^>]+href)="(?:https?:)?//[^"]+"', re.I)


def inline_assets(html: str) -> str:
    """Replace every vendored link by its content; refuse any remaining external script or CSS."""
    html = _SCRIPT.sub(lambda m: f"<script>{_safe_js(js_text(m[1], m[2]))}</script>", html)
    html = _LINK.sub(lambda m: f"<style>{css_text(m[1], m[2])}</style>", html)
    external = _EXTERNAL.findall(html)
    if external:
        raise AssetError("La carte lierait des ressources externes : " + ", ".join(external[:3]))
    return html


def _safe_js(text: str) -> str:
    # A literal "</script" inside inlined code would close the element early.
    return text.replace("</script", "<\\/script")


# -- maintenance: refresh vendor/ from the npm registry -------------------------------------------


def manifest() -> dict[str, dict]:
    return json.loads((VENDOR / "MANIFEST.json").read_text(encoding="utf-8"))


def verify() -> list[str]:
    """Problems with the vendored files (missing or altered), empty when all is well."""
    problems = []
    for package, entry in manifest().items():
        for path, digest in entry["sha256"].items():
            file = VENDOR / package / path
            if not file.is_file():
                problems.append(f"{package}/{path} absent")
            elif hashlib.sha256(file.read_bytes()).hexdigest() != digest:
                problems.append(f"{package}/{path} modifié")
    return problems


def update(npm: str = "npm") -> None:  # pragma: no cover - needs the npm registry
    """Fetch every pinned package with ``npm pack`` and rewrite ``vendor/``."""
    entries: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for package in PACKAGES:
            spec = f"{package.name}@{package.version}"
            out = subprocess.run([npm, "pack", spec, "--json"], cwd=tmp, check=True,
                                 capture_output=True, text=True).stdout
            info = json.loads(out)[0]
            with tarfile.open(Path(tmp) / info["filename"]) as tar:
                tar.extractall(Path(tmp) / package.name, filter="data")
            root = Path(tmp) / package.name / "package"
            target = VENDOR / package.directory
            digests = {}
            for path in (*package.files, package.licence):
                source = root / path
                if not source.is_file() and path == package.licence:
                    source = target / path  # written by hand, see _MISSING_LICENCES
                else:
                    (target / path).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target / path)
                digests[path] = hashlib.sha256(source.read_bytes()).hexdigest()
            entries[package.directory] = {"version": package.version, "integrity": info["integrity"],
                                     "licence": package.licence, "sha256": digests}
    (VENDOR / "MANIFEST.json").write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    update(*sys.argv[1:])
