"""ort-geo: the atlas of a French ORT / Petites villes de demain programme as geospatial layers."""

import logging

from .catalogue import CATALOGUE
from .errors import OrtGeoError
from .features import Feature
from .store import open_store

__all__ = ["CATALOGUE", "Feature", "OrtGeoError", "open_store"]
#: The one place the version is written (pyproject.toml reads it: setuptools dynamic version).
__version__ = "0.1.0"

# A library logs, its application decides what is shown: quiet unless `ort-geo -v` (or the
# caller) configures logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())
