"""ort-geo: the atlas of a French ORT / Petites villes de demain programme as geospatial layers."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .catalogue import CATALOGUE
    from .errors import OrtGeoError
    from .features import Feature
    from .store import open_store

__all__ = ["CATALOGUE", "Feature", "OrtGeoError", "open_store"]
#: The one place the version is written (pyproject.toml reads it: setuptools dynamic version).
__version__ = "0.1.0"

# Loaded on first use (PEP 562): a command such as ``ort-geo stats`` starts its work before
# pandas and GDAL are loaded.
_LAZY = {"CATALOGUE": ".catalogue", "Feature": ".features", "OrtGeoError": ".errors",
         "open_store": ".store"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# A library logs, its application decides what is shown: quiet unless `ort-geo -v` (or the
# caller) configures logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())
