"""GeoPackage geometry blobs read without pandas or GDAL (numpy and shapely only): the store's
reader uses them, and so does the work ``ort-geo stats`` starts while the rest loads
(:mod:`ort_geo.prepared`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

#: Envelope size in bytes by the header's envelope indicator (GeoPackage 1.4, 2.1.3).
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def _wkb_part(blob: bytes) -> bytes:
    return blob[8 + _ENVELOPE_BYTES[(blob[3] >> 1) & 0b111]:]


def decode_geometries(blobs: Sequence[bytes | None]) -> np.ndarray:
    """Shapely geometries of GeoPackage blobs (None stays None)."""
    wkbs = [None if b is None else _wkb_part(b) for b in blobs]
    return shapely.from_wkb(np.asarray(wkbs, dtype=object))
