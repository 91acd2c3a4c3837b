"""Import and export: any vector file in, GeoPackage / GeoJSON / Shapefile / CSV out."""

from .fields import map_fields, match_fields
from .importer import import_file
from .read import check_unzipped, read_vector
from .report import ImportReport
from .table import decode_text
from .write import FORMATS, export_format, export_layer, shapefile_names, write_frame

__all__ = [
    "FORMATS", "ImportReport", "check_unzipped", "decode_text", "export_format", "export_layer", "import_file",
    "map_fields", "match_fields", "read_vector", "shapefile_names", "write_frame",
]
