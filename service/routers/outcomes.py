"""`POST /v1/outcomes`: what happened after a score (the company took an apprentice, the contract broke),
sent back by agents and training centres, joined to the prediction it follows.

Each outcome names its prediction by the `prediction_id` of the scoring answer, or by the record's
identifier as it was scored (`record_id`: the SIRET, the contract id), which the service pseudonymises as
it did the score's. Outcomes are validated one by one: the valid ones are kept, an invalid one is reported
by index, field and reason (never its value), and an outcome no prediction is found for is kept too and
reported (it is counted in the monitoring report, never lost).
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service import messages
from service.audit import AuditEntry
from service.deps import AgentKey, AuditDep, MonitorDep, RegistryDep
from service.keys import ApiKey
from service.monitoring import ACTIONS, FLUSH_SECONDS, PREDICTION_ID_PATTERN, Monitor
from service.schemas import RecordError, parse_body

router = APIRouter(tags=["monitoring"])
MAX_OUTCOMES = 10_000
UNKNOWN_FIELD = "champ inconnu : prediction_id, record_id, outcome, outcome_date et action sont attendus"
NO_VALID_OUTCOME = "Aucun résultat valide dans la requête : voir les erreurs par résultat."
Action = Literal[ACTIONS]  # type: ignore[valid-type]


class Outcome(BaseModel):
    """One outcome: which prediction (its id, or the record's identifier as scored), what happened (1: the
    event the model predicts happened, 0: it did not), when, and the action taken, if any."""

    model_config = ConfigDict(extra="forbid")

    prediction_id: str | None = Field(
        default=None, pattern=PREDICTION_ID_PATTERN, description="The `prediction_id` of the score"
    )
    record_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Or the record's identifier as it was scored (SIRET, contract id): the latest score of "
        "that record on or before `outcome_date` is the one joined",
    )
    outcome: bool = Field(description="true: the company took an apprentice / the contract broke")
    outcome_date: date | None = Field(default=None, description="When it was known (default: today)")
    action: Action | None = Field(
        default=None, description="The action taken after the score: " + ", ".join(ACTIONS)
    )

    @model_validator(mode="after")
    def _one_reference(self) -> Outcome:
        if (self.prediction_id is None) == (self.record_id is None):
            raise ValueError("give either `prediction_id` or `record_id`")
        return self


class OutcomesRequest(BaseModel):
    """The outcomes of one served model (the model of the scores they follow)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200, description="A served model (GET /v1/models)")
    outcomes: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_OUTCOMES)


class OutcomesAnswer(BaseModel):
    """How many outcomes were kept, how many joined to a prediction, and the errors by index."""

    model: str
    received: int
    kept: int
    matched: int
    unmatched: int
    rejected: int
    errors: list[RecordError]


def _validated(given: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int], list[RecordError]]:
    """The valid outcomes (with their index in the request) and the errors of the others."""
    valid, indices, errors = [], [], []
    for index, item in enumerate(given):
        try:
            outcome = Outcome.model_validate(item)
        except ValidationError as err:
            for problem in err.errors(include_input=False, include_url=False):
                if problem["type"] == "extra_forbidden":  # its location is the submitted key itself
                    errors.append(RecordError(index=index, field="outcome", reason=UNKNOWN_FIELD))
                    continue
                where = ".".join(str(p) for p in problem["loc"]) or "outcome"
                errors.append(RecordError(index=index, field=where, reason=problem["msg"]))
            continue
        record = outcome.model_dump()
        record["outcome_date"] = (outcome.outcome_date or date.today()).isoformat()
        valid.append(record)
        indices.append(index)
    return valid, indices, errors


def _keep(
    monitor: Monitor, body: OutcomesRequest, key: ApiKey, audit: Any, route: str, start: float
) -> dict[str, Any]:
    valid, indices, errors = _validated(body.outcomes)
    if not valid:
        raise _rejected(errors)
    monitor.flush(FLUSH_SECONDS, shadows=False)  # the scores this process just answered, kept first
    report = monitor.store.add_outcomes(body.model, valid, "api", key.key_id, key.chamber)
    for error in report.errors:  # kept, not joined: reported at its index in the request
        errors.append(
            RecordError(index=indices[error["index"]], field=error["field"], reason=error["reason"])
        )
    audit.record(
        AuditEntry(
            key_id=key.key_id,
            chamber=key.chamber,
            route=route,
            model=body.model,
            version="",
            rows=report.received,
            status=200,
            latency_ms=(time.perf_counter() - start) * 1000,
        )
    )
    return {
        "model": body.model,
        "received": len(body.outcomes),
        "kept": report.received,
        "matched": report.matched,
        "unmatched": report.unmatched,
        "rejected": len(body.outcomes) - report.received,
        "errors": sorted(errors, key=lambda e: e.index),
    }


class _Rejected(HTTPException):
    def __init__(self, errors: list[RecordError]) -> None:
        super().__init__(status.HTTP_422_UNPROCESSABLE_CONTENT, NO_VALID_OUTCOME)
        self.details = [e.model_dump() for e in errors]


def _rejected(errors: list[RecordError]) -> HTTPException:
    return _Rejected(errors)


@router.post(
    "/v1/outcomes",
    response_model=OutcomesAnswer,
    summary="Send back what happened after scores (1 to 10,000 outcomes)",
)
async def post_outcomes(
    request: Request, key: AgentKey, registry: RegistryDep, monitor: MonitorDep, audit: AuditDep
) -> Any:
    """Keep the outcomes of a served model's scores: each joined to its prediction (by id or by the record's
    identifier), the valid ones kept, the others reported by index (never by value)."""
    body = parse_body(await request.body(), OutcomesRequest)
    if body.model not in registry.served():
        raise HTTPException(status.HTTP_404_NOT_FOUND, messages.UNKNOWN_MODEL)
    return await run_in_threadpool(_keep, monitor, body, key, audit, request.url.path, time.perf_counter())
