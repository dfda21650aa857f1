"""Scoring routes of `apprenticeship_host` and `dropout_risk`: JSON batches and CSV uploads."""

from __future__ import annotations

import codecs
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import APIRouter, File, HTTPException, Query, Request, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from service import messages
from service.audit import AuditEntry
from service.deps import AgentKey, AuditDep, RegistryDep
from service.keys import ApiKey
from service.model_registry import LoadedModel, ModelRegistry
from service.results import JSON_MIN_ROWS, ScoredColumns
from service.schemas import (
    DropoutContract,
    DropoutScoresRequest,
    DropoutScoresResponse,
    HostCompany,
    HostScoresRequest,
    HostScoresResponse,
    RecordColumns,
    ScoresRequest,
)
from service.scoring import score_dropout, score_host
from service.validation import ValidBatch, read_json_records, validate

host_router = APIRouter(prefix="/v1/apprenticeship-host", tags=["apprenticeship_host"])
dropout_router = APIRouter(prefix="/v1/dropout-risk", tags=["dropout_risk"])


def _champion(registry: ModelRegistry, name: str) -> LoadedModel:
    loaded = registry.get(name)
    if loaded is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, messages.MODEL_UNAVAILABLE)
    return loaded


def _audit(
    request: Request, audit: Any, key: ApiKey, loaded: LoadedModel, rows: int, code: int, start: float
) -> None:
    audit.record(
        AuditEntry(
            key_id=key.key_id,
            chamber=key.chamber,
            route=request.url.path,
            model=loaded.name,
            version=loaded.version,
            rows=rows,
            status=code,
            latency_ms=(time.perf_counter() - start) * 1000,
        )
    )
    metrics = request.app.state.metrics
    metrics.rows.labels(loaded.name).inc(rows)


class RecordsRejected(HTTPException):
    """422 carrying the per-record errors of a batch with no valid record."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__(status.HTTP_422_UNPROCESSABLE_CONTENT, messages.NO_VALID_RECORD)
        self.details = [e.model_dump() for e in errors]


class FastJSON(Response):
    """JSON via orjson; the routes build their answers in the documented shape (`response_model`)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _answer(loaded: LoadedModel, results: ScoredColumns, errors: list[Any], rows: bool) -> dict[str, Any]:
    """The answer in the `...ScoresResponse` shape; a large JSON answer's results are written straight to
    JSON (`rows=False`), the CSV routes read them as rows."""
    return {
        "model": loaded.name,
        "version": loaded.version,
        "scored": len(results),
        "rejected": len({e.index for e in errors}),
        "results": results.rows()
        if rows or len(results) < JSON_MIN_ROWS
        else orjson.Fragment(results.to_json()),
        "errors": [e.model_dump() for e in errors],
    }


@dataclass(frozen=True)
class Scorer:
    """What differs between the scoring routes: the registered model, the record schema, the scoring."""

    model_name: str
    schema: type[BaseModel]
    request_schema: type[ScoresRequest]
    score: Callable[[Any, ValidBatch, bool], ScoredColumns]


HOST = Scorer("apprenticeship_host", HostCompany, HostScoresRequest, score_host)
DROPOUT = Scorer("dropout_risk", DropoutContract, DropoutScoresRequest, score_dropout)


def _score_batch(
    scorer: Scorer,
    records: list[Any] | RecordColumns | pa.Table,
    explain: bool,
    request: Request,
    key: ApiKey,
    registry: ModelRegistry,
    audit: Any,
    rows: bool = False,
) -> dict[str, Any]:
    """Validate, score, count and audit one batch; 422 when no record is valid. The results as rows
    (dicts) when `rows`, else possibly already written as JSON."""
    start = time.perf_counter()
    loaded = _champion(registry, scorer.model_name)
    batch = validate(records, scorer.schema)
    if not len(batch):
        _audit(request, audit, key, loaded, 0, 422, start)
        raise RecordsRejected(batch.errors)
    results = scorer.score(loaded.model, batch, explain)
    request.app.state.metrics.rejected.labels(loaded.name).inc(len(batch.errors))
    _audit(request, audit, key, loaded, len(results), 200, start)
    return _answer(loaded, results, batch.errors, rows)


E = TypeVar("E", bound=BaseModel)


def _json_invalid() -> RequestValidationError:
    return RequestValidationError([{"loc": ("body",), "msg": "JSON invalide", "type": "json_invalid"}])


def _envelope(body: bytes, schema: type[E]) -> E:
    """The request envelope, parsed with orjson (the batch's records are validated afterwards, by index).
    Errors follow FastAPI's own body errors: location under `body`, no submitted value."""
    try:
        return schema.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError as err:
        raise _json_invalid() from err
    except ValidationError as err:
        problems = err.errors(include_input=False, include_url=False)
        raise RequestValidationError([{**p, "loc": ("body", *p["loc"])} for p in problems]) from err


def _documented_body(schema: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI request body of a route that reads its JSON itself (see `_envelope`), definitions inlined."""
    document = schema.model_json_schema()
    definitions = document.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    csv = {"schema": {"type": "string"}, "example": "siret;naf_code;commune_code;creation_date;...\n"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(document)}, "text/csv": csv},
        }
    }


def _read_body(scorer: Scorer, raw: bytes, csv: bool, max_batch: int, explain: bool) -> tuple[Any, bool]:
    """The batch of a JSON body (a large list of objects read by Arrow when it can, else the envelope read
    with orjson: objects or columns, `explain` inside) or of a CSV body (`explain` from the query)."""
    if csv:
        return _csv_table(raw, max_batch), explain
    request_schema = scorer.request_schema
    read = read_json_records(raw, request_schema.records_field, scorer.schema, request_schema.max_records())
    if read is not None:
        batch, given = read
        return batch, request_schema.model_fields["explain"].default if given is None else given
    body = _envelope(raw, scorer.request_schema)
    return body.batch(), body.explain


def _read_and_score(
    scorer: Scorer,
    raw: bytes,
    csv: bool,
    explain: bool,
    request: Request,
    key: ApiKey,
    registry: ModelRegistry,
    audit: Any,
) -> dict[str, Any]:
    """Read, validate and score a request body (off the event loop)."""
    batch, explain = _read_body(scorer, raw, csv, request.app.state.settings.max_batch, explain)
    try:
        return _score_batch(scorer, batch, explain, request, key, registry, audit)
    except orjson.JSONDecodeError as err:  # records read by Arrow, judged by pydantic as orjson reads them
        raise _json_invalid() from err


async def _score_request(
    scorer: Scorer, request: Request, key: ApiKey, registry: ModelRegistry, audit: Any, explain: bool
) -> Response:
    """The JSON scoring routes: read, validated and scored off the event loop."""
    raw = await request.body()
    scored = await run_in_threadpool(
        _read_and_score, scorer, raw, _is_csv(request), explain, request, key, registry, audit
    )
    return FastJSON(scored)


@host_router.post(
    "/scores",
    response_model=HostScoresResponse,
    summary="Score 1 to 10,000 companies",
    openapi_extra=_documented_body(HostScoresRequest),
)
async def score_companies(
    request: Request,
    key: AgentKey,
    registry: RegistryDep,
    audit: AuditDep,
    explain: bool = Query(default=False, description="With a CSV body: add the 3 main reasons"),
) -> Response:
    """Probability of taking on an apprentice in the next 12 months, national percentile, main reasons."""
    return await _score_request(HOST, request, key, registry, audit, explain)


@dropout_router.post(
    "/scores",
    response_model=DropoutScoresResponse,
    summary="Score 1 to 10,000 contracts",
    openapi_extra=_documented_body(DropoutScoresRequest),
)
async def score_contracts(
    request: Request,
    key: AgentKey,
    registry: RegistryDep,
    audit: AuditDep,
    explain: bool = Query(default=False, description="With a CSV body: add the 3 main reasons"),
) -> Response:
    """Risk of rupture, risk band, « Pack Prévention Rupture » actions and main reasons."""
    return await _score_request(DROPOUT, request, key, registry, audit, explain)


def _is_csv(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "text/csv"


def _csv_table(raw: bytes, max_rows: int) -> pa.Table:
    """A CSV export (`,` or `;`, UTF-8 with or without BOM, a header line) as a table of strings, read by
    Arrow without a Python object per cell; an empty cell is a value not given."""
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        header = raw.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
        delimiter = ";" if header.count(";") > header.count(",") else ","
        names = [name.strip().strip('"').strip() for name in header.split(delimiter)]
        table = pacsv.read_csv(
            pa.BufferReader(raw),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True, null_values=[""]
            ),
        )
    except (UnicodeDecodeError, pa.ArrowInvalid) as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, messages.BAD_CSV) from err
    if table.num_rows == 0 or table.num_rows > max_rows or len(set(names)) != len(names):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, messages.BAD_CSV)
    return table


def _read_csv(upload: UploadFile, max_rows: int) -> pa.Table:
    return _csv_table(upload.file.read(), max_rows)


def _csv_response(scored: dict[str, Any], columns: dict[str, Any], name: str) -> Response:
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


HOST_CSV_COLUMNS: dict[str, Any] = {
    "siret": lambda r: r["siret"],
    "probabilite": lambda r: round(r["probability"], 4),
    "percentile": lambda r: r["percentile"],
    "raisons": lambda r: " | ".join(r["reasons"]),
}
DROPOUT_CSV_COLUMNS: dict[str, Any] = {
    "contrat": lambda r: r["contract_id"],
    "probabilite": lambda r: round(r["probability"], 4),
    "niveau": lambda r: r["risk_band"],
    "actions": lambda r: " | ".join(r["ppr_actions"]),
    "raisons": lambda r: " | ".join(r["reasons"]),
}


@host_router.post("/scores.csv", summary="Score a CSV export of companies; returns a CSV")
def score_companies_csv(
    request: Request,
    key: AgentKey,
    registry: RegistryDep,
    audit: AuditDep,
    file: UploadFile = File(description="CSV with the columns of a company (`,` or `;`, UTF-8)"),
    explain: bool = Query(default=False),
) -> Response:
    """The same scoring as the JSON route, for the file an agent exports from a spreadsheet."""
    records = _read_csv(file, request.app.state.settings.max_batch)
    scored = _score_batch(HOST, records, explain, request, key, registry, audit, rows=True)
    return _csv_response(scored, HOST_CSV_COLUMNS, "scores_accueil_apprentis.csv")


@dropout_router.post("/scores.csv", summary="Score a CSV export of contracts; returns a CSV")
def score_contracts_csv(
    request: Request,
    key: AgentKey,
    registry: RegistryDep,
    audit: AuditDep,
    file: UploadFile = File(description="CSV with the columns of a contract (`,` or `;`, UTF-8)"),
    explain: bool = Query(default=False),
) -> Response:
    """The same scoring as the JSON route, for a spreadsheet export."""
    records = _read_csv(file, request.app.state.settings.max_batch)
    scored = _score_batch(DROPOUT, records, explain, request, key, registry, audit, rows=True)
    return _csv_response(scored, DROPOUT_CSV_COLUMNS, "risques_rupture.csv")
