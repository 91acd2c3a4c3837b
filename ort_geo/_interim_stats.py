"""Interim stand-in for ``ort_geo.stats.sector_stats`` until the statistics engine lands.

Private and minimal on purpose: the atlas switches to the real engine as soon as it exists.
"""

from __future__ import annotations

import pandas as pd

from .privacy import mask_count, mask_rate


def sector_stats(store, layer: str, *, public: bool = False, perimeter=None) -> pd.DataFrame:
    zones = store.read(layer)
    buildings = store.read("batiments")
    points = buildings.set_geometry(buildings.geometry.representative_point())
    rows = []
    for fid, geom in [(z.id, z.geometry) for z in zones.itertuples()] + [
            ("territoire", zones.union_all() if False else None)]:
        inside = points if geom is None else points[points.within(geom)]
        n = len(inside)
        dw = int(inside["nb_logements"].fillna(0).sum())
        vac = int(inside["nb_logements_vacants"].fillna(0).sum())
        rate = round(100 * vac / dw, 1) if dw else None
        area = (zones.area.sum() if geom is None else geom.area) / 10_000
        if public:
            rate = mask_rate(rate, vac, dw)
            n, dw, vac = mask_count(n), mask_count(dw), mask_count(vac)
        rows.append({"id": fid, "surface_ha": round(area, 1), "batiments": n, "logements": dw,
                     "logements_vacants": vac, "taux_vacance": rate})
    return pd.DataFrame(rows)
