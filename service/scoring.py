"""From validated records to scores with reasons: one entry into each model's own feature code."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS as HOST_COLUMNS
from models.apprenticeship_host.features import CATEGORICAL_FEATURES as HOST_CATEGORICAL
from models.apprenticeship_host.features import FEATURE_LABELS_FR as HOST_LABELS
from models.apprenticeship_host.features import FEATURES as HOST_FEATURES
from models.apprenticeship_host.features import transform_records
from models.dropout_risk.dataset import SNAPSHOT_COLUMNS as DROPOUT_COLUMNS
from service.explain import top_reasons
from service.schemas import DropoutContract, DropoutScore, HostCompany, HostScore, RecordError

T = TypeVar("T", bound=BaseModel)
FAST_PATH_MAX = 64  # up to this many records, features are computed with dict look-ups instead of pandas


def validate_records(
    records: list[dict[str, Any]], schema: type[T]
) -> tuple[list[tuple[int, T]], list[RecordError]]:
    """Validate each record on its own: the valid ones with their index, the errors by index and field.

    Error reasons are pydantic's messages, which describe the expectation, never the submitted value.
    """
    valid: list[tuple[int, T]] = []
    errors: list[RecordError] = []
    for index, record in enumerate(records):
        try:
            valid.append((index, schema.model_validate(record)))
        except ValidationError as err:
            for problem in err.errors(include_input=False, include_url=False):
                field = ".".join(str(part) for part in problem["loc"]) or "(record)"
                errors.append(RecordError(index=index, field=field, reason=problem["msg"]))
    return valid, errors


def host_frame(items: list[HostCompany], today: date | None = None) -> pd.DataFrame:
    """The model's snapshot frame of validated companies."""
    cutoff = today or date.today()
    rows = [item.model_dump() for item in items]
    frame = pd.DataFrame(rows, columns=list(HOST_COLUMNS))
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"].fillna(cutoff))
    frame["creation_date"] = pd.to_datetime(frame["creation_date"])
    frame["naf_code"] = frame["naf_code"].str.upper()
    frame["years_since_last_contract"] = frame["years_since_last_contract"].astype(float)
    return frame


def score_host(model: Any, indexed: list[tuple[int, HostCompany]], explain: bool) -> list[HostScore]:
    """Probability, national percentile and (optionally) the 3 main reasons of each company."""
    if not indexed:
        return []
    items = [item for _, item in indexed]
    if len(items) <= FAST_PATH_MAX:
        today = date.today()
        records = [{**item.model_dump(), "cutoff_date": item.cutoff_date or today} for item in items]
        matrix = transform_records(model.encoder, records)
    else:
        matrix = model.encoder.transform(host_frame(items))
    probability = model.estimator.predict(matrix)
    percentile = model.percentile(probability)
    reasons: list[list[str]] = [[] for _ in indexed]
    if explain:
        contributions = model.estimator.contributions(matrix)[:, :-1]
        names = list(HOST_FEATURES)
        for i in range(len(indexed)):
            values = _decoded(model.encoder.categories_, HOST_CATEGORICAL, names, matrix[i])
            reasons[i] = top_reasons(contributions[i], names, values, HOST_LABELS, "la probabilité d'accueil")
    return [
        HostScore(
            index=index,
            siret=item.siret,
            probability=float(probability[i]),
            percentile=round(float(percentile[i]), 1),
            reasons=reasons[i],
        )
        for i, (index, item) in enumerate(indexed)
    ]


def _decoded(
    categories: dict[str, pd.Index], categorical: tuple[str, ...], names: list[str], row: np.ndarray
) -> dict[str, object]:
    values: dict[str, object] = {}
    for j, name in enumerate(names):
        value = row[j]
        if name in categorical:
            values[name] = None if np.isnan(value) else str(categories[name][int(value)])
        else:
            values[name] = float(value)
    return values


def dropout_frame(items: list[DropoutContract], prediction_weeks: int) -> pd.DataFrame:
    """The model's snapshot frame of validated contracts."""
    rows = []
    for item in items:
        row = item.model_dump()
        row["prediction_date"] = row["prediction_date"] or item.contract_start + timedelta(
            weeks=prediction_weeks
        )
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(DROPOUT_COLUMNS))
    for column in ("prediction_date", "contract_start", "planned_end"):
        frame[column] = pd.to_datetime(frame[column])
    frame["naf_code"] = frame["naf_code"].str.upper()
    frame["assessment_score_mean"] = frame["assessment_score_mean"].astype(float)
    return frame


def score_dropout(
    model: Any, indexed: list[tuple[int, DropoutContract]], explain: bool
) -> list[DropoutScore]:
    """Probability, risk band, PPR actions and (optionally) the 3 main reasons of each contract."""
    if not indexed:
        return []
    frame = dropout_frame([item for _, item in indexed], model.features.prediction_weeks)
    matrix = model.matrix(frame)
    probability = model.estimator.predict(matrix)
    bands = model.bands(probability)
    reasons: list[list[str]] = [[] for _ in indexed]
    if explain:
        contributions = model.estimator.contributions(matrix)[:, :-1]
        names = model.encoder.feature_names
        for i in range(len(indexed)):
            values = _decoded(model.encoder.categories_, tuple(model.encoder.categorical), names, matrix[i])
            reasons[i] = top_reasons(
                contributions[i], names, values, model.feature_labels, "le risque de rupture"
            )
    return [
        DropoutScore(
            index=index,
            contract_id=item.contract_id,
            probability=float(probability[i]),
            risk_band=str(bands[i]),  # type: ignore[arg-type]
            ppr_actions=list(model.policy.actions[str(bands[i])]),
            reasons=reasons[i],
        )
        for i, (index, item) in enumerate(indexed)
    ]
