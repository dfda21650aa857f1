"""The CSV side of the scoring routes: a CSV body or upload read into a batch of records, and the answer of
the `.csv` routes written as a `;` CSV for a spreadsheet.

Kept apart from the routes (`service.routers.scoring`): nothing here knows HTTP beyond the errors it
raises and the response it builds; the scoring itself is handed in by the route.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pandas as pd
from fastapi import HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalog.tables import TableReadError, normalize_values, read_text_rows
from service import messages
from service.model_registry import LoadedModel
from service.schemas import CsvRows, RecordError

FILE_FIELD = "(fichier)"  # the `field` of an error about the whole file
LINE_FIELD = "(ligne)"  # the `field` of an error about a whole line
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula


class CsvRejected(HTTPException):
    """A CSV body or upload refused as a whole: unreadable (422, `BAD_CSV` and the reason) or over the row
    limit (413, by how much)."""

    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(code, message)
        self.details = [{"field": FILE_FIELD, "reason": reason}] if reason else []


def csv_records(raw: bytes, loaded: LoadedModel, max_rows: int) -> CsvRows:
    """A CSV body (or upload) read by the one reading rule (`catalog.tables`), its values read by the kind
    of the model's fields (French dates, decimal commas); columns the model does not read are left out.

    A ragged row (more or fewer fields than the header) is quarantined as that row's error, at its line;
    the file is refused only when it cannot be read at all (422 with the reason) or holds more rows than
    `max_rows` (413, saying by how much)."""
    try:
        rows = read_text_rows(raw)
    except TableReadError as err:
        raise CsvRejected(status.HTTP_422_UNPROCESSABLE_CONTENT, messages.BAD_CSV, str(err)) from err
    if rows.count == 0:
        raise CsvRejected(status.HTTP_422_UNPROCESSABLE_CONTENT, messages.BAD_CSV, messages.CSV_NO_ROWS)
    if rows.count > max_rows:
        over = messages.CSV_TOO_MANY_ROWS.format(
            rows=_french(rows.count), limit=_french(max_rows), over=_french(rows.count - max_rows)
        )
        raise CsvRejected(status.HTTP_413_CONTENT_TOO_LARGE, over)
    contract = loaded.schemas.contract
    kinds = {f.name: f.kind for f in contract.fields}
    expected = rows.table.num_columns
    ragged = [
        RecordError(
            index=row.position,
            field=LINE_FIELD,
            reason=messages.CSV_RAGGED.format(fields=row.fields, expected=expected),
        )
        for row in rows.ragged
    ]
    return CsvRows(normalize_values(rows.table, kinds, raw), rows.positions(), ragged)


def _french(count: int) -> str:
    return f"{count:,}".replace(",", "\u202f")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, carriage return first)
    written after a `'`, which makes it plain text (OWASP, CSV injection); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_response(
    scored: dict[str, Any], columns: dict[str, Callable[[dict[str, Any]], Any]], name: str
) -> Response:
    """The answer as a `;` CSV, one row per input line (header = line 1): the scores of the valid rows, the
    reason of the others. `columns` maps each CSV column to how it is read from a result."""
    rows = [
        {"ligne": r["index"] + 2, **{c: spreadsheet_safe(get(r)) for c, get in columns.items()}, "erreur": ""}
        for r in scored["results"]
    ]
    rows += [
        {
            "ligne": e["index"] + 2,
            **dict.fromkeys(columns, ""),
            "erreur": spreadsheet_safe(f"{e['field']}: {e['reason']}"),
        }
        for e in scored["errors"]
    ]
    out = io.StringIO()
    rows.sort(key=lambda row: int(row["ligne"]))
    pd.DataFrame(rows).to_csv(out, index=False, sep=";")
    return Response(
        out.getvalue().encode("utf-8-sig"),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def csv_columns(loaded: LoadedModel) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """The CSV answer's columns, from the model's contract: identifier, probability, outputs, reasons."""
    contract = loaded.schemas.contract

    def value(name: str) -> Callable[[dict[str, Any]], Any]:
        return lambda result: result[name]

    def joined(name: str) -> Callable[[dict[str, Any]], Any]:
        return lambda result: " | ".join(result[name])

    columns: dict[str, Callable[[dict[str, Any]], Any]] = {}
    if contract.id_field:
        columns["contrat" if contract.id_field == "contract_id" else contract.id_field] = value(
            contract.id_field
        )
    columns["probabilite"] = lambda result: round(result["probability"], 4)
    for field in loaded.schemas.outputs:
        columns[field.csv_name or field.name] = (
            joined(field.name) if field.kind == "texts" else value(field.name)
        )
    columns["raisons"] = joined("reasons")
    return columns


def score_csv_upload(
    loaded: LoadedModel,
    raw: bytes,
    max_rows: int,
    file_name: str,
    score: Callable[[CsvRows], dict[str, Any]],
) -> Response:
    """The same scoring as the JSON route, for the file an agent exports from a spreadsheet: `score` is the
    route's validate-score-audit step, given the records read from `raw`."""
    records = csv_records(raw, loaded, max_rows)
    return csv_response(score(records), csv_columns(loaded), file_name)


UPLOAD_DESCRIPTION = "CSV export (`,` `;` tab or `|`, UTF-8, French or ISO dates)"
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "title": "CsvUpload",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": UPLOAD_DESCRIPTION}
                    },
                }
            }
        },
    }
}
"""The OpenAPI body of the `.csv` routes, which read their form themselves (after the key is checked)."""


async def uploaded_csv(request: Request) -> bytes:
    """The bytes of the `file` field of a multipart upload, read in the route, after its key and role were
    checked (a declared `File(...)` parameter would be parsed before them); 422 without such a field,
    400 for a multipart body that cannot be read."""
    try:
        async with request.form() as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise RequestValidationError(
                    [{"loc": ("body", "file"), "msg": "Field required", "type": "missing"}]
                )
            return await upload.read()
    except StarletteHTTPException as err:  # a multipart body Starlette cannot parse
        raise HTTPException(status.HTTP_400_BAD_REQUEST, messages.BAD_UPLOAD) from err
