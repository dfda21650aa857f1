"""The plain path of validation: pydantic per record, invalid records reported by index and field (never
their values), the batch envelope and its two forms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.columnar import COLUMNAR_MIN
from service.schemas import RecordColumns
from service.validation import validate
from tests.service.records import (
    DropoutContract,
    HostCompany,
    HostScoresRequest,
    assert_same,
    batch,
    dropout_record,
    host_record,
    pydantic_reference,
)


def test_small_batch_keeps_records_and_matches_pydantic() -> None:
    records = batch(host_record, HostCompany, COLUMNAR_MIN - 1, seed=3)
    got = validate(records, HostCompany)
    assert got.records is not None
    assert_same(got, pydantic_reference(records, HostCompany))


@pytest.mark.parametrize("n", [20, 2000])
def test_columns_form_equals_list_of_records(n: int) -> None:
    rng = np.random.default_rng(5)
    records = [dropout_record(rng) for _ in range(n)]
    records[3]["birth_year"] = 1800
    records[4]["sex"] = None
    records[5]["contract_start"] = "2023-02-30"
    names = list(DropoutContract.model_fields)
    columns = RecordColumns({name: [r.get(name) for r in records] for name in names})
    got = validate(columns, DropoutContract)
    # In the columns form a null means "not given": the record as an object without its nulls.
    expected = pydantic_reference(
        [{k: v for k, v in r.items() if v is not None} for r in records], DropoutContract
    )
    assert_same(got, expected)
    assert {(3, "birth_year"), (4, "sex"), (5, "contract_start")} <= {(e.index, e.field) for e in got.errors}


def test_columns_form_with_unknown_column_reports_each_record() -> None:
    rng = np.random.default_rng(2)
    records = [host_record(rng) for _ in range(100)]
    values = {name: [r.get(name) for r in records] for name in HostCompany.model_fields}
    values["nom_dirigeant"] = ["Jeanne Martin"] * 100
    got = validate(RecordColumns(values), HostCompany)
    assert len(got) == 0 and len(got.errors) == 100
    assert {e.field for e in got.errors} == {"nom_dirigeant"}
    assert all("Jeanne" not in e.reason for e in got.errors), "errors name fields, never values"


@pytest.mark.parametrize(
    "columns",
    [{}, {"siret": "nope"}, {"siret": ["1"], "naf_code": ["a", "b"]}, {"siret": []}],
    ids=["empty", "not-a-list", "ragged", "no-row"],
)
def test_columns_form_envelope_errors(columns: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="columns"):
        HostScoresRequest.model_validate({"columns": columns})


def test_exactly_one_form() -> None:
    with pytest.raises(ValueError, match="either"):
        HostScoresRequest.model_validate({"companies": [{}], "columns": {"siret": ["1"]}})
    with pytest.raises(ValueError, match="either"):
        HostScoresRequest.model_validate({"explain": False})
