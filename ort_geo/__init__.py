"""ort-geo: the atlas of a French ORT / Petites villes de demain programme as geospatial layers."""

from .catalogue import CATALOGUE
from .errors import OrtGeoError
from .features import Feature
from .store import open_store

__all__ = ["CATALOGUE", "Feature", "OrtGeoError", "open_store"]
__version__ = "0.1.0"
