"""Import and export: any vector file in, GeoPackage / GeoJSON / Shapefile / CSV out."""

from .fields import map_fields, match_fields
from .importer import import_file
from .read import read_vector
from .report import ImportReport

__all__ = ["ImportReport", "import_file", "map_fields", "match_fields", "read_vector"]
