"""Column-wise validation of large batches gives exactly what pydantic gives, record by record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import BaseModel

from models.apprenticeship_host.model import HOST_INPUT
from models.dropout_risk.features import dropout_input
from service.model_schemas import record_schema, request_schema
from service.schemas import RecordColumns
from service.validation import (
    COLUMNAR_MIN,
    ArrowRecords,
    ValidBatch,
    _columnar,
    read_json_records,
    validate,
    validate_records,
)

# The record schemas the service derives from the two models' own contracts.
HostCompany = record_schema(HOST_INPUT, "HostCompany")
DropoutContract = record_schema(dropout_input(6), "DropoutContract")
HostScoresRequest = request_schema(HostCompany, "companies", {}, "HostScoresRequest", {})

Record = dict[str, Any]


def _host_record(rng: np.random.Generator) -> Record:
    cutoff = date(2025, 1, 1) - timedelta(days=int(rng.integers(0, 800)))
    record: Record = {
        "siret": f"{int(rng.integers(10**13, 10**14)):014d}",
        "naf_code": str(rng.choice(["43.22A", "4322A", "96.02a", "10.71C", "45.20A"])),
        "commune_code": str(rng.choice(["69384", "2A004", "2b033", "33063", "01001"])),
        "creation_date": (cutoff - timedelta(days=int(rng.integers(1, 20_000)))).isoformat(),
        "legal_category": str(rng.choice(["1000", "5499", "5710"])),
        "headcount_band": str(rng.choice(["NN", "00", "01", "11"])),
        "head_qualification": str(rng.choice(["aucune", "cap_bep", "superieur"])),
        "contracts_last_12m": int(rng.integers(0, 3)),
        "years_since_last_contract": None if rng.random() < 0.3 else float(rng.uniform(0, 8)),
    }
    if rng.random() < 0.5:
        record["cutoff_date"] = cutoff.isoformat()
    if rng.random() < 0.5:
        record["years_since_last_contract"] = int(rng.integers(0, 5))  # an int for a float field
    return record


def _dropout_record(rng: np.random.Generator) -> Record:
    start = date(2024, 9, 1) + timedelta(days=int(rng.integers(0, 60)))
    record: Record = {
        "contract_id": f"CTR-{int(rng.integers(0, 10**6))}",
        "contract_start": start.isoformat(),
        "planned_end": (start + timedelta(days=700)).isoformat(),
        "diploma": str(rng.choice(["CAP", "BP", "BTS"])),
        "naf_code": str(rng.choice(["96.02A", "10.71C"])),
        "birth_year": int(rng.integers(1990, 2010)),
        "sex": str(rng.choice(["F", "M"])),
        "prior_qualification": str(rng.choice(["aucun", "brevet"])),
        "distance_home_centre_km": float(rng.uniform(0, 80)),
        "distance_home_employer_km": int(rng.integers(0, 50)),
        "absence_half_days": int(rng.integers(0, 10)),
        "assessment_score_mean": None if rng.random() < 0.3 else float(rng.uniform(0, 20)),
    }
    if rng.random() < 0.5:
        record["headcount_band"] = str(rng.choice(["00", "01", "NN"]))
    return record


# Ways a value can go wrong, or be unusual yet valid for pydantic (the column-wise path must defer to it).
VALUE_MUTATIONS: list[Any] = [
    None,
    True,
    "",
    "abc",
    "1" * 200,
    "２０２４-01-01",
    "2023-02-30",
    "2023-2-3",
    "1650-01-01",
    "2024-01-01T00:00:00",
    "12345678901234\n",
    "١٢٣٤٥٦٧٨٩٠١٢٣٤",
    -1,
    10**30,
    2.0,
    2.5,
    float("inf"),
    "3",
    [1],
    {"a": 1},
]


def _mutate(record: Record, rng: np.random.Generator, fields: list[str]) -> Any:
    kind = rng.integers(0, 5)
    if kind == 0:
        return "not a record"
    mutated = dict(record)
    if kind == 1:
        mutated.pop(str(rng.choice(fields)), None)
    elif kind == 2:
        mutated["unknown_field"] = 1
    else:
        mutated[str(rng.choice(fields))] = VALUE_MUTATIONS[rng.integers(len(VALUE_MUTATIONS))]
    return mutated


def _batch(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel], n: int, seed: int
) -> list[Any]:
    rng = np.random.default_rng(seed)
    fields = list(schema.model_fields)
    return [_mutate(make(rng), rng, fields) if rng.random() < 0.3 else make(rng) for _ in range(n)]


def _pydantic_reference(records: list[Any], schema: type[BaseModel]) -> ValidBatch:
    valid, errors = validate_records(records, schema)
    return ValidBatch(schema, [i for i, _ in valid], errors, records=[item.model_dump() for _, item in valid])


def _assert_same(got: ValidBatch, expected: ValidBatch) -> None:
    assert got.indices == expected.indices
    assert [e.model_dump() for e in got.errors] == [e.model_dump() for e in expected.errors]
    pd.testing.assert_frame_equal(got.as_frame(), expected.as_frame())


@pytest.mark.parametrize(
    ("make", "schema"),
    [(_host_record, HostCompany), (_dropout_record, DropoutContract)],
    ids=["host", "dropout"],
)
def test_columnwise_validation_equals_pydantic_on_random_records(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel]
) -> None:
    for seed in range(3):
        records = _batch(make, schema, 3000, seed)
        got = validate(records, schema)
        expected = _pydantic_reference(records, schema)
        assert got.columns is not None and got.records is None, "a large batch takes the column-wise path"
        _assert_same(got, expected)
        assert len(got.errors) > 0 and 0 < len(got) < len(records)


@pytest.mark.parametrize(
    ("make", "schema"),
    [(_host_record, HostCompany), (_dropout_record, DropoutContract)],
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
    _assert_same(got, _pydantic_reference(records, schema))
    assert len(got.errors) > 0 and 0 < len(got) < len(records)
    clean = [complete() for _ in range(2000)]
    _assert_same(validate(clean, schema), _pydantic_reference(clean, schema))


def test_clean_batch_is_accepted_without_pydantic_and_typed() -> None:
    rng = np.random.default_rng(7)
    records = [_host_record(rng) for _ in range(500)]
    got = validate(records, HostCompany)
    assert got.indices == list(range(len(records))) and not got.errors
    frame = got.as_frame()
    assert str(frame["creation_date"].dtype).startswith("datetime64")
    assert frame["contracts_last_12m"].dtype == np.int64
    assert frame["contracts_total"].eq(0).all(), "missing fields take their schema default"


def test_small_batch_keeps_records_and_matches_pydantic() -> None:
    records = _batch(_host_record, HostCompany, COLUMNAR_MIN - 1, seed=3)
    got = validate(records, HostCompany)
    assert got.records is not None
    _assert_same(got, _pydantic_reference(records, HostCompany))


@pytest.mark.parametrize("n", [20, 2000])
def test_columns_form_equals_list_of_records(n: int) -> None:
    rng = np.random.default_rng(5)
    records = [_dropout_record(rng) for _ in range(n)]
    records[3]["birth_year"] = 1800
    records[4]["sex"] = None
    records[5]["contract_start"] = "2023-02-30"
    names = list(DropoutContract.model_fields)
    columns = RecordColumns({name: [r.get(name) for r in records] for name in names})
    got = validate(columns, DropoutContract)
    # In the columns form a null means "not given": the record as an object without its nulls.
    expected = _pydantic_reference(
        [{k: v for k, v in r.items() if v is not None} for r in records], DropoutContract
    )
    _assert_same(got, expected)
    assert {(3, "birth_year"), (4, "sex"), (5, "contract_start")} <= {(e.index, e.field) for e in got.errors}


def test_columns_form_with_unknown_column_reports_each_record() -> None:
    rng = np.random.default_rng(2)
    records = [_host_record(rng) for _ in range(100)]
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


def _as_csv_cells(record: Any) -> dict[str, str | None]:
    """A record as a CSV export gives it: every value a string, an empty cell for a value not given."""
    if not isinstance(record, dict):
        return {}
    return {k: None if v is None else str(v) if not isinstance(v, str) else v for k, v in record.items()}


@pytest.mark.parametrize(
    ("make", "schema"),
    [(_host_record, HostCompany), (_dropout_record, DropoutContract)],
    ids=["host", "dropout"],
)
def test_csv_table_equals_pydantic_on_the_same_cells(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel]
) -> None:

    rng = np.random.default_rng(11)
    records = [_as_csv_cells(r) for r in _batch(make, schema, 2500, seed=11)]
    records[5] = {**records[5], "creation_date" if schema is HostCompany else "contract_start": "2023-02-30"}
    names = sorted({k for r in records for k in r})
    table = pa.table({name: pa.array([r.get(name) for r in records], type=pa.string()) for name in names})
    got = validate(table, schema)
    cells = [{k: v for k, v in r.items() if v is not None} for r in records]
    expected = _pydantic_reference(cells, schema)
    _assert_same(got, expected)
    assert len(got.errors) > 0 and len(got) > 1500
    clean = [_as_csv_cells(make(rng)) for _ in range(1500)]
    names = sorted({k for r in clean for k in r})
    clean_table = pa.table({n: pa.array([r.get(n) for r in clean], type=pa.string()) for n in names})
    fast = validate(clean_table, schema)
    assert fast.arrow is not None and not fast.errors, "a clean CSV stays in Arrow end to end"
    _assert_same(
        fast, _pydantic_reference([{k: v for k, v in r.items() if v is not None} for r in clean], schema)
    )


# Values of the field's own JSON type (what Arrow's reader accepts) that are wrong or unusual for pydantic.
SAME_TYPE_MUTATIONS: dict[str, list[Any]] = {
    "text": [None, "", "abc", "1" * 200, "12345678901234\n", "١٢٣٤٥٦٧٨٩٠١٢٣٤", "43.22a", " 69384"],
    "date": [None, "2023-02-30", "2023-2-3", "1650-01-01", "2024-01-01T00:00:00", "２０２４-01-01", ""],
    "int": [None, -1, 5000, 10**6, 0],
    "float": [None, -1.0, 2, 1000.5, 0.0],
}


def _same_type_batch(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel], n: int
) -> list[Any]:
    rng = np.random.default_rng(21)
    kinds = {c.name: c.kind for c in _columnar(schema).columns}
    records = []
    for _ in range(n):
        record = make(rng)
        if rng.random() < 0.3:
            field = str(rng.choice(list(kinds)))
            if rng.random() < 0.25:
                record.pop(field, None)  # absent: the default, or "Field required"
            else:
                options = SAME_TYPE_MUTATIONS[kinds[field]]
                record[field] = options[rng.integers(len(options))]
        records.append(record)
    return records


@pytest.mark.parametrize(
    ("make", "schema", "field"),
    [(_host_record, HostCompany, "companies"), (_dropout_record, DropoutContract, "contracts")],
    ids=["host", "dropout"],
)
def test_json_records_read_by_arrow_equal_pydantic(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel], field: str
) -> None:
    """A large list of objects read by Arrow: same valid records, same errors (explicit null vs absent
    field included) as pydantic on the records orjson reads."""
    records = _same_type_batch(make, schema, 3000)
    body = orjson.dumps({field: records, "explain": False})
    read = read_json_records(body, field, schema, 10_000)
    assert read is not None, "a list of objects in the fields' JSON types is read by Arrow"
    batch, explain = read
    assert explain is False and isinstance(batch, ArrowRecords) and len(batch) == len(records)
    got = validate(batch, schema)
    _assert_same(got, _pydantic_reference(records, schema))
    assert len(got.errors) > 0 and 0 < len(got) < len(records)
    clean = orjson.dumps({field: [make(np.random.default_rng(i)) for i in range(2000)]})
    clean_read = read_json_records(clean, field, schema, 10_000)
    assert clean_read is not None and clean_read[1] is None, "explain not given"
    clean_batch = validate(clean_read[0], schema)
    assert clean_batch.arrow is not None and not clean_batch.errors and len(clean_batch) == 2000


def test_json_records_left_to_the_usual_reader_otherwise() -> None:
    """Anything but a plain list of objects in the fields' JSON types goes the usual way (None)."""
    rng = np.random.default_rng(3)
    records = [_host_record(rng) for _ in range(1500)]

    def body(items: list[Any], **envelope: Any) -> bytes:
        return orjson.dumps({"companies": items, **envelope})

    def changed(index: int, **values: Any) -> list[Any]:
        return [dict(r, **values) if i == index else r for i, r in enumerate(records)]

    assert read_json_records(body(records), "companies", HostCompany, 10_000) is not None
    refused = {
        "a number for a text field": body(changed(700, siret=12345678901234)),
        "a float for an int field": body(changed(5, contracts_total=2.5)),
        "a boolean for an int field": body(changed(5, contracts_total=True)),
        "a text for a number": body(changed(5, contracts_total="3")),
        "an unknown field": body(changed(1400, unknown_field=1)),
        "a null record": body([*records[:-1], None]),
        "a record that is not an object": body([*records[:-1], "text"]),
        "explain null": body(records, explain=None),
        "explain not a boolean": body(records, explain=1),
        "the columns form": orjson.dumps({"columns": {"siret": [r["siret"] for r in records]}}),
        "two documents": body(records) + body(records),
        "a top-level list": orjson.dumps(records),
        "not UTF-8": body(records).replace(b'"aucune"', b'"\xe9"', 1),
        "a small body": body(records[:10]),
        "an int beyond 64 bits": body(changed(5, contracts_total=987654321)).replace(b"987654321", b"9" * 30),
    }
    for reason, content in refused.items():
        assert read_json_records(content, "companies", HostCompany, 10_000) is None, reason
    assert read_json_records(body(records), "companies", HostCompany, 1000) is None, "too many records"


def test_large_json_body_read_in_two_halves_keeps_every_record_in_order() -> None:
    """A body of several megabytes is read in two halves cut between two records; texts holding `},{`,
    pretty-printing and `explain` before the list change nothing."""
    rng = np.random.default_rng(8)
    records = [{**_host_record(rng), "contracts_total": 1} for _ in range(8000)]
    records[3999]["head_qualification"] = 'cap"},{"siret": "x'  # a cut candidate inside a text
    records[4000]["naf_code"] = "}, {"
    body = orjson.dumps({"explain": True, "companies": records}, option=orjson.OPT_INDENT_2)
    assert len(body) > 2_000_000
    read = read_json_records(body, "companies", HostCompany, 10_000)
    assert read is not None and read[1] is True
    batch, _ = read
    assert isinstance(batch, ArrowRecords)
    assert batch.table.column("siret").to_pylist() == [r["siret"] for r in records]
    assert batch.table.column("head_qualification")[3999].as_py() == 'cap"},{"siret": "x'
    _assert_same(validate(batch, HostCompany), _pydantic_reference(records, HostCompany))


def test_explicit_null_told_from_absent_field() -> None:
    """Absent defaulted fields take their default; an explicit null for them goes to pydantic (which refuses
    it), found by one search of the body."""
    rng = np.random.default_rng(12)
    records = [_host_record(rng) for _ in range(2000)]  # contracts_total and others absent: defaults
    records[10]["contracts_total"] = None
    records[20]["contracts_last_3y"] = None
    body = orjson.dumps({"companies": records})
    assert b"\\" not in body
    read = read_json_records(body, "companies", HostCompany, 10_000)
    assert read is not None
    assert read[0].null_given == {"contracts_total", "contracts_last_3y"}
    got = validate(read[0], HostCompany)
    _assert_same(got, _pydantic_reference(records, HostCompany))
    assert [e.index for e in got.errors] == [10, 20]


@pytest.mark.parametrize(
    ("make", "schema"),
    [(_host_record, HostCompany), (_dropout_record, DropoutContract)],
    ids=["host", "dropout"],
)
def test_json_columns_read_by_arrow_equal_pydantic(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel]
) -> None:
    """The columns form read by Arrow (a null is a value not given): same outcome as pydantic on the records
    the usual reader builds from the columns."""
    records = _same_type_batch(make, schema, 6000)
    names = list(schema.model_fields)
    columns = {name: [r.get(name) for r in records] for name in names if name != "cutoff_date"}
    body = orjson.dumps({"columns": columns, "explain": True}, option=orjson.OPT_INDENT_2)
    assert len(body) > 1_000_000  # read in two halves
    read = read_json_records(body, "companies", schema, 10_000)
    assert read is not None and read[1] is True
    sent = RecordColumns(columns)
    expected = _pydantic_reference([sent.record(i) for i in range(len(sent))], schema)
    _assert_same(validate(read[0], schema), expected)


def test_json_columns_left_to_the_usual_reader_otherwise() -> None:
    rng = np.random.default_rng(4)
    records = [_host_record(rng) for _ in range(3000)]
    columns = {name: [r.get(name) for r in records] for name in ("siret", "naf_code", "commune_code")}
    assert read_json_records(orjson.dumps({"columns": columns}), "companies", HostCompany, 10_000) is not None
    refused = {
        "a null column": orjson.dumps({"columns": {**columns, "legal_category": None}}),
        "unequal lengths": orjson.dumps({"columns": {**columns, "siret": columns["siret"][:-1]}}),
        "an unknown column": orjson.dumps({"columns": {**columns, "unknown": columns["siret"]}}),
        "a column twice": orjson.dumps({"columns": columns}).replace(b'"naf_code"', b'"siret"', 1),
        "a number in a text column": orjson.dumps({"columns": {**columns, "siret": list(range(3000))}}),
    }
    for reason, content in refused.items():
        assert read_json_records(content, "companies", HostCompany, 10_000) is None, reason
