"""QGIS draws the API's building tiles: run by the python3 that has QGIS' bindings (Debian's
``/usr/bin/python3`` with ``python3-qgis``), headless, by ``tests/web_api/test_api_tiles.py``.

Usage: ``python3 qgis_tiles.py TILE_URL_TEMPLATE XMIN YMIN XMAX YMAX OUT.png`` (extent in
EPSG:3857) — adds the template as a QGIS vector tile layer (type xyz, as a QGIS user adds a
"Vector Tiles" connection), renders the extent to ``OUT.png`` and prints one JSON object: the
layer's validity and the share of pixels drawn.
"""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display: QGIS never opens a window

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsRectangle,
    QgsVectorTileLayer,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402


def main(template: str, extent: list[float], png: str) -> dict:
    uri = f"type=xyz&url={template}&zmin=13&zmax=16"
    layer = QgsVectorTileLayer(uri, "Bâtiments")
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
            "errors": [str(e) for e in job.errors()]}


if __name__ == "__main__":
    app = QgsApplication([], False)  # GUI off
    app.initQgis()
    try:
        result = main(sys.argv[1], [float(v) for v in sys.argv[2:6]], sys.argv[6])
    finally:
        app.exitQgis()
    print(json.dumps(result))
