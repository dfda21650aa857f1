"""From validated records to scores with reasons: one entry into each model's own feature code."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.apprenticeship_host.features import CATEGORICAL_FEATURES as HOST_CATEGORICAL
from models.apprenticeship_host.features import FEATURE_LABELS_FR as HOST_LABELS
from models.apprenticeship_host.features import FEATURES as HOST_FEATURES
from models.apprenticeship_host.features import transform_records
from models.dropout_risk.dataset import SNAPSHOT_COLUMNS as DROPOUT_COLUMNS
from service.explain import top_reasons
from service.results import ScoredColumns
from service.schemas import DropoutScore, HostScore
from service.validation import ValidBatch


def host_columns(batch: ValidBatch, today: date | None = None) -> dict[str, Any]:
    """The model's snapshot columns of a large validated batch, as Arrow arrays when the whole batch passed
    the column-wise checks (no Python object read again), else as lists: scoring date filled. Codes are
    normalized (upper case, dotted NAF) by the model's own feature code."""
    cutoff = (today or date.today()).isoformat()
    if batch.arrow is not None:
        filled = pc.fill_null(batch.arrow["cutoff_date"].cast(pa.string()), cutoff)
        return {**batch.arrow, "cutoff_date": filled}
    columns = batch.columns or {}
    return {**columns, "cutoff_date": [value or cutoff for value in columns["cutoff_date"]]}


def score_host(model: Any, batch: ValidBatch, explain: bool) -> ScoredColumns:
    """Probability, national percentile and (optionally) the 3 main reasons of each company."""
    if not len(batch):
        return ScoredColumns({name: [] for name in HostScore.model_fields})
    if batch.records is not None:  # a small batch: dict look-ups instead of pandas
        today = date.today()
        records = [{**item, "cutoff_date": item["cutoff_date"] or today} for item in batch.records]
        matrix = transform_records(model.encoder, records)
    else:
        matrix = model.encoder.transform(host_columns(batch))
    probability = model.estimator.predict(matrix)
    percentile = model.percentile(probability)
    reasons: list[list[str]] = [[]] * len(batch)  # shared empty list: only read, replaced when explained
    if explain:
        reasons = [[] for _ in range(len(batch))]
        contributions = model.estimator.contributions(matrix)[:, :-1]
        names = list(HOST_FEATURES)
        for i in range(len(batch)):
            values = _decoded(model.encoder.categories_, HOST_CATEGORICAL, names, matrix[i])
            reasons[i] = top_reasons(contributions[i], names, values, HOST_LABELS, "la probabilité d'accueil")
    return ScoredColumns(
        {
            "index": np.asarray(batch.indices, dtype=np.int64),
            "siret": batch.values("siret"),
            "probability": probability,
            "percentile": np.round(percentile, 1),
            "reasons": reasons,
        }
    )


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


def dropout_frame(valid: pd.DataFrame, prediction_weeks: int) -> pd.DataFrame:
    """The model's snapshot frame of validated contracts (`ValidBatch.as_frame()`): prediction date
    filled (contract start + N weeks by default)."""
    frame = valid[list(DROPOUT_COLUMNS)].copy()
    default = frame["contract_start"] + pd.Timedelta(weeks=prediction_weeks)
    frame["prediction_date"] = frame["prediction_date"].fillna(default).astype("datetime64[ns]")
    frame["naf_code"] = frame["naf_code"].str.upper()
    return frame


def score_dropout(model: Any, batch: ValidBatch, explain: bool) -> ScoredColumns:
    """Probability, risk band, PPR actions and (optionally) the 3 main reasons of each contract."""
    if not len(batch):
        return ScoredColumns({name: [] for name in DropoutScore.model_fields})
    valid = batch.as_frame()
    matrix = model.matrix(dropout_frame(valid, model.features.prediction_weeks))
    probability = model.estimator.predict(matrix)
    bands = model.bands(probability)
    reasons: list[list[str]] = [[] for _ in batch.indices]
    if explain:
        contributions = model.estimator.contributions(matrix)[:, :-1]
        names = model.encoder.feature_names
        for i in range(len(batch)):
            values = _decoded(model.encoder.categories_, tuple(model.encoder.categorical), names, matrix[i])
            reasons[i] = top_reasons(
                contributions[i], names, values, model.feature_labels, "le risque de rupture"
            )
    actions = {band: list(model.policy.actions[band]) for band in map(str, np.unique(bands))}
    band_texts = [str(band) for band in bands]
    return ScoredColumns(
        {
            "index": np.asarray(batch.indices, dtype=np.int64),
            "contract_id": valid["contract_id"].tolist(),
            "probability": probability,
            "risk_band": band_texts,
            "ppr_actions": [actions[band] for band in band_texts],
            "reasons": reasons,
        }
    )
