"""Scoring routes: `POST /v1/models/{name}/scores` for every served model, in three body forms (a list of
records, columns, a CSV body), and `.../scores.csv` for a spreadsheet export (CSV or `.xlsx`) answered as a
CSV, or as an `.xlsx` workbook when asked (`?format=xlsx` or `Accept`).

The named routes (`/v1/apprenticeship-host/scores`, `/v1/dropout-risk/scores`...) are aliases of the same
code, with the records under the name agents know (`companies`, `contracts`). Nothing here knows a model:
the record schema, the outputs and the CSV columns come from the model's own contract.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from service import messages
from service.admission import admission_of, watch_disconnect
from service.audit import AuditEntry
from service.csv_io import (
    UPLOAD_ANSWERS,
    UPLOAD_BODY,
    XLSX_MEDIA_TYPE,
    csv_records,
    score_csv_upload,
    uploaded_csv,
    wants_xlsx,
)
from service.deps import AgentKey, AuditDep, RegistryDep
from service.json_records import read_json_records
from service.keys import ApiKey
from service.model_registry import LoadedModel, ModelRegistry
from service.monitoring import Monitor, band_field
from service.results import JSON_MIN_ROWS, ScoredColumns
from service.schemas import RecordError, ScoresResponse, json_invalid, parse_body
from service.scoring import ClientGone, score_batch
from service.validation import validate, validate_records


@dataclass(frozen=True)
class NamedRoute:
    """A route agents know by name: the model it serves, the field its records come under, the file name of
    its spreadsheet answer (without `.csv` or `.xlsx`)."""

    prefix: str
    model: str
    records_field: str
    file_stem: str
    tag: str


NAMED_ROUTES: tuple[NamedRoute, ...] = (
    NamedRoute(
        "/v1/apprenticeship-host",
        "apprenticeship_host",
        "companies",
        "scores_accueil_apprentis",
        "apprenticeship_host",
    ),
    NamedRoute("/v1/dropout-risk", "dropout_risk", "contracts", "risques_rupture", "dropout_risk"),
)

router = APIRouter(prefix="/v1/models", tags=["scoring"])
CLIENT_GONE = 499  # "client closed request" (nginx's code): audited, never read by anyone


def _served(registry: ModelRegistry, name: str) -> LoadedModel:
    loaded = registry.get(name)
    if loaded is None:
        known = name in registry.served()
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE if known else status.HTTP_404_NOT_FOUND,
            messages.MODEL_UNAVAILABLE if known else messages.UNKNOWN_MODEL,
        )
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
    request.app.state.metrics.rows.labels(loaded.name).inc(rows)


class RecordsRejected(HTTPException):
    """422 carrying the per-record errors of a batch with no valid record (or of a related table)."""

    def __init__(self, errors: list[Any], message: str = messages.NO_VALID_RECORD) -> None:
        super().__init__(status.HTTP_422_UNPROCESSABLE_CONTENT, message)
        self.details = [e.model_dump() for e in errors]


class FastJSON(Response):
    """JSON via orjson; the routes build their answers in the documented shape (`response_model`)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _answer(loaded: LoadedModel, results: ScoredColumns, errors: list[Any], rows: bool) -> dict[str, Any]:
    """The answer in the `ScoresResponse` shape; a large JSON answer's results are written straight to
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


def _related(loaded: LoadedModel, given: dict[str, list[Any] | None]) -> dict[str, list[dict[str, Any]]]:
    """The related tables of a request (e.g. past contracts), each validated by its own schema: one invalid
    row rejects the request (its errors say where), since a missing row would silently change a feature."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, rows in given.items():
        if rows is None:
            continue
        schema = loaded.schemas.related[name]
        valid, errors = validate_records(rows, schema)
        if errors:
            for error in errors:
                error.field = f"{name}[{error.index}].{error.field}"
            raise RecordsRejected(errors, messages.INVALID_RELATED)
        out[name] = [item.model_dump(by_alias=True) for _, item in valid]
    return out


def _score_batch(
    loaded: LoadedModel,
    records: Any,
    explain: bool,
    related: dict[str, list[Any] | None],
    request: Request,
    key: ApiKey,
    audit: Any,
    rows: bool = False,
    cancelled: threading.Event | None = None,
) -> dict[str, Any]:
    """Validate, score, count and audit one batch; 422 when no record is valid; `ClientGone` (audited with
    status 499) when `cancelled` is set while it is scored."""
    start = time.perf_counter()
    batch = validate(records, loaded.schemas.record)
    if not len(batch):
        _audit(request, audit, key, loaded, 0, 422, start)
        raise RecordsRejected(batch.errors)
    try:
        chunk_rows = request.app.state.settings.score_chunk_rows
        given = _related(loaded, related)
        results = score_batch(loaded.model, batch, explain, given, cancelled, chunk_rows)
    except ClientGone:
        _audit(request, audit, key, loaded, 0, CLIENT_GONE, start)
        raise
    results = _kept(request.app.state, loaded, batch, results, given, key.chamber)
    request.app.state.metrics.rejected.labels(loaded.name).inc(len(batch.errors))
    _audit(request, audit, key, loaded, len(results), 200, start)
    return _answer(loaded, results, batch.errors, rows)


def _kept(
    state: Any,
    loaded: LoadedModel,
    batch: Any,
    results: ScoredColumns,
    related: dict[str, list[Any]],
    chamber: str,
) -> ScoredColumns:
    """Keep the scores for monitoring (a 503 when they cannot be: no score is answered without its
    prediction id), queue the challenger's shadow score of the same batch, and add each prediction id to
    the results (after the record's identifier)."""
    monitor: Monitor = state.monitor
    band = band_field(loaded.model)
    probabilities = np.asarray(results.columns["probability"], dtype=np.float64)
    bands = list(results.columns[band]) if band else None
    ids = monitor.keep(loaded, batch, probabilities, bands, chamber)
    challenger = state.registry.challenger(loaded.name)
    if challenger is not None and state.settings.shadow_queue:
        monitor.shadow(loaded.name, challenger, batch, ids, related, chamber)
    columns: dict[str, Any] = {}
    for name, column in results.columns.items():
        if name == "probability":
            columns["prediction_id"] = ids.tolist()
        columns[name] = column
    return ScoredColumns(columns)


def _stop_if_gone(
    cancelled: threading.Event, request: Request, audit: Any, key: ApiKey, loaded: LoadedModel, start: float
) -> None:
    """`ClientGone`, audited with status 499, when the client has closed the connection."""
    if cancelled.is_set():
        _audit(request, audit, key, loaded, 0, CLIENT_GONE, start)
        raise ClientGone


def _read_body(
    loaded: LoadedModel, records_field: str, raw: bytes, csv: bool, max_batch: int, explain: bool
) -> tuple[Any, bool, dict[str, list[Any] | None]]:
    """The batch of a JSON body (a large list of objects read by Arrow when it can, else the envelope read
    with orjson: objects or columns, `explain` inside) or of a CSV body (`explain` from the query), with the
    related tables of a JSON body."""
    if csv:
        return csv_records(raw, loaded, max_batch), explain, {}
    request_schema = loaded.schemas.request(records_field)
    # A body with a related table (e.g. past contracts) holds a field this reader does not know: it goes
    # the usual way.
    read = read_json_records(raw, records_field, loaded.schemas.record, request_schema.max_records())
    if read is not None:
        batch, given = read
        return batch, request_schema.model_fields["explain"].default if given is None else given, {}
    body = parse_body(raw, request_schema)  # the records are validated afterwards, by index
    related = {name: getattr(body, name) for name in request_schema.related_fields}
    return body.batch(), body.explain, related


def _read_and_score(
    loaded: LoadedModel,
    records_field: str,
    raw: bytes,
    csv: bool,
    explain: bool,
    request: Request,
    key: ApiKey,
    audit: Any,
    cancelled: threading.Event,
) -> dict[str, Any]:
    """Read, validate and score a request body (off the event loop); stops when `cancelled` is set."""
    settings = request.app.state.settings
    start = time.perf_counter()
    _stop_if_gone(cancelled, request, audit, key, loaded, start)  # gone while queued for a slot
    batch, explain, related = _read_body(loaded, records_field, raw, csv, settings.max_batch, explain)
    _stop_if_gone(cancelled, request, audit, key, loaded, start)  # gone while its body was read
    try:
        return _score_batch(loaded, batch, explain, related, request, key, audit, cancelled=cancelled)
    except orjson.JSONDecodeError as err:  # records read by Arrow, judged by pydantic as orjson reads them
        raise json_invalid() from err


def _gone(request: Request, loaded: LoadedModel) -> Response:
    """The answer to a client that went away (counted; nobody reads it: the connection is closed)."""
    request.app.state.metrics.cancelled.labels(loaded.name).inc()
    return Response(status_code=CLIENT_GONE)


def _is_csv(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "text/csv"


async def score_request(
    name: str,
    records_field: str,
    request: Request,
    key: ApiKey,
    registry: ModelRegistry,
    audit: Any,
    explain: bool,
) -> Response:
    """A scoring request of the served model `name`: read, validated and scored off the event loop, within
    the key's and the large requests' bounds (`service.admission`), stopped if the client goes away."""
    loaded = _served(registry, name)
    start = time.perf_counter()
    try:
        raw = await request.body()
    except ClientDisconnect:  # gone while sending its body: nothing was read, nothing computed
        await run_in_threadpool(_audit, request, audit, key, loaded, 0, CLIENT_GONE, start)
        return _gone(request, loaded)
    # Watched from before the wait for a slot: a client that leaves while queued is never computed.
    async with watch_disconnect(request) as gone, admission_of(request).slot(key.key_id, len(raw)):
        try:
            scored = await run_in_threadpool(
                _read_and_score,
                loaded,
                records_field,
                raw,
                _is_csv(request),
                explain,
                request,
                key,
                audit,
                gone,
            )
        except ClientGone:
            return _gone(request, loaded)
    return FastJSON(scored)


def documented_body(example_csv: str = "siret;naf_code;commune_code;creation_date;...\n") -> dict[str, Any]:
    """OpenAPI request body of a route that reads its body itself; each model's schema and example are added
    to the document from the served models (`service.app`)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}, "example": example_csv},
            },
        }
    }


EXPLAIN = Query(default=False, description="With a CSV body: add the 3 main reasons")
AnswerFormat = Literal["csv", "xlsx"]
FORMAT = Query(
    default=None,
    alias="format",
    description="The answer's format: `csv` (`;`, UTF-8 with BOM) or `xlsx` (an Excel workbook, every text a "
    f"text cell). Without it, an `Accept: {XLSX_MEDIA_TYPE}` header asks for `xlsx`; else a CSV.",
)


@router.post(
    "/{name}/scores",
    response_model=ScoresResponse,
    summary="Score 1 to 10,000 records with a served model",
    openapi_extra=documented_body(),
)
async def score_records(
    name: str,
    request: Request,
    key: AgentKey,
    registry: RegistryDep,
    audit: AuditDep,
    explain: bool = EXPLAIN,
) -> Response:
    """Probability, the model's own outputs (percentile, band, actions...) and the main reasons of each
    record; the record's fields are the model's (`GET /v1/models`, and the examples of this route)."""
    return await score_request(name, "records", request, key, registry, audit, explain)


async def score_upload(
    name: str,
    file_stem: str,
    request: Request,
    key: ApiKey,
    registry: ModelRegistry,
    audit: Any,
    explain: bool,
    answer_format: AnswerFormat | None,
) -> Response:
    """A `.csv` upload (a CSV or an `.xlsx`): its form read after the key (not before the dependencies, as
    FastAPI would), then scored off the event loop as the JSON route scores a batch, within the same bounds
    (`service.admission`), and answered as a CSV or an `.xlsx` (`service.csv_io`)."""
    loaded = _served(registry, name)
    raw = await uploaded_csv(request)
    xlsx = wants_xlsx(answer_format, request.headers.get("accept", ""))

    def score(records: Any) -> dict[str, Any]:
        return _score_batch(loaded, records, explain, {}, request, key, audit, rows=True)

    max_batch = request.app.state.settings.max_batch
    async with admission_of(request).slot(key.key_id, len(raw)):
        return await run_in_threadpool(score_csv_upload, loaded, raw, max_batch, file_stem, score, xlsx)


@router.post(
    "/{name}/scores.csv",
    summary="Score a CSV or .xlsx export with a served model; returns a CSV (or an .xlsx when asked)",
    openapi_extra=UPLOAD_BODY,
    responses=UPLOAD_ANSWERS,
    response_class=Response,
)
async def score_csv(
    name: str,
    request: Request,
    key: AgentKey,
    registry: RegistryDep,
    audit: AuditDep,
    explain: bool = Query(default=False),
    answer_format: AnswerFormat | None = FORMAT,
) -> Response:
    """One row per input line: the scores of the valid rows, the reason of the others."""
    return await score_upload(name, f"scores_{name}", request, key, registry, audit, explain, answer_format)


def named_router(route: NamedRoute) -> APIRouter:
    """The named routes of one model: aliases of the generic ones."""
    named = APIRouter(prefix=route.prefix, tags=[route.tag])

    @named.post(
        "/scores",
        response_model=ScoresResponse,
        summary=f"Score 1 to 10,000 records with {route.model} (records under `{route.records_field}`)",
        openapi_extra=documented_body(),
    )
    async def score_named(
        request: Request, key: AgentKey, registry: RegistryDep, audit: AuditDep, explain: bool = EXPLAIN
    ) -> Response:
        """The generic scoring route of this model, with the records under the name agents know."""
        return await score_request(route.model, route.records_field, request, key, registry, audit, explain)

    @named.post(
        "/scores.csv",
        summary=f"Score a CSV or .xlsx export with {route.model}; returns a CSV (or an .xlsx when asked)",
        openapi_extra=UPLOAD_BODY,
        responses=UPLOAD_ANSWERS,
        response_class=Response,
    )
    async def score_named_csv(
        request: Request,
        key: AgentKey,
        registry: RegistryDep,
        audit: AuditDep,
        explain: bool = Query(default=False),
        answer_format: AnswerFormat | None = FORMAT,
    ) -> Response:
        """The same scoring as the JSON route, for the file an agent exports from a spreadsheet."""
        return await score_upload(
            route.model, route.file_stem, request, key, registry, audit, explain, answer_format
        )

    return named


RecordError.model_rebuild()
