"""The column-wise fast path (`service.columnar`) gives exactly what pydantic gives, record by record, on
lists of objects, columns and CSV tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pydantic import BaseModel

from service.validation import validate
from tests.service.records import (
    VALUE_MUTATIONS,
    DropoutContract,
    HostCompany,
    Record,
    assert_same,
    batch,
    dropout_record,
    host_record,
    pydantic_reference,
)


@pytest.mark.parametrize(
    ("make", "schema"),
    [(host_record, HostCompany), (dropout_record, DropoutContract)],
    ids=["host", "dropout"],
)
def test_columnwise_validation_equals_pydantic_on_random_records(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel]
) -> None:
    for seed in range(3):
        records = batch(make, schema, 3000, seed)
        got = validate(records, schema)
        expected = pydantic_reference(records, schema)
        assert got.columns is not None and got.records is None, "a large batch takes the column-wise path"
        assert_same(got, expected)
        assert len(got.errors) > 0 and 0 < len(got) < len(records)


@pytest.mark.parametrize(
    ("make", "schema"),
    [(host_record, HostCompany), (dropout_record, DropoutContract)],
    ids=["host", "dropout"],
)
def test_columnwise_validation_equals_pydantic_when_every_record_has_every_field(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel]
) -> None:
    """The usual export (every field in every record) is read in one pass per record: same outcome."""
    rng = np.random.default_rng(11)
    fields = list(schema.model_fields)
    defaults = {name: info.default for name, info in schema.model_fields.items() if not info.is_required()}

    def complete() -> Record:
        return {**defaults, **make(rng)}

    records: list[Any] = []
    for _ in range(3000):
        record = complete()
        if rng.random() < 0.2:  # a wrong or unusual value, every field still present
            record[str(rng.choice(fields))] = VALUE_MUTATIONS[rng.integers(len(VALUE_MUTATIONS))]
        records.append(record)
    assert all(len(record) == len(fields) for record in records)
    got = validate(records, schema)
    assert_same(got, pydantic_reference(records, schema))
    assert len(got.errors) > 0 and 0 < len(got) < len(records)
    clean = [complete() for _ in range(2000)]
    assert_same(validate(clean, schema), pydantic_reference(clean, schema))


def test_clean_batch_is_accepted_without_pydantic_and_typed() -> None:
    rng = np.random.default_rng(7)
    records = [host_record(rng) for _ in range(500)]
    got = validate(records, HostCompany)
    assert got.indices == list(range(len(records))) and not got.errors
    frame = got.as_frame()
    assert str(frame["creation_date"].dtype).startswith("datetime64")
    assert frame["contracts_last_12m"].dtype == np.int64
    assert frame["contracts_total"].eq(0).all(), "missing fields take their schema default"


def _as_csv_cells(record: Any) -> dict[str, str | None]:
    """A record as a CSV export gives it: every value a string, an empty cell for a value not given."""
    if not isinstance(record, dict):
        return {}
    return {k: None if v is None else str(v) if not isinstance(v, str) else v for k, v in record.items()}


@pytest.mark.parametrize(
    ("make", "schema"),
    [(host_record, HostCompany), (dropout_record, DropoutContract)],
    ids=["host", "dropout"],
)
def test_csv_table_equals_pydantic_on_the_same_cells(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel]
) -> None:

    rng = np.random.default_rng(11)
    records = [_as_csv_cells(r) for r in batch(make, schema, 2500, seed=11)]
    records[5] = {**records[5], "creation_date" if schema is HostCompany else "contract_start": "2023-02-30"}
    names = sorted({k for r in records for k in r})
    table = pa.table({name: pa.array([r.get(name) for r in records], type=pa.string()) for name in names})
    got = validate(table, schema)
    cells = [{k: v for k, v in r.items() if v is not None} for r in records]
    expected = pydantic_reference(cells, schema)
    assert_same(got, expected)
    assert len(got.errors) > 0 and len(got) > 1500
    clean = [_as_csv_cells(make(rng)) for _ in range(1500)]
    names = sorted({k for r in clean for k in r})
    clean_table = pa.table({n: pa.array([r.get(n) for r in clean], type=pa.string()) for n in names})
    fast = validate(clean_table, schema)
    assert fast.arrow is not None and not fast.errors, "a clean CSV stays in Arrow end to end"
    assert_same(
        fast, pydantic_reference([{k: v for k, v in r.items() if v is not None} for r in clean], schema)
    )


# Values of the field's own JSON type (what Arrow's reader accepts) that are wrong or unusual for pydantic.
