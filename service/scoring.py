"""Scoring a validated batch through the served model's own face (`score`): no model-specific code here.

The service adds to the model's answer only what is the request's: each record's index in the request and
its identifier (the contract's `id_field`, echoed as sent). A large batch is scored in chunks, so that a
request whose client went away stops at the next chunk instead of computing to the end.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from models.interface import ScoringModel
from service.results import ScoredColumns
from service.validation import ValidBatch

CHUNK_ROWS = 2_000  # rows scored between two looks at the client's connection


class ClientGone(Exception):
    """The client closed the connection while its batch was being scored: the work stopped."""


def _sliced(rows: Any, start: int, stop: int) -> Any:
    """Rows `start:stop` of a batch in any `Rows` form (records, columns of lists or Arrow arrays, frame)."""
    if isinstance(rows, pd.DataFrame):
        return rows.iloc[start:stop]
    if isinstance(rows, Mapping):
        return {name: values[start:stop] for name, values in rows.items()}
    return rows[start:stop]


def _joined(parts: Sequence[Any]) -> Any:
    """One output column from the chunks' (NumPy arrays, Arrow arrays or lists)."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(part, pa.Array | pa.ChunkedArray) for part in parts):
        return pa.concat_arrays([a for part in parts for a in getattr(part, "chunks", [part])])
    if all(isinstance(part, np.ndarray) for part in parts):
        return np.concatenate(parts)
    return [value for part in parts for value in part]


def score_rows(
    model: ScoringModel,
    rows: Any,
    n: int,
    explain: bool,
    related: Mapping[str, list[dict[str, Any]]] | None,
    cancelled: threading.Event | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, Any]:
    """`model.score` of `n` rows, by chunks of `chunk_rows` when `cancelled` is given (rows are scored one
    by one by every model, so the chunks' answers joined are the whole batch's). Raises `ClientGone` when
    `cancelled` is set between two chunks."""
    if cancelled is None or n <= chunk_rows:
        return model.score(rows, explain=explain, related=related or None)
    parts: list[dict[str, Any]] = []
    for start in range(0, n, chunk_rows):
        if cancelled.is_set():
            raise ClientGone
        parts.append(
            model.score(_sliced(rows, start, start + chunk_rows), explain=explain, related=related or None)
        )
    return {name: _joined([part[name] for part in parts]) for name in parts[0]}


def score_batch(
    model: ScoringModel,
    batch: ValidBatch,
    explain: bool,
    related: Mapping[str, list[dict[str, Any]]] | None = None,
    cancelled: threading.Event | None = None,
    chunk_rows: int = CHUNK_ROWS,
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
    scored = score_rows(model, batch.rows(), len(batch), explain, related, cancelled, chunk_rows)
    columns: dict[str, Any] = {"index": np.asarray(batch.indices, dtype=np.int64)}
    if contract.id_field:
        columns[contract.id_field] = batch.values(contract.id_field)
    columns["probability"] = np.asarray(scored["probability"], dtype=np.float64)
    for field in outputs:
        columns[field.name] = scored[field.name]
    columns["reasons"] = scored["reasons"]
    return ScoredColumns(columns)
