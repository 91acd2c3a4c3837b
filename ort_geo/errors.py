"""One error hierarchy for the library.

Each error also inherits the builtin it refines, so callers may catch either. Adapters (CLI, API)
map these to exit codes or HTTP statuses once, at their edge. Messages are French because they reach
planners as they are.
"""

from __future__ import annotations


class OrtGeoError(Exception):
    """Root of every error raised by ort_geo."""


class LayerNotFoundError(OrtGeoError, KeyError):
    """A layer name that the catalogue or the store does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FeatureNotFoundError(OrtGeoError, KeyError):
    """A feature id absent from its layer."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InputError(OrtGeoError, ValueError):
    """Input data that cannot be accepted as it is (the store is left unchanged)."""


class FormatError(InputError):
    """A file that is not what its name or the caller claims, or an unsupported format."""


class EncodingError(InputError):
    """Text whose encoding cannot be decoded."""


class CRSError(InputError):
    """A missing, unknown or unusable coordinate reference system."""


class AmbiguousCRSError(CRSError):
    """Coordinates that fit several candidate CRSs, or none: the user must declare one."""


class SwappedAxesError(CRSError):
    """Coordinates that look like latitude/longitude given in the wrong order."""


class GeometryError(InputError):
    """Invalid, empty or wrongly typed geometries."""


class FieldError(InputError):
    """Fields that do not fit the catalogue (unknown, missing required, wrong type)."""


class ValidationError(InputError):
    """Data that breaks a domain or topology rule (see ort_geo.rules)."""


class ConflictError(OrtGeoError):
    """An edit based on a stale version of a feature (optimistic concurrency).

    ``layer`` and ``feature_id`` name the feature when known, so that adapters can show the
    version that won (the API's 412 carries it).
    """

    def __init__(self, message: str, *, layer: str | None = None,
                 feature_id: str | None = None) -> None:
        super().__init__(message)
        self.layer = layer
        self.feature_id = feature_id


class AccessDeniedError(OrtGeoError, PermissionError):
    """A role that may not see or change what it asked for."""


class StoreError(OrtGeoError, OSError):
    """A store that cannot be opened, read or written."""


class MissingExtraError(OrtGeoError, ImportError):
    """An optional dependency group is not installed."""

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"Le module « {module} » manque : installez l'extra avec pip install 'ort-geo[{extra}]'."
        )
        self.extra = extra
        self.module = module
