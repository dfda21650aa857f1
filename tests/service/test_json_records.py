"""The Arrow reader of large JSON bodies (`service.json_records`) gives what the usual reader gives, and
leaves anything unusual to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from pydantic import BaseModel

from service.columnar import columnar_schema
from service.json_records import ArrowRecords, read_json_records
from service.schemas import RecordColumns
from service.validation import validate
from tests.service.records import (
    SAME_TYPE_MUTATIONS,
    DropoutContract,
    HostCompany,
    Record,
    assert_same,
    dropout_record,
    host_record,
    pydantic_reference,
)


def _same_typebatch(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel], n: int
) -> list[Any]:
    rng = np.random.default_rng(21)
    kinds = {c.name: c.kind for c in columnar_schema(schema).columns}
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
    [(host_record, HostCompany, "companies"), (dropout_record, DropoutContract, "contracts")],
    ids=["host", "dropout"],
)
def test_json_records_read_by_arrow_equal_pydantic(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel], field: str
) -> None:
    """A large list of objects read by Arrow: same valid records, same errors (explicit null vs absent
    field included) as pydantic on the records orjson reads."""
    records = _same_typebatch(make, schema, 3000)
    body = orjson.dumps({field: records, "explain": False})
    read = read_json_records(body, field, schema, 10_000)
    assert read is not None, "a list of objects in the fields' JSON types is read by Arrow"
    batch, explain = read
    assert explain is False and isinstance(batch, ArrowRecords) and len(batch) == len(records)
    got = validate(batch, schema)
    assert_same(got, pydantic_reference(records, schema))
    assert len(got.errors) > 0 and 0 < len(got) < len(records)
    clean = orjson.dumps({field: [make(np.random.default_rng(i)) for i in range(2000)]})
    clean_read = read_json_records(clean, field, schema, 10_000)
    assert clean_read is not None and clean_read[1] is None, "explain not given"
    clean_batch = validate(clean_read[0], schema)
    assert clean_batch.arrow is not None and not clean_batch.errors and len(clean_batch) == 2000


def test_json_records_left_to_the_usual_reader_otherwise() -> None:
    """Anything but a plain list of objects in the fields' JSON types goes the usual way (None)."""
    rng = np.random.default_rng(3)
    records = [host_record(rng) for _ in range(1500)]

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
    records = [{**host_record(rng), "contracts_total": 1} for _ in range(8000)]
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
    assert_same(validate(batch, HostCompany), pydantic_reference(records, HostCompany))


def test_explicit_null_told_from_absent_field() -> None:
    """Absent defaulted fields take their default; an explicit null for them goes to pydantic (which refuses
    it), found by one search of the body."""
    rng = np.random.default_rng(12)
    records = [host_record(rng) for _ in range(2000)]  # contracts_total and others absent: defaults
    records[10]["contracts_total"] = None
    records[20]["contracts_last_3y"] = None
    body = orjson.dumps({"companies": records})
    assert b"\\" not in body
    read = read_json_records(body, "companies", HostCompany, 10_000)
    assert read is not None
    assert read[0].null_given == {"contracts_total", "contracts_last_3y"}
    got = validate(read[0], HostCompany)
    assert_same(got, pydantic_reference(records, HostCompany))
    assert [e.index for e in got.errors] == [10, 20]


@pytest.mark.parametrize(
    ("make", "schema"),
    [(host_record, HostCompany), (dropout_record, DropoutContract)],
    ids=["host", "dropout"],
)
def test_json_columns_read_by_arrow_equal_pydantic(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel]
) -> None:
    """The columns form read by Arrow (a null is a value not given): same outcome as pydantic on the records
    the usual reader builds from the columns."""
    records = _same_typebatch(make, schema, 6000)
    names = list(schema.model_fields)
    columns = {name: [r.get(name) for r in records] for name in names if name != "cutoff_date"}
    body = orjson.dumps({"columns": columns, "explain": True}, option=orjson.OPT_INDENT_2)
    assert len(body) > 1_000_000  # read in two halves
    read = read_json_records(body, "companies", schema, 10_000)
    assert read is not None and read[1] is True
    sent = RecordColumns(columns)
    expected = pydantic_reference([sent.record(i) for i in range(len(sent))], schema)
    assert_same(validate(read[0], schema), expected)


def test_json_columns_left_to_the_usual_reader_otherwise() -> None:
    rng = np.random.default_rng(4)
    records = [host_record(rng) for _ in range(3000)]
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


def test_a_body_with_a_related_table_goes_the_usual_way() -> None:
    records = [host_record(np.random.default_rng(i)) for i in range(1500)]
    body = orjson.dumps({"companies": records, "explain": False})
    assert read_json_records(body, "companies", HostCompany, 10_000) is not None
    past = [{"siret": "73282932000074", "contract_start": "2020-09-01", "planned_end": "2022-08-31"}]
    with_contracts = orjson.dumps({"companies": records, "contracts": past, "explain": False})
    assert read_json_records(with_contracts, "companies", HostCompany, 10_000) is None
