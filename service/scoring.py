"""Scoring a validated batch through the served model's own face (`score`): no model-specific code here.

The service adds to the model's answer only what is the request's: each record's index in the request and
its identifier (the contract's `id_field`, echoed as sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from models.interface import ScoringModel
from service.results import ScoredColumns
from service.validation import ValidBatch


def score_batch(
    model: ScoringModel,
    batch: ValidBatch,
    explain: bool,
    related: Mapping[str, list[dict[str, Any]]] | None = None,
) -> ScoredColumns:
    """Index, identifier, probability, the model's own outputs and reasons of each valid record."""
    contract, outputs = model.input_contract, model.output_fields
    names = [
        "index",
        *([contract.id_field] if contract.id_field else []),
        "probability",
        *(f.name for f in outputs),
        "reasons",
    ]
    if not len(batch):
        return ScoredColumns({name: [] for name in names})
    scored = model.score(batch.rows(), explain=explain, related=related or None)
    columns: dict[str, Any] = {"index": np.asarray(batch.indices, dtype=np.int64)}
    if contract.id_field:
        columns[contract.id_field] = batch.values(contract.id_field)
    columns["probability"] = np.asarray(scored["probability"], dtype=np.float64)
    for field in outputs:
        columns[field.name] = scored[field.name]
    columns["reasons"] = scored["reasons"]
    return ScoredColumns(columns)
