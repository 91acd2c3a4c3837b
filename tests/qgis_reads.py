"""What QGIS reads, as a QGIS user gets it: run by the python3 that has QGIS' bindings (Debian's
``/usr/bin/python3`` with ``python3-qgis``), headless, by ``tests/web_api/test_api_standards.py``.

Usage: ``python3 qgis_reads.py API_URL STORE.gpkg LAYER...`` — prints one JSON object: for each
typed action collection of the API, through QGIS' own OGC API provider and through its GDAL one,
then for each GeoPackage layer of the store (GDAL provider): validity, geometry type, CRS,
features, their ids and the field types QGIS shows — a layer mixing geometry kinds also as the
sublayers (one per kind) QGIS offers when it is added.
"""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display: QGIS never opens a window

from qgis.core import QgsApplication, QgsVectorLayer, QgsWkbTypes  # noqa: E402

VIEWS = ("actions_points", "actions_lignes", "actions_surfaces")


def describe(layer: "QgsVectorLayer") -> dict:
    features = list(layer.getFeatures())
    names = layer.fields().names()
    return {
        "valid": layer.isValid(),
        "geometry": QgsWkbTypes.displayString(layer.wkbType()),
        "crs": layer.crs().authid(),
        "features": len(features),
        "drawn": sum(1 for f in features if f.hasGeometry()),
        "ids": sorted(str(f["id"]) for f in features if f.hasGeometry()) if "id" in names else [],
        "types": {f.name(): f.typeName() for f in layer.fields()},
    }


def main(url: str, store: str, layers: list[str]) -> dict:
    out: dict = {"api": {}, "store": {}}
    for name in VIEWS:
        for provider, uri in (("OAPIF", f"url='{url}' typename='{name}'"),
                              ("ogr", f"OAPIF:{url}|layername={name}")):
            out["api"][f"{provider}:{name}"] = describe(QgsVectorLayer(uri, name, provider))
    for name in layers:
        uri = f"{store}|layername={name}"
        layer = QgsVectorLayer(uri, name, "ogr")
        out["store"][name] = seen = describe(layer)
        # "0!!::!!actions!!::!!11!!::!!Point!!::!!geom!!::!!": one per geometry kind
        kinds = [sub.split("!!::!!")[3] for sub in layer.dataProvider().subLayers()]
        if len(kinds) > 1:
            seen["sublayers"] = {kind: describe(QgsVectorLayer(f"{uri}|geometrytype={kind}",
                                                               name, "ogr")) for kind in kinds}
    return out


if __name__ == "__main__":
    app = QgsApplication([], False)  # GUI off
    app.initQgis()
    try:
        result = main(sys.argv[1], sys.argv[2], sys.argv[3:])
    finally:
        app.exitQgis()
    print(json.dumps(result))
