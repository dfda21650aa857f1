"""The one reading rule of the chambers' tabular exports, for the CLI's files and every API upload alike.

A CSV export is read as a table of texts: separator `,` `;` tab or `|` (found in the header line), UTF-8 with
or without BOM, CRLF or LF line ends, header names without their stray spaces, an empty cell = no value.
An Excel workbook (`.xlsx`, recognised by its bytes, not by a file name) is read as the CSV export of its
first sheet would be: the first non-empty row is the header, every cell becomes the text a CSV would hold
(dates `YYYY-MM-DD`, numbers with a decimal point and no `.0`, booleans `1`/`0`, formulas by the value the
spreadsheet saved, never evaluated). A workbook that would unpack to far more than its size (a zip bomb)
is refused before it is read, one holding more cells than a chamber's export ever does as soon as they are
seen (the size a sheet declares is never trusted).
Values are then read by what a column holds (`normalize_values`): French dates (DD/MM/YYYY) as ISO dates,
decimal commas as points, the other texts stripped. The data contracts (`models.contracts`) and the API's
record schemas judge the result; nothing here drops a row.

`write_xlsx` writes the other way, for the CLI's generated tables and the API's `.xlsx` answers: every text
as a text cell, so that no value is ever read as a formula.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SEPARATORS = ",;\t|"
XLSX_MAGIC = b"PK\x03\x04"  # a zip archive's first bytes: how an `.xlsx` body is told from a CSV one
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an old `.xls`, or a password-protected workbook
# A workbook whose members would unpack to more than this is refused unread (a zip bomb): 200 MB at most,
# and no more than 100 times its own size once past 10 MB (sheets of repeated rows compress well, never
# that well; a small workbook is harmless whatever its ratio).
XLSX_MAX_UNPACKED = 200_000_000
XLSX_MAX_RATIO = 100
XLSX_RATIO_FREE = 10_000_000
# Cells read (header width x rows, or more for wider rows) and rows (a sheet's own limit) at most: a sheet
# can declare cells far away from the others at little cost, each making every row that wide.
XLSX_MAX_CELLS = 30_000_000
XLSX_MAX_ROWS = 1_048_576


class TableReadError(ValueError):
    """A file or body that cannot be read as a table at all (not UTF-8, no header, ragged lines...); its
    message says why in French, without any value of the file."""


@dataclass(frozen=True)
class RaggedRow:
    """A data row holding more or fewer fields than the header names: its position among the data rows
    (line `position + 2` of the file, the header being line 1) and its field count."""

    position: int
    fields: int


@dataclass(frozen=True)
class TextRows:
    """A CSV export read as a table of texts, but for its ragged rows: `table` holds the other rows, in
    order, and `ragged` the rows set aside (so that one bad line never hides the others)."""

    table: pa.Table
    ragged: list[RaggedRow] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Every data row of the file, ragged ones included."""
        return int(self.table.num_rows) + len(self.ragged)

    def positions(self) -> list[int]:
        """The position among the data rows of each row of `table`."""
        if not self.ragged:
            return list(range(self.table.num_rows))
        skipped = {row.position for row in self.ragged}
        return [i for i in range(self.count) if i not in skipped]


def separator_of(header: str) -> str:
    """The separator of a CSV export, found in its header line: the one of `, ; tab |` it holds most (`,`
    when it names a single column)."""
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def read_text_table(raw: bytes) -> pa.Table:
    """A CSV export as a table of texts (see the module's rule); `TableReadError` when it cannot be read.
    Header names are stripped of spaces and BOM; a repeated header name is an error, as is a ragged row
    (`read_text_rows` sets those aside instead)."""
    rows = read_text_rows(raw)
    if rows.ragged:
        first = rows.ragged[0]
        raise TableReadError(
            f"la ligne {first.position + 2} compte {first.fields} champs quand l'en-tête en nomme "
            f"{rows.table.num_columns}"
        )
    return rows.table


def is_xlsx(raw: bytes) -> bool:
    """Whether a body is a zip archive, as an `.xlsx` workbook is (read as one, whatever its name)."""
    return raw[:4] == XLSX_MAGIC


def read_text_rows(raw: bytes) -> TextRows:
    """A CSV export or an `.xlsx` workbook as a table of texts, its ragged rows (more or fewer fields than
    the header; in a workbook, non-empty cells past the header's last column) set aside with their
    positions; `TableReadError` when the file cannot be read at all."""
    if is_xlsx(raw):
        return read_xlsx_rows(raw)
    if raw[:8] == OLE_MAGIC:
        raise TableReadError(
            "classeur Excel ancien (.xls) ou protégé par un mot de passe : enregistrez-le en .xlsx sans mot "
            "de passe ou en CSV"
        )
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        header = raw.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as err:
        raise TableReadError("le fichier n'est pas du texte UTF-8") from err
    if not header.strip():
        raise TableReadError("la première ligne (l'en-tête des colonnes) est vide")
    if b"\x00" in raw:  # valid UTF-8, yet no text export holds a NUL byte: a binary file
        raise TableReadError("le fichier contient des octets nuls : ce n'est pas un fichier texte")
    delimiter = separator_of(header)
    names = next(csv.reader([header], delimiter=delimiter))
    names = [name.strip().lstrip("\ufeff").strip() for name in names]
    if len(set(names)) != len(names):
        raise TableReadError("un nom de colonne est répété dans l'en-tête")
    ragged = 0

    def set_aside(row: object) -> str:
        nonlocal ragged
        ragged += 1
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(raw),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=set_aside),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True, null_values=[""]
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise TableReadError(_unreadable(err)) from err
    if not ragged:
        return TextRows(table)
    return _rows_with_positions(raw, names, delimiter)


def _unreadable(err: Exception) -> str:
    """Why Arrow could not read a file, in French (Arrow's own message may quote the file's values)."""
    if isinstance(err, UnicodeDecodeError) or "UTF8" in str(err) or "UTF-8" in str(err):
        return "le fichier n'est pas du texte UTF-8"
    return "lignes illisibles (guillemets non refermés ou caractères de contrôle)"


def _rows_with_positions(raw: bytes, names: list[str], delimiter: str) -> TextRows:
    """The rows of a file with ragged rows, read again record by record (Python's reader counts records
    as a spreadsheet does, a quoted line break inside one), so that each ragged row has its position."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TableReadError("le fichier n'est pas du texte UTF-8") from err
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(records, None)  # the header
    kept: list[list[str]] = []
    ragged: list[RaggedRow] = []
    position = 0
    try:
        for record in records:
            if not record:  # an empty line: no row (as Arrow reads it)
                continue
            if len(record) == len(names):
                kept.append(record)
            else:
                ragged.append(RaggedRow(position, len(record)))
            position += 1
    except csv.Error as err:
        raise TableReadError("lignes illisibles (guillemets non refermés ou caractères de contrôle)") from err
    columns = {
        name: pa.array([row[i] or None for row in kept], type=pa.string()) for i, name in enumerate(names)
    }
    return TextRows(pa.table(columns), ragged)


XLSX_UNREADABLE = "le fichier n'est pas un classeur Excel (.xlsx) lisible"


def read_xlsx_rows(raw: bytes) -> TextRows:
    """The first sheet of an `.xlsx` workbook as the table of texts its CSV export would give (see the
    module's rule): the cached values of formulas (never evaluated), ragged rows set aside as in a CSV;
    `TableReadError`, in French and without any value of the file, when it cannot or may not be read."""
    _check_unpacked_size(raw)
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as err:  # zip, XML or workbook structure: their messages may quote the file
        raise TableReadError(XLSX_UNREADABLE) from err
    try:
        if not book.worksheets:
            raise TableReadError("le classeur ne contient aucune feuille de données")
        sheet = book.worksheets[0]
        # The size a sheet declares is not trusted: rows are read as wide as their own cells.
        sheet.reset_dimensions()
        return _sheet_rows(sheet.iter_rows(values_only=True))
    except TableReadError:
        raise
    except Exception as err:  # a sheet's XML that cannot be read (its messages may quote the file)
        raise TableReadError(XLSX_UNREADABLE) from err
    finally:
        book.close()


def _check_unpacked_size(raw: bytes) -> None:
    """`TableReadError` for a zip that cannot be read, or whose members would unpack to more than the
    bound (a zip bomb); the sizes are the archive's own (its members are never unpacked past them)."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as err:
        raise TableReadError(XLSX_UNREADABLE) from err
    bound = (
        XLSX_MAX_UNPACKED
        if unpacked <= XLSX_RATIO_FREE
        else min(XLSX_MAX_UNPACKED, XLSX_MAX_RATIO * len(raw))
    )
    if unpacked > bound:
        raise TableReadError(
            f"classeur refusé : décompressé, il occuperait plus de {XLSX_MAX_RATIO} fois sa taille ou plus "
            f"de {XLSX_MAX_UNPACKED // 1_000_000} Mo ; enregistrez la feuille en CSV"
        )


def _sheet_rows(rows: Iterable[Sequence[Any]]) -> TextRows:
    """The rows of a sheet (values, as openpyxl reads them) as a table of texts: the first non-empty row
    names the columns, empty rows are no row (as empty lines of a CSV), a row with non-empty cells past
    the header's last column is ragged, a shorter one has empty cells."""
    names: list[str] | None = None
    kept: list[list[str | None]] = []
    ragged: list[RaggedRow] = []
    position = cells = 0
    for number, row in enumerate(rows, start=1):
        if number > XLSX_MAX_ROWS:
            raise TableReadError(f"la feuille compte plus de {XLSX_MAX_ROWS} lignes")
        cells += max(len(row), len(names) if names is not None and row else 1)
        if cells > XLSX_MAX_CELLS:
            raise TableReadError(
                f"la feuille compte plus de {XLSX_MAX_CELLS // 1_000_000} millions de cellules ; "
                "découpez-la en plusieurs fichiers"
            )
        texts = [cell_text(value) for value in row]
        while texts and texts[-1] is None:
            texts.pop()
        if not texts:
            continue
        if names is None:
            names = [(text or "").strip() for text in texts]
            if len(set(names)) != len(names):
                raise TableReadError("un nom de colonne est répété dans l'en-tête")
        elif len(texts) > len(names):
            ragged.append(RaggedRow(position, len(texts)))
            position += 1
        else:
            kept.append(texts + [None] * (len(names) - len(texts)))
            position += 1
    if names is None:
        raise TableReadError("la première feuille du classeur est vide (aucune ligne d'en-tête)")
    columns = {name: pa.array([row[i] for row in kept], type=pa.string()) for i, name in enumerate(names)}
    return TextRows(pa.table(columns), ragged)


def cell_text(value: Any) -> str | None:
    """A spreadsheet cell's value as its CSV export writes it: dates `YYYY-MM-DD` (a time kept only when it
    is not midnight, ISO), numbers with a point and without `.0` (to the 15 digits a spreadsheet keeps),
    booleans `1`/`0`, an empty cell or text None."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.15g}"
        if "e" in text:  # 1e-05, 1.5e+20: written out in full
            text = format(Decimal(text), "f")
        return "0" if text == "-0" else text
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def write_xlsx(target: Path | io.BytesIO, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table written as an `.xlsx` workbook of one sheet: the header, then the rows. Every text is a text
    cell (never a formula, whatever its first character; characters a workbook cannot hold replaced by
    U+FFFD), numbers and booleans are numbers, dates are dates shown `YYYY-MM-DD` (with the time when
    there is one), missing values (None, "", NaN, NaT, NA) empty cells; ValueError past a sheet's rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Feuille1")

    def cell(value: Any) -> Any:
        value = _cell_value(value)
        if value is None:
            return None
        out = WriteOnlyCell(sheet, value=_xml_safe(value) if isinstance(value, str) else value)
        if isinstance(value, str):
            out.data_type = "s"  # openpyxl would read a text starting with `=` as a formula
        elif isinstance(value, datetime):
            out.number_format = "yyyy-mm-dd hh:mm:ss"
        elif isinstance(value, date):
            out.number_format = "yyyy-mm-dd"
        return out

    sheet.append([cell(str(name)) for name in columns])
    for number, row in enumerate(rows, start=2):
        if number > XLSX_MAX_ROWS:
            raise ValueError(f"an .xlsx sheet holds {XLSX_MAX_ROWS:,} rows at most, the header included")
        # Every value a cell of its own: openpyxl would give a plain value the style of a cell before it.
        sheet.append([cell(value) for value in row])
    book.save(target)


def _cell_value(value: Any) -> Any:
    """A value as a workbook cell holds it: None for a missing one, plain Python numbers, dates without a
    midnight time, a text for anything else (a date with a time zone: its ISO text)."""
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, str) and not value):
        return None
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):  # pd.Timestamp too
        if value.tzinfo is not None:
            return value.isoformat()
        plain = value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
        return plain.date() if plain.time() == time() else plain
    if isinstance(value, date):
        return value
    return str(value)


def _xml_safe(text: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)


def read_text_file(path: Path) -> pd.DataFrame:
    """A CSV (optionally gzip), `.xlsx` (recognised by its bytes) or Parquet file as a frame of texts,
    missing = "" (the contracts' input)."""
    if path.suffix == ".parquet":
        return as_text(pd.read_parquet(path))
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        import gzip

        raw = gzip.decompress(raw)
    table = read_text_table(raw)
    return pd.DataFrame(
        {name: table[name].to_pandas().fillna("").astype(object) for name in table.column_names}
    )


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A typed frame as a CSV export would give it: dates as YYYY-MM-DD, everything text, missing = ""."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            out[name] = col.dt.strftime("%Y-%m-%d").fillna("")
        else:
            out[name] = col.astype("string").fillna("")
    return pd.DataFrame(out)


_FRENCH_DATE = r"^\s*([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})\s*$"
_DECIMAL_COMMA = r"^\s*(-?[0-9]*),([0-9]+)\s*$"


def iso_dates(values: pa.Array) -> pa.Array:
    """Texts of dates: DD/MM/YYYY (French exports) rewritten YYYY-MM-DD, other texts stripped as they are
    (the schema then judges them)."""
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    french = pc.replace_substring_regex(text, _FRENCH_DATE, r"\3-0\2-0\1")
    # One-digit day or month got a 0 in front above: keep the last two digits of each part.
    french = pc.replace_substring_regex(french, r"^([0-9]{4})-0?([0-9]{2})-0?([0-9]{2})$", r"\1-\2-\3")
    return pc.if_else(pc.match_substring_regex(text, _FRENCH_DATE), french, text)


def decimal_points(values: pa.Array) -> pa.Array:
    """Texts of numbers: a decimal comma (`12,5`) read as a point, other texts stripped."""
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    return pc.replace_substring_regex(text, _DECIMAL_COMMA, r"\1.\2")


def normalize_values(table: pa.Table, kinds: Mapping[str, str], raw: bytes | None = None) -> pa.Table:
    """The columns of `table` named in `kinds` read by their kind (`date`: French dates as ISO; `int`,
    `float`: decimal commas; `text`: stripped); the other columns left out (only what is read is kept).

    With the `raw` bytes the table was read from, a rewrite no byte could need is skipped (no `/`: no
    French date; no `,` inside a value: no decimal comma; no space: nothing to strip), so a plain export
    costs no pass over its values. A workbook's bytes are compressed: they say nothing of its values, and
    every rewrite is made."""
    if raw is not None and is_xlsx(raw):
        raw = None
    dates = raw is None or b"/" in raw
    separator = separator_of(_header(raw)).encode() if raw is not None else b","
    # In a `,` file a decimal comma can only stand in a quoted value.
    commas = raw is None or (
        b'"' in raw if separator == b"," else b"," in raw and _DECIMAL_COMMA_BYTES.search(raw) is not None
    )
    # Any space (or a tab that is not the separator) may be one to strip: one byte search (memchr).
    spaces = raw is None or b" " in raw or (separator != b"\t" and b"\t" in raw)
    if not (dates or commas or spaces):  # nothing to rewrite: the model's columns as they were read
        return table.select([name for name in kinds if name in table.column_names])
    columns = {}
    for name, kind in kinds.items():
        if name not in table.column_names:
            continue
        values = table[name].combine_chunks()
        if kind == "date" and dates:
            values = iso_dates(values)
        elif kind in ("int", "float") and commas:
            values = decimal_points(values)
        elif spaces:
            values = pc.utf8_trim_whitespace(values.cast(pa.string()))
        else:
            columns[name] = values
            continue
        columns[name] = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    return pa.table(columns) if columns else table.select([])


def _header(raw: bytes) -> str:
    return raw.removeprefix(codecs.BOM_UTF8).split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")


# A digit, a comma, a digit, or a comma opening a value: a decimal comma (in a `;`, tab or `|` file).
_DECIMAL_COMMA_BYTES = re.compile(rb"[0-9],[0-9]|[;|\t\n\"],[0-9]")
