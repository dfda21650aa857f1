"""Validation of scoring batches: each record by the model's record schema (pydantic), invalid ones reported
by index and field, never with their values.

This is the plain path, and the reference: `validate` hands a small batch to pydantic as it is. Two faster
readers sit behind it, each in a module of its own with its equivalence test beside it: from
`COLUMNAR_MIN` records a batch is checked column-wise (`service.columnar`), and a large JSON body is read by
Arrow into typed columns (`service.json_records`); both give the valid records and the errors pydantic
gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, TypeAdapter, ValidationError

from service.columnar import COLUMNAR_MIN, columnar_schema, merged
from service.json_records import ArrowRecords
from service.model_schemas import RecordRules, rules_of
from service.schemas import CsvRows, RecordColumns, RecordError

T = TypeVar("T", bound=BaseModel)


def validate_records(records: list[Any], schema: type[T]) -> tuple[list[tuple[int, T]], list[RecordError]]:
    """Validate a batch with the record schema: the valid records with their index, the errors by index and
    field. One pydantic call validates the whole batch; when some records fail, the others are validated
    again in one call. The schema's `RecordRules` (identifiers, order of dates) then judge the records
    pydantic accepted. Reasons describe the expectation, never the submitted value.
    """
    adapter = _adapter(schema)
    rules = rules_of(schema)
    try:
        valid = list(enumerate(adapter.validate_python(records)))
    except ValidationError as err:
        problems = err.errors(include_input=False, include_url=False)
    else:
        return _ruled(valid, [], rules)
    errors: list[RecordError] = []
    bad: set[int] = set()
    for problem in problems:
        index, *path = problem["loc"]
        bad.add(int(index))
        field = ".".join(str(part) for part in path) or "(record)"
        reason = problem["msg"]
        if problem["type"] == "string_pattern_mismatch":  # an identifier: say which form, in French
            reason = rules.shape_reason(field) or reason
        errors.append(RecordError(index=int(index), field=field, reason=reason))
    keep = [i for i in range(len(records)) if i not in bad]
    checked = adapter.validate_python([records[i] for i in keep]) if keep else []
    return _ruled(list(zip(keep, checked, strict=True)), errors, rules)


def _ruled(
    valid: list[tuple[int, T]], errors: list[RecordError], rules: RecordRules
) -> tuple[list[tuple[int, T]], list[RecordError]]:
    """The records pydantic accepted, less those the rules refuse (their errors added)."""
    if rules:
        kept: list[tuple[int, T]] = []
        for index, item in valid:
            refused = rules.errors(index, item)
            if refused:
                errors.extend(refused)
            else:
                kept.append((index, item))
        valid = kept
    return valid, sorted(errors, key=lambda e: e.index)


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(schema: type[T]) -> TypeAdapter[list[T]]:
    if schema not in _ADAPTERS:
        _ADAPTERS[schema] = TypeAdapter(list[schema])  # type: ignore[valid-type]
    return _ADAPTERS[schema]


@dataclass
class ValidBatch:
    """The valid records of a batch, in input order, with their indices in the request, and the errors of
    the others. Small batches keep their records as dicts (`records`), large ones as columns of values in
    the form the schema accepts (`columns`: ISO date strings, None for a missing optional value)."""

    schema: type[BaseModel]
    indices: list[int]
    errors: list[RecordError]
    records: list[dict[str, Any]] | None = None
    columns: dict[str, list[Any]] | None = None
    arrow: dict[str, pa.Array] | None = None  # the same columns as Arrow arrays, when the whole batch passed
    _frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def column(self, name: str) -> list[Any]:
        """The values of one field, in the valid records' order."""
        if self.columns is not None:
            return self.columns[name]
        if self.arrow is not None:
            return list(self.arrow[name].to_pylist())
        return [record[name] for record in self.records or []]

    def values(self, name: str) -> list[Any] | pa.Array:
        """The values of one field as the batch holds them: an Arrow array when it came as Arrow columns
        (no Python object made), else a list."""
        if self.columns is None and self.arrow is not None:
            return self.arrow[name]
        return self.column(name)

    def rows(self) -> list[dict[str, Any]] | dict[str, Any]:
        """The valid records in the form a model's `score` reads fastest: the records (a small batch), the
        Arrow columns the checks built, or columns of plain values."""
        if self.records is not None:
            return self.records
        if self.arrow is not None:
            return self.arrow
        return self.columns or {}

    def as_frame(self) -> pd.DataFrame:
        """The valid records as a typed frame (text: object, dates: datetime64, numbers), built once."""
        if self._frame is None:
            columnar = columnar_schema(self.schema)
            if columnar is None:
                self._frame = pd.DataFrame(self.records or [])
                return self._frame
            if self.columns is None and self.arrow is not None:
                self.columns = {name: self.column(name) for name in self.arrow}
            if self.columns is not None:
                self._frame = columnar.typed_frame(self.columns)
            else:
                self._frame = columnar.frame_of(self.records or [])
        return self._frame


Batch: TypeAlias = list[Any] | RecordColumns | pa.Table | ArrowRecords | CsvRows


def _checked(
    batch: list[Any] | RecordColumns | pa.Table | ArrowRecords, indices: Sequence[int], schema: type[T]
) -> tuple[list[tuple[int, T]], list[RecordError]]:
    """`validate_records` of the records at `indices`, with indices in the batch's numbering."""
    if isinstance(batch, RecordColumns):
        records = [batch.record(i) for i in indices]
    elif isinstance(batch, ArrowRecords):  # the records as sent: pydantic's messages, nulls as given
        sent = batch.records()
        records = [sent.record(i) if isinstance(sent, RecordColumns) else sent[i] for i in indices]
    elif isinstance(batch, pa.Table):  # a CSV body: an empty cell is a value not given
        rows = batch.take(pa.array(list(indices), type=pa.int64())).to_pylist()
        records = [{k: v for k, v in row.items() if v is not None} for row in rows]
    else:
        records = [batch[i] for i in indices]
    valid, errors = validate_records(records, schema)
    for error in errors:
        error.index = indices[error.index]
    return [(indices[i], item) for i, item in valid], errors


def validate(batch: Batch, schema: type[BaseModel]) -> ValidBatch:
    """Validate a batch (a list of records, columns, records read by Arrow, or a CSV body read as a table of
    strings): pydantic per record below `COLUMNAR_MIN` records, column-wise from there. Either way the
    valid records, their indices and the errors are those pydantic gives (and the schema's rules). The
    errors of a CSV body's rows name their line."""
    if isinstance(batch, CsvRows):
        return _csv_validated(batch, schema)
    n = batch.num_rows if isinstance(batch, pa.Table) else len(batch)
    columnar = columnar_schema(schema) if n >= COLUMNAR_MIN else None
    if columnar is None:
        valid, errors = _checked(batch, range(n), schema)
        dumped = [item.model_dump(by_alias=True) for _, item in valid]
        return ValidBatch(schema, [i for i, _ in valid], errors, dumped)
    values: dict[str, Any]
    if isinstance(batch, pa.Table):
        ok, values = columnar.columns_of_table(batch)
    elif isinstance(batch, ArrowRecords):
        ok, values = columnar.columns_of_arrow(batch.table, batch.null_given)
    elif isinstance(batch, RecordColumns):
        ok, values = columnar.columns_of_columns(batch)
    else:
        ok, values = columnar.columns_of_records(batch)
    ok, arrays = columnar.accepted(ok, values)
    accepted, rejected = np.flatnonzero(ok), np.flatnonzero(~ok)
    arrow_values = isinstance(batch, (pa.Table, ArrowRecords))
    if len(rejected) == 0:
        return ValidBatch(
            schema, accepted.tolist(), [], columns=None if arrow_values else values, arrow=arrays
        )
    checked, errors = _checked(batch, rejected.tolist(), schema)
    late = columnar.values_of([item.model_dump() for _, item in checked])
    indices, columns, arrow = merged(values, arrays, accepted, late, [i for i, _ in checked])
    return ValidBatch(schema, indices, errors, columns=columns, arrow=arrow)


def _csv_validated(rows: CsvRows, schema: type[BaseModel]) -> ValidBatch:
    """`validate` of the rows read from a CSV body, numbered among every data row (the unreadable ones
    quarantined with their error), each error with its line (header = line 1)."""
    read = validate(rows.table, schema)
    positions = rows.positions
    read.indices = [positions[i] for i in read.indices]
    for error in read.errors:
        error.index = positions[error.index]
    read.errors = sorted([*read.errors, *rows.errors], key=lambda e: e.index)
    for error in read.errors:
        error.line = error.index + 2
    return read
