"""Large answers written column-wise are the same JSON documents as the rows serialized by orjson."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from pydantic import TypeAdapter

from models.apprenticeship_host.model import HOST_INPUT, HOST_OUTPUTS
from models.dropout_risk.features import dropout_input
from models.dropout_risk.model import DROPOUT_OUTPUTS
from service.model_schemas import result_schema
from service.monitoring import new_prediction_ids
from service.results import ScoredColumns

HostScore = result_schema(HOST_INPUT, HOST_OUTPUTS, "HostScore")
DropoutScore = result_schema(dropout_input(6), DROPOUT_OUTPUTS, "DropoutScore")


def _column_wise(columns: ScoredColumns, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """`to_json()` without falling back to the rows (which would make the comparison trivial)."""
    with monkeypatch.context() as patch:
        patch.setattr(ScoredColumns, "rows", lambda self: pytest.fail("fell back to the rows"))
        return columns.to_json()


def _same_document(columns: ScoredColumns, written_json: bytes | None = None) -> list[dict[str, Any]]:
    """The column-wise JSON, checked value for value and type for type against orjson's writing."""
    written = orjson.loads(columns.to_json() if written_json is None else written_json)
    reference = orjson.loads(orjson.dumps(columns.rows(), option=orjson.OPT_SERIALIZE_NUMPY))
    assert written == reference
    for got, expected in zip(written, reference, strict=True):
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in expected.items()}
    return list(written)


def _host_columns(n: int, rng: np.random.Generator, arrow_sirets: bool) -> ScoredColumns:
    sirets = [f"{int(v):014d}" for v in rng.integers(0, 10**14, n)]
    probability = rng.random(n)
    probability[: n // 10] = rng.choice([0.0, 1.0, 0.5, 1e-7, 0.999999999999], n // 10)
    return ScoredColumns(
        {
            "index": np.sort(rng.choice(3 * n, n, replace=False)),
            "siret": pa.array(sirets) if arrow_sirets else sirets,
            "prediction_id": list(new_prediction_ids(n)),
            "probability": probability,
            "percentile": np.round(rng.random(n) * 100, rng.integers(0, 2)),  # whole numbers too (55.0)
            "reasons": [[]] * n,
        }
    )


@pytest.mark.parametrize("arrow_sirets", [False, True])
def test_host_answer_written_column_wise_equals_rows(
    arrow_sirets: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    for n in (1, 7, 5000):
        columns = _host_columns(n, rng, arrow_sirets)
        written = _same_document(columns, _column_wise(columns, monkeypatch))
        TypeAdapter(list[HostScore]).validate_python(written)  # the documented response shape


def test_dropout_answer_with_texts_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    n = 3000
    bands = [str(b) for b in rng.choice(["faible", "modéré", "élevé"], n)]
    actions = {"faible": [], "modéré": ["Entretien « point d'étape »"], "élevé": ["Médiation", "Visite"]}
    columns = ScoredColumns(
        {
            "index": np.arange(n),
            "contract_id": [f"CTR-{i}/é" for i in range(n)],
            "prediction_id": list(new_prediction_ids(n)),
            "probability": rng.random(n),
            "risk_band": bands,
            "ppr_actions": [actions[b] for b in bands],
            "reasons": [[f"raison {i % 5}"] if i % 3 else [] for i in range(n)],
        }
    )
    TypeAdapter(list[DropoutScore]).validate_python(
        _same_document(columns, _column_wise(columns, monkeypatch))
    )


@pytest.mark.parametrize(
    "odd",
    [
        {"contract_id": ['a "quoted" id', "back\\slash", "tab\there"]},  # texts needing escapes
        {"probability": np.array([0.5, np.nan, np.inf])},  # not finite: orjson writes null
        {"contract_id": ["a", None, "c"]},  # a missing text
        {"mixed": [1, "two", 3.0]},
        {"probability": np.array([0.1, 0.2, 0.3], dtype=np.float32)},  # written as the float64 it holds
        {"contract_id": ["a\nb", "c", "d"]},  # a control character
    ],
)
def test_values_needing_care_fall_back_to_the_rows(odd: dict[str, Any]) -> None:
    columns = {
        "index": np.arange(3),
        "contract_id": ["a", "b", "c"],
        "probability": np.array([0.1, 0.2, 0.3]),
    }
    _same_document(ScoredColumns({**columns, **odd}))


def test_empty_answer() -> None:
    empty = ScoredColumns({name: [] for name in HostScore.model_fields})
    assert len(empty) == 0 and empty.rows() == [] and empty.to_json() == b"[]"
