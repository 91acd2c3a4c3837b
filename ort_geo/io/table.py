"""Read the spreadsheets partners keep (CSV from French Excel, XLSX) into a table.

Non-spatial layers (financing lines, indicator values) are imported from these: the columns are
mapped to the catalogue like any import (:func:`ort_geo.io.fields.map_fields`), numbers written
the French way ("12 500,50 €", non-breaking spaces) are read as numbers and dates "31/12/2024" as
dates (by the catalogue's coercion).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

from ..catalogue import LayerSpec
from ..errors import EncodingError, FormatError, InputError, with_detail
from .report import ImportReport

TABLE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm")
_NUMBER = re.compile(r"^-?[\d\s\u00a0\u202f.]*\d(,\d+)?$")


def read_table(path: str | Path) -> tuple[pd.DataFrame, ImportReport]:
    """Rows of a CSV (any of ``;``, ``,``, tab; UTF-8 or Windows-1252) or of the first sheet of
    an XLSX workbook, every cell as text or as the workbook's typed value."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Fichier introuvable : {path}")
    suffix = path.suffix.lower()
    report = ImportReport(source=path.name)
    if suffix in (".xlsx", ".xlsm"):
        frame = _read_xlsx(path)
        report.format = "Classeur Excel (XLSX)"
    elif suffix in (".csv", ".txt"):
        frame, encoding, sep = _read_csv(path)
        report.format = "CSV"
        report.encoding = encoding
        report.note(f"CSV lu en {encoding}, séparateur « {sep} ».")
    else:
        raise FormatError(f"Format de tableau non reconnu : {path.name} (attendu : .csv ou .xlsx).")
    frame = frame.dropna(how="all").reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    report.features = len(frame)
    report.note(f"{len(frame)} ligne(s) lue(s).")
    return frame, report


def decode_text(raw: bytes, name: str) -> tuple[str, str]:
    """Text of a partner's file and the label of its encoding: UTF-8 (with or without BOM),
    else Windows-1252, what French Excel writes. ``name`` is the file named in the error."""
    for encoding, label in (("utf-8-sig", "UTF-8"), ("cp1252", "Windows-1252")):
        try:
            return raw.decode(encoding), label
        except UnicodeDecodeError:
            continue
    # Windows-1252 leaves five bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) undefined.
    raise EncodingError(f"Encodage illisible : {name} (UTF-8 ou Windows-1252 attendu).")


def csv_separator(text: str) -> str:
    """The separator of a CSV text: ``;`` (French Excel), ``,`` or tab, from its first lines."""
    head = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(head, delimiters=";,\t").delimiter
    except csv.Error:
        return ";"


def _read_csv(path: Path) -> tuple[pd.DataFrame, str, str]:
    text, label = decode_text(path.read_bytes(), path.name)
    sep = csv_separator(text)
    frame = parse_csv(text, sep, path.name).replace({"": None})
    return frame, label, "tabulation" if sep == "\t" else sep


#: First characters that make a spreadsheet take a cell for a formula: :func:`ort_geo.io.write.
#: csv_fr` writes such a text after an apostrophe (the spreadsheets' mark of text), and reading a
#: CSV back takes the apostrophe away (:func:`unguard_formulas`).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_GUARDED = tuple("'" + c for c in FORMULA_START)


def unguard_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A CSV read back: a text the tool wrote as "'=…" is "=…" again (text columns only)."""
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object and not pd.api.types.is_string_dtype(values.dtype):
            continue
        guarded = values.map(lambda v: isinstance(v, str) and v.startswith(_GUARDED)).astype(bool)
        if guarded.any():
            frame.loc[guarded, column] = values[guarded].map(lambda v: v[1:])
    return frame


def parse_csv(text: str, sep: str, name: str) -> pd.DataFrame:
    """Every cell of a decoded CSV as text (empty cells ""); a malformed or empty file is a
    French :class:`FormatError` naming ``name``."""
    try:
        return unguard_formulas(pd.read_csv(io.StringIO(text), sep=sep, dtype=str,
                                            keep_default_na=False))
    except pd.errors.EmptyDataError:
        raise FormatError(f"CSV illisible : {name} (fichier vide).") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise FormatError(f"CSV illisible : {name} ({_parser_problem(str(exc))}).") from None


def _parser_problem(message: str) -> str:
    """pandas' English parser message, said in French with its line (counted from 1)."""
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields:
        expected, line, seen = fields.groups()
        return f"ligne {line} : {seen} colonnes au lieu de {expected}"
    quote = re.search(r"inside string starting at row (\d+)", message)
    if quote:  # pandas counts these rows from 0
        return f"guillemet ouvert ligne {int(quote.group(1)) + 1} jamais refermé"
    return "structure non reconnue"


def _read_xlsx(path: Path) -> pd.DataFrame:
    # openpyxl (pandas' .xlsx engine) is a core dependency.
    try:
        return pd.read_excel(path, sheet_name=0, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is a format error
        import zipfile

        why = ("ce n'est pas un classeur Excel .xlsx (archive ZIP attendue)"
               if isinstance(exc, zipfile.BadZipFile)
               else "contenu incomplet ou endommagé")
        raise with_detail(FormatError(f"Classeur illisible : {path.name} ({why})."),
                          f"{type(exc).__name__} : {exc}") from None


def french_numbers(spec: LayerSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric fields written the French way ("12 500,50 €", "1.250,00") made plain numbers."""
    out = frame.copy()
    for name in out.columns:
        if name not in spec.by_name or spec.by_name[name].type not in ("int", "float"):
            continue
        out[name] = [_number(v) for v in out[name].tolist()]
    return out


def _number(value: object) -> object:
    if not isinstance(value, str):
        return value
    text = value.strip().replace("€", "").replace("%", "").strip()
    if not text:
        return None
    if _NUMBER.match(text):
        text = re.sub(r"[\s\u00a0\u202f]", "", text)
        if "," in text:  # decimal comma; dots are then thousands separators
            text = text.replace(".", "").replace(",", ".")
        return text
    return value  # left for the catalogue's coercion to refuse, in French
