"""One error hierarchy for the library.

Each error also inherits the builtin it refines, so callers may catch either. Adapters (CLI, API)
map these to exit codes or HTTP statuses once, at their edge. Messages are French because they reach
planners as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any, TypeVar


class OrtGeoError(Exception):
    """Root of every error raised by ort_geo.

    ``detail`` holds the underlying library's own text (libpq, SQLite, GDAL: often English),
    kept out of the French message; the CLI shows it with ``-v``. Set it with :func:`with_detail`.
    """

    detail: str | None = None


E = TypeVar("E", bound=OrtGeoError)


def with_detail(error: E, detail: object) -> E:
    """``error`` carrying ``detail`` (the technical cause, for ``-v`` output), returned to raise."""
    error.detail = str(detail).strip() or None
    return error


class LayerNotFoundError(OrtGeoError, KeyError):
    """A layer name that the catalogue or the store does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FeatureNotFoundError(OrtGeoError, KeyError):
    """A feature id absent from its layer."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TileNotFoundError(OrtGeoError, LookupError):
    """A tile outside a layer's tile matrices or outside the grid (OGC API – Tiles: 404)."""


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


class TooLargeError(GeometryError):
    """An input beyond a size limit (vertices of a request or of a feature)."""


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


class UnsupportedError(OrtGeoError, RuntimeError):
    """The installed libraries lack a capability (e.g. a GDAL driver)."""


class StoreError(OrtGeoError, OSError):
    """A store that cannot be opened, read or written."""


class BusyError(StoreError):
    """A store too busy to take a write now (locks or connections all taken): retry shortly."""


#: The optional dependency groups of ``pyproject.toml`` (``pip install 'ort-geo[extra]'``).
EXTRAS = ("postgis", "pdf", "browser", "bench", "dev")

#: Optional system programs: name -> (Debian package, what the tool does without it).
TOOLS: dict[str, tuple[str, str]] = {
    "chromium": ("chromium", "captures PNG des cartes web et du tableau de bord omises"),
    "pdftoppm": ("poppler-utils", "aperçus PNG des pages de l'atlas et du bilan omis"),
}


class MissingExtraError(OrtGeoError, ImportError):
    """An optional dependency group is not installed.

    Raise it through :func:`require_module` (or with an extra of :data:`EXTRAS` and the missing
    module's name): a wrong argument is refused when the error is made, not when it is shown.
    """

    def __init__(self, extra: str, module: str) -> None:
        if extra not in EXTRAS or not module or " " in module:
            raise TypeError(f"MissingExtraError(extra, module) : extra parmi {EXTRAS} et nom de "
                            f"module attendus, reçu ({extra!r}, {module!r})")
        super().__init__(
            f"Le module « {module} » manque : installez l'extra avec pip install 'ort-geo[{extra}]'."
        )
        self.extra = extra
        self.module = module
        self.name = module  # ImportError's attribute

    def __reduce__(self):  # pickled by its arguments (e.g. from a worker process), not its text
        return type(self), (self.extra, self.module)


class MissingToolError(OrtGeoError, FileNotFoundError):
    """An optional system program (chromium, pdftoppm…) is not installed: a French line says
    what is skipped and the command that installs it. Raise it through :func:`require_tool`."""

    def __init__(self, tool: str) -> None:
        if tool not in TOOLS:
            raise TypeError(f"MissingToolError(tool) : outil parmi {tuple(TOOLS)} attendu, "
                            f"reçu {tool!r}")
        package, skipped = TOOLS[tool]
        super().__init__(f"{tool} est introuvable : {skipped} ; pour l'installer : "
                         f"{install_command(package)}")
        self.tool = tool
        self.package = package

    def __str__(self) -> str:  # FileNotFoundError would format (errno, strerror)
        return str(self.args[0])

    def __reduce__(self):
        return type(self), (self.tool,)


def install_command(package: str) -> str:
    """The command that installs a Debian package, for this user (sudo unless root)."""
    import os

    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return f"{'' if root else 'sudo '}apt-get install {package}"


def require_module(module: str, extra: str) -> ModuleType:
    """Import ``module`` (e.g. ``"matplotlib"``) or raise :class:`MissingExtraError` naming
    ``extra``. The one way the library imports an optional dependency."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = (exc.name or module).split(".")[0]
        raise MissingExtraError(extra, missing) from None


def require_tool(tool: str, path: str | None = None) -> str:
    """The path of system program ``tool`` (``path`` if given and executable, else from PATH),
    or raise :class:`MissingToolError`. The one way the library looks for a system program."""
    import os
    import shutil

    if tool not in TOOLS:
        raise TypeError(f"require_tool : outil inconnu {tool!r}")
    if path:
        found = path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    else:
        found = shutil.which(tool)
    if found is None:
        raise MissingToolError(tool)
    return found


#: French wording of pydantic's validation errors (by error type); any other type gets a
#: generic French sentence, never pydantic's English message.
_PYDANTIC_MESSAGES = {
    "greater_than": "doit être supérieur à {gt}",
    "greater_than_equal": "doit être supérieur ou égal à {ge}",
    "less_than": "doit être inférieur à {lt}",
    "less_than_equal": "doit être inférieur ou égal à {le}",
    "int_parsing": "doit être un nombre entier",
    "int_type": "doit être un nombre entier",
    "int_from_float": "doit être un nombre entier",
    "int_parsing_size": "nombre hors limites",
    "float_parsing": "doit être un nombre",
    "float_type": "doit être un nombre",
    "finite_number": "doit être un nombre fini",
    "bool_parsing": "doit être un booléen (true/false)",
    "bool_type": "doit être un booléen (true/false)",
    "string_type": "doit être une chaîne de caractères",
    "string_too_short": "trop court (au moins {min_length} caractère(s))",
    "string_too_long": "trop long (au plus {max_length} caractères)",
    "string_pattern_mismatch": "forme invalide",
    "string_unicode": "texte illisible (UTF-8 attendu)",
    "list_type": "doit être une liste",
    "too_short": "trop peu d'éléments (au moins {min_length})",
    "too_long": "trop d'éléments (au plus {max_length})",
    "missing": "est obligatoire",
    "dict_type": "doit être un objet JSON",
    "model_type": "doit être un objet JSON",
    "model_attributes_type": "doit être un objet JSON",
    "json_invalid": "JSON illisible",
    "json_type": "JSON attendu",
    "literal_error": "valeur non admise (admises : {expected})",
    "enum": "valeur non admise (admises : {expected})",
    "date_parsing": "doit être une date (AAAA-MM-JJ)",
    "date_from_datetime_parsing": "doit être une date (AAAA-MM-JJ)",
    "datetime_parsing": "doit être une date et heure RFC 3339",
    "datetime_from_date_parsing": "doit être une date et heure RFC 3339",
    "uuid_parsing": "identifiant UUID invalide",
    "extra_forbidden": "champ non admis",
    "value_error": "valeur invalide : {error}",
}


def validation_message(err: Mapping[str, Any], whole: str = "corps") -> str:
    """One pydantic validation error (``ValidationError.errors()``, FastAPI's too) in French,
    ``where : what`` (``whole`` where it is about the whole object); a model validator's own
    (French) message is kept."""
    where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body",
                                                                      "header"))
    if err.get("type") == "json_invalid":  # its place is a character offset, not a field
        where = ""
    text = _PYDANTIC_MESSAGES.get(err.get("type", ""), "valeur invalide")
    try:
        msg = text.format(**err.get("ctx", {}))
    except (KeyError, IndexError, ValueError):
        msg = text.split(" (")[0]
    return f"{where or whole} : {msg}"


#: The system's (English) reasons a file operation fails, in French, by errno name.
_OS_REASONS = {
    "ENOENT": "fichier ou dossier introuvable",
    "EACCES": "permission refusée",
    "EPERM": "opération non permise",
    "EISDIR": "c'est un dossier",
    "ENOTDIR": "un élément du chemin n'est pas un dossier",
    "EEXIST": "un fichier de ce nom existe déjà",
    "ENOSPC": "plus de place sur le disque",
    "EDQUOT": "quota de disque dépassé",
    "EROFS": "système de fichiers en lecture seule",
    "ENAMETOOLONG": "nom de fichier trop long",
    "EMFILE": "trop de fichiers ouverts",
    "EIO": "erreur d'entrée-sortie du disque",
    "EBUSY": "fichier occupé",
    "EXDEV": "déplacement impossible entre deux systèmes de fichiers",
    "EADDRINUSE": "adresse déjà utilisée (un autre programme écoute sur ce port)",
    "EADDRNOTAVAIL": "adresse absente de cette machine",
    "ECONNREFUSED": "connexion refusée",
}


def os_reason(exc: OSError) -> str:
    """Why a file operation failed, in French (the system's own text belongs in ``detail``)."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    return _OS_REASONS.get(name, "erreur du système")


def raster_reason(exc: Exception) -> str:
    """Why GDAL (through rasterio) cannot open a raster, in French."""
    text = str(exc).lower()
    if "no such file" in text:
        return "fichier introuvable"
    if "not recognized as being in a supported file format" in text:
        return "format raster non reconnu (GeoTIFF, SRTM .hgt… attendus)"
    if "permission denied" in text:
        return "permission refusée"
    return "fichier illisible ou endommagé"
