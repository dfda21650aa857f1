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
import pyarrow as pa
from fastapi import HTTPException, Response, status

from catalog.tables import TableReadError, normalize_values, read_text_table
from service import messages
from service.model_registry import LoadedModel


def csv_records(raw: bytes, loaded: LoadedModel, max_rows: int) -> pa.Table:
    """A CSV body (or upload) read by the one reading rule (`catalog.tables`), its values read by the kind
    of the model's fields (French dates, decimal commas); columns the model does not read are left out."""
    try:
        table = read_text_table(raw)
    except TableReadError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, messages.BAD_CSV) from err
    if table.num_rows == 0 or table.num_rows > max_rows:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, messages.BAD_CSV)
    contract = loaded.schemas.contract
    kinds = {f.name: f.kind for f in contract.fields}
    return normalize_values(table, kinds, raw)


def csv_response(
    scored: dict[str, Any], columns: dict[str, Callable[[dict[str, Any]], Any]], name: str
) -> Response:
    """The answer as a `;` CSV, one row per input line (header = line 1): the scores of the valid rows, the
    reason of the others. `columns` maps each CSV column to how it is read from a result."""
    rows = [
        {"ligne": r["index"] + 2, **{c: get(r) for c, get in columns.items()}, "erreur": ""}
        for r in scored["results"]
    ]
    rows += [
        {"ligne": e["index"] + 2, **dict.fromkeys(columns, ""), "erreur": f"{e['field']}: {e['reason']}"}
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
    score: Callable[[pa.Table], dict[str, Any]],
) -> Response:
    """The same scoring as the JSON route, for the file an agent exports from a spreadsheet: `score` is the
    route's validate-score-audit step, given the records read from `raw`."""
    records = csv_records(raw, loaded, max_rows)
    return csv_response(score(records), csv_columns(loaded), file_name)
