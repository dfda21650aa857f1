"""The one reading rule of the chambers' tabular exports, for the CLI's files and every API upload alike.

A CSV export is read as a table of texts: separator `,` `;` tab or `|` (found in the header line), UTF-8 with
or without BOM, CRLF or LF line ends, header names without their stray spaces, an empty cell = no value.
Values are then read by what a column holds (`normalize_values`): French dates (DD/MM/YYYY) as ISO dates,
decimal commas as points, the other texts stripped. The data contracts (`models.contracts`) and the API's
record schemas judge the result; nothing here drops a row.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SEPARATORS = ",;\t|"


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


def read_text_rows(raw: bytes) -> TextRows:
    """A CSV export as a table of texts, its ragged rows (more or fewer fields than the header) set aside
    with their positions; `TableReadError` when the file cannot be read at all."""
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


def read_text_file(path: Path) -> pd.DataFrame:
    """A CSV (optionally gzip) or Parquet file as a frame of texts, missing = "" (the contracts' input)."""
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
    costs no pass over its values."""
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
