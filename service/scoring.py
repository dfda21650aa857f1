"""From validated records to scores with reasons: one entry into each model's own feature code."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, TypeAdapter, ValidationError

from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS as HOST_COLUMNS
from models.apprenticeship_host.features import CATEGORICAL_FEATURES as HOST_CATEGORICAL
from models.apprenticeship_host.features import FEATURE_LABELS_FR as HOST_LABELS
from models.apprenticeship_host.features import FEATURES as HOST_FEATURES
from models.apprenticeship_host.features import transform_records
from models.dropout_risk.dataset import SNAPSHOT_COLUMNS as DROPOUT_COLUMNS
from service.explain import top_reasons
from service.schemas import DropoutContract, HostCompany, RecordError

T = TypeVar("T", bound=BaseModel)
FAST_PATH_MAX = 64  # up to this many records, features are computed with dict look-ups instead of pandas


def validate_records(
    records: list[dict[str, Any]], schema: type[T]
) -> tuple[list[tuple[int, T]], list[RecordError]]:
    """Validate a batch with the record schema: the valid records with their index, the errors by index and
    field. One pydantic call validates the whole batch; when some records fail, the others are validated
    again in one call. Reasons describe the expectation, never the submitted value.
    """
    adapter = _adapter(schema)
    try:
        return list(enumerate(adapter.validate_python(records))), []
    except ValidationError as err:
        problems = err.errors(include_input=False, include_url=False)
    errors: list[RecordError] = []
    bad: set[int] = set()
    for problem in problems:
        index, *path = problem["loc"]
        bad.add(int(index))
        field = ".".join(str(part) for part in path) or "(record)"
        errors.append(RecordError(index=int(index), field=field, reason=problem["msg"]))
    keep = [i for i in range(len(records)) if i not in bad]
    valid = adapter.validate_python([records[i] for i in keep]) if keep else []
    return list(zip(keep, valid, strict=True)), sorted(errors, key=lambda e: e.index)


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(schema: type[T]) -> TypeAdapter[list[T]]:
    if schema not in _ADAPTERS:
        _ADAPTERS[schema] = TypeAdapter(list[schema])  # type: ignore[valid-type]
    return _ADAPTERS[schema]


def host_frame(items: list[HostCompany], today: date | None = None) -> pd.DataFrame:
    """The model's snapshot frame of validated companies."""
    cutoff = today or date.today()
    frame = pd.DataFrame.from_records([item.__dict__ for item in items], columns=list(HOST_COLUMNS))
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"].fillna(cutoff))
    frame["creation_date"] = pd.to_datetime(frame["creation_date"])
    frame["naf_code"] = frame["naf_code"].str.upper()
    frame["years_since_last_contract"] = frame["years_since_last_contract"].astype(float)
    return frame


def score_host(model: Any, indexed: list[tuple[int, HostCompany]], explain: bool) -> list[dict[str, Any]]:
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
    # Plain dicts in the `HostScore` shape: a 10,000-record answer skips building pydantic objects.
    probabilities = probability.tolist()
    percentiles = np.round(percentile, 1).tolist()
    return [
        {
            "index": index,
            "siret": item.siret,
            "probability": probabilities[i],
            "percentile": percentiles[i],
            "reasons": reasons[i],
        }
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
) -> list[dict[str, Any]]:
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
    probabilities = probability.tolist()
    return [
        {
            "index": index,
            "contract_id": item.contract_id,
            "probability": probabilities[i],
            "risk_band": str(bands[i]),
            "ppr_actions": list(model.policy.actions[str(bands[i])]),
            "reasons": reasons[i],
        }
        for i, (index, item) in enumerate(indexed)
    ]
