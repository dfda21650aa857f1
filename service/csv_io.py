"""The spreadsheet side of the scoring routes: a CSV or `.xlsx` body or upload (told apart by its bytes)
read into a batch of records, and the answer of the `.csv` routes written as a `;` CSV for a spreadsheet,
or as an `.xlsx` workbook when the client asks for one (`?format=xlsx` or its `Accept` header).

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

from catalog.tables import TableReadError, is_xlsx, normalize_values, read_text_rows, write_xlsx
from service import messages
from service.model_registry import LoadedModel
from service.schemas import CsvRows, RecordError

FILE_FIELD = "(fichier)"  # the `field` of an error about the whole file
LINE_FIELD = "(ligne)"  # the `field` of an error about a whole line
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class CsvRejected(HTTPException):
    """A CSV or `.xlsx` body or upload refused as a whole: unreadable (422, `BAD_CSV` or `BAD_XLSX` and the
    reason) or over the row limit (413, by how much)."""

    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(code, message)
        self.details = [{"field": FILE_FIELD, "reason": reason}] if reason else []


def csv_records(raw: bytes, loaded: LoadedModel, max_rows: int) -> CsvRows:
    """A CSV or `.xlsx` body (or upload) read by the one reading rule (`catalog.tables`), its values read by
    the kind of the model's fields (French dates, decimal commas); columns the model does not read are
    left out.

    A ragged row (more or fewer fields than the header) is quarantined as that row's error, at its line;
    the file is refused only when it cannot be read at all (422 with the reason) or holds more rows than
    `max_rows` (413, saying by how much)."""
    unreadable = messages.BAD_XLSX if is_xlsx(raw) else messages.BAD_CSV
    try:
        rows = read_text_rows(raw)
    except TableReadError as err:
        raise CsvRejected(status.HTTP_422_UNPROCESSABLE_CONTENT, unreadable, str(err)) from err
    if rows.count == 0:
        raise CsvRejected(status.HTTP_422_UNPROCESSABLE_CONTENT, unreadable, messages.CSV_NO_ROWS)
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


def answer_rows(
    scored: dict[str, Any], columns: dict[str, Callable[[dict[str, Any]], Any]]
) -> list[dict[str, Any]]:
    """The rows of a spreadsheet answer, one per input line in its order: `ligne` (the header being line 1),
    the `columns` of the valid rows or the reason of the others (`erreur`), texts `spreadsheet_safe`.
    `columns` maps each answer column to how it is read from a result."""
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
    rows.sort(key=lambda row: int(row["ligne"]))
    return rows


def csv_response(
    scored: dict[str, Any], columns: dict[str, Callable[[dict[str, Any]], Any]], name: str
) -> Response:
    """The answer as a `;` CSV (UTF-8 with BOM, for a spreadsheet), the rows of `answer_rows`."""
    out = io.StringIO()
    pd.DataFrame(answer_rows(scored, columns)).to_csv(out, index=False, sep=";")
    return Response(
        out.getvalue().encode("utf-8-sig"),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def xlsx_response(
    scored: dict[str, Any], columns: dict[str, Callable[[dict[str, Any]], Any]], name: str
) -> Response:
    """The answer as an `.xlsx` workbook, the same columns and rows as the CSV answer: texts as text cells
    (never a formula) besides `spreadsheet_safe`, numbers as numbers, an empty value an empty cell."""
    header = ["ligne", *columns, "erreur"]
    out = io.BytesIO()
    write_xlsx(out, header, ([row[c] for c in header] for row in answer_rows(scored, columns)))
    return Response(
        out.getvalue(),
        media_type=XLSX_MEDIA_TYPE,
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
    columns["identifiant_prediction"] = value("prediction_id")
    return columns


def score_csv_upload(
    loaded: LoadedModel,
    raw: bytes,
    max_rows: int,
    file_stem: str,
    score: Callable[[CsvRows], dict[str, Any]],
    xlsx: bool = False,
) -> Response:
    """The same scoring as the JSON route, for the file an agent exports from a spreadsheet (CSV or
    `.xlsx`): `score` is the route's validate-score-audit step, given the records read from `raw`. The
    answer is `<file_stem>.csv`, or `<file_stem>.xlsx` with `xlsx`."""
    records = csv_records(raw, loaded, max_rows)
    if xlsx:
        return xlsx_response(score(records), csv_columns(loaded), f"{file_stem}.xlsx")
    return csv_response(score(records), csv_columns(loaded), f"{file_stem}.csv")


def wants_xlsx(answer_format: str | None, accept: str) -> bool:
    """Whether an upload is answered as `.xlsx`: `format=xlsx`, or without `format` an `Accept` header
    naming the `.xlsx` media type (not with `q=0`); `format=csv` and the default are a CSV."""
    if answer_format is not None:
        return answer_format == "xlsx"
    for item in accept.split(","):
        media, *params = (part.strip().lower() for part in item.split(";"))
        if media == XLSX_MEDIA_TYPE:
            weights = [p.split("=", 1)[1].strip() for p in params if p.replace(" ", "").startswith("q=")]
            return not weights or weights[0].rstrip("0").rstrip(".") not in ("", "0")
    return False


UPLOAD_DESCRIPTION = (
    "CSV export (`,` `;` tab or `|`, UTF-8, French or ISO dates) or Excel workbook `.xlsx` (its first sheet, "
    "the first non-empty row naming the columns; formulas read by their saved values), told apart by the "
    "file's bytes, not its name"
)
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
UPLOAD_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One row per input line (`ligne`, the model's columns, `erreur`): a `;` CSV, or an "
        "`.xlsx` workbook with `format=xlsx` or `Accept: " + XLSX_MEDIA_TYPE + "`",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
"""The OpenAPI answers of the `.csv` routes: a CSV or a workbook."""


async def uploaded_csv(request: Request) -> bytes:
    """The bytes of the `file` field (a CSV or an `.xlsx`) of a multipart upload, read in the route, after
    its key and role were checked (a declared `File(...)` parameter would be parsed before them); 422
    without such a field, 400 for a multipart body that cannot be read."""
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
