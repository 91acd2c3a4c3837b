"""QGIS draws the API's building tiles: run by the python3 that has QGIS' bindings (Debian's
``/usr/bin/python3`` with ``python3-qgis``), headless, by ``tests/web_api/test_api_tiles.py``.

Usage: ``python3 qgis_tiles.py TILE_URL_TEMPLATE XMIN YMIN XMAX YMAX OUT.png [API_KEY|- ...]``
(extent in EPSG:3857; ``-`` or no key: anonymous) — for each key in turn, in one QGIS session
(one network cache, as a QGIS user who adds a key after looking anonymously), adds the template
as a QGIS vector tile layer (type xyz, as a QGIS user adds a "Vector Tiles" connection; with a
key, through a QGIS "Basic" authentication configuration, the key as password, as a QGIS user
stores it), renders the extent to ``OUT.png`` (``OUT-1.png``… after the first) and prints one
JSON object per render: the layer's validity, the share of pixels drawn, and the features QGIS
decoded (their attribute names and building ids), recorded by an expression function the
layer's style calls for every feature it draws.
"""

import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display: QGIS never opens a window
# A throw-away authentication database and network cache, never the user's (the cache is shared
# by the renders of one run: Qt's disk cache, under XDG_CACHE_HOME, ignores ``Vary: X-API-Key,
# Authorization``, which is why the API's tiles are revalidated on every use, never fresh).
_SCRATCH = tempfile.mkdtemp(prefix="qgis-tiles-")
os.environ["QGIS_AUTH_DB_DIR_PATH"] = _SCRATCH
os.environ["XDG_CACHE_HOME"] = _SCRATCH

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsAuthMethodConfig,
    QgsCoordinateReferenceSystem,
    QgsExpression,
    QgsFillSymbol,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsRectangle,
    QgsVectorTileBasicRenderer,
    QgsVectorTileBasicRendererStyle,
    QgsVectorTileLayer,
    QgsWkbTypes,
    qgsfunction,
)
from qgis.PyQt.QtCore import NULL, QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

SEEN: dict[str, list[str]] = {}
#: The attributes the style asks QGIS to decode (QGIS decodes only those an expression names).
FIELDS = ["id", "code_insee", "etat", "nb_logements", "nb_logements_vacants",
          "proprietaire_type", "habitat_indigne"]


@qgsfunction(args=-1, group="ort-geo", usesgeometry=False, register=False,
             handlesnull=True)
def ort_geo_seen(values, feature, parent):
    """Records the feature QGIS is about to draw (its id, the named attributes it carries);
    always true: the style draws it."""
    SEEN[str(values[0])] = [n for n, v in zip(FIELDS, values, strict=True)
                            if v is not None and v != NULL]
    return True


def basic_auth(key: str) -> str:
    """A QGIS authentication configuration (HTTP Basic, the API key as password); its id."""
    manager = QgsApplication.authManager()
    manager.setMasterPassword("ort-geo-test", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName("ort-geo")
    config.setConfig("username", "qgis")
    config.setConfig("password", key)
    ok = manager.storeAuthenticationConfig(config)
    if isinstance(ok, tuple):
        ok, config = ok
    assert ok and config.id(), "configuration d'authentification non enregistrée"
    return config.id()


def main(template: str, extent: list[float], png: str, key: str | None) -> dict:
    SEEN.clear()
    uri = f"type=xyz&url={template}&zmin=13&zmax=16"
    if key:
        uri += f"&authcfg={basic_auth(key)}"
    layer = QgsVectorTileLayer(uri, "Bâtiments")
    style = QgsVectorTileBasicRendererStyle("batiments", "batiments", QgsWkbTypes.PolygonGeometry)
    style.setSymbol(QgsFillSymbol.createSimple({"color": "#c0392b", "outline_color": "#1b2631"}))
    style.setFilterExpression("ort_geo_seen(" + ", ".join(f'"{n}"' for n in FIELDS) + ")")
    renderer = QgsVectorTileBasicRenderer()
    renderer.setStyles([style])
    layer.setRenderer(renderer)
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setExtent(QgsRectangle(*extent))
    settings.setOutputSize(QSize(800, 600))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(png)
    drawn = sum(1 for x in range(0, image.width(), 4) for y in range(0, image.height(), 4)
                if image.pixelColor(x, y) != QColor(255, 255, 255))
    total = len(range(0, image.width(), 4)) * len(range(0, image.height(), 4))
    return {"valid": layer.isValid(), "drawn": drawn / total,
            "errors": [str(e) for e in job.errors()],
            "features": sorted(SEEN), "fields": sorted({n for f in SEEN.values() for n in f})}


if __name__ == "__main__":
    app = QgsApplication([], False)  # GUI off
    app.initQgis()
    QgsExpression.registerFunction(ort_geo_seen)
    results = []
    try:
        for i, key in enumerate(sys.argv[7:] or ["-"]):
            png = sys.argv[6] if i == 0 else sys.argv[6].replace(".png", f"-{i}.png")
            results.append(main(sys.argv[1], [float(v) for v in sys.argv[2:6]], png,
                                None if key == "-" else key))
    finally:
        QgsExpression.unregisterFunction("ort_geo_seen")
        app.exitQgis()
        shutil.rmtree(_SCRATCH, ignore_errors=True)
    for result in results:
        print(json.dumps(result))
