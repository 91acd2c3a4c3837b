"""Import and export: any vector file in, GeoPackage / GeoJSON / Shapefile / CSV out."""

from .fields import map_fields, match_fields
from .importer import import_file
from .read import read_vector
from .report import ImportReport
from .table import decode_text
from .write import FORMATS, export_format, export_layer, shapefile_names, write_frame

__all__ = [
    "FORMATS", "ImportReport", "decode_text", "export_format", "export_layer", "import_file",
    "map_fields", "match_fields", "read_vector", "shapefile_names", "write_frame",
]
