"""The column-wise fast path of validation, for large batches (from `COLUMNAR_MIN` records).

Validating 10,000 records one pydantic object at a time costs more than scoring them. This path reads the
record schema's fields (type, pattern, length and bound constraints, optional, default) once and checks a
batch column by column with Arrow. It is conservative by construction: it accepts a record only when every
value has the plain JSON form the schema obviously accepts (an ASCII string matching the pattern, an ISO
date, an int or float within bounds...). Every other record goes through pydantic (`service.validation`),
which gives the authoritative answer and error messages, so the outcome is that of validating every record
with pydantic (`tests/service/test_columnar.py` checks it on thousands of random valid and invalid records).
"""

from __future__ import annotations

import math
import operator
import re
import types
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from models.timeutils import day_number, iso_day_numbers
from service.model_schemas import NO_RULES, RecordRules, rules_of
from service.schemas import RecordColumns

COLUMNAR_MIN = 1000  # from this many records, batches are validated column-wise (measured crossover)
_ARROW_TYPES = {"text": pa.string(), "date": pa.string(), "int": pa.int64(), "float": pa.float64()}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class _Column:
    """How one field is checked and typed in the column-wise path, read from the schema's field."""

    name: str
    kind: Literal["text", "date", "int", "float"]
    required: bool
    optional: bool  # None is a valid value
    default: Any
    allowed: frozenset[str] | None = None  # Literal values
    pattern: str | None = None
    min_length: int = 0
    max_length: int | None = None
    ge: Any = None
    le: Any = None

    def check(self, raw: list[Any] | pa.Array) -> tuple[np.ndarray, pa.Array | None]:
        """Which values the fast path accepts as they are, computed on the whole column with Arrow, and the
        Arrow array of the column (None when it has mixed types). Missing values of optional fields have
        been replaced by their default (None if required)."""
        try:
            if isinstance(raw, pa.Array):  # from a CSV body: already typed by `columns_of_table`
                arr = raw
            elif self.kind in ("text", "date"):
                arr = pa.array(raw, type=pa.string())
            elif self.kind == "float" and bool in set(map(type, raw)):  # Arrow would read True as 1.0
                return self._per_value(raw), None
            else:
                arr = pa.array(raw)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return self._per_value(raw), None  # mixed types: rare, checked one value at a time
        if pa.types.is_null(arr.type):
            return np.full(len(raw), self.optional), arr
        # Each condition is null where the value is null; nulls are then accepted for optional fields only.
        # Arrow's regular expressions (RE2) read \d as ASCII digits: a subset of pydantic's reading.
        conditions: list[pa.Array] = []
        if self.kind == "text":
            if self.allowed is not None:
                conditions.append(pc.is_in(arr, value_set=pa.array(sorted(self.allowed)), skip_nulls=False))
            if self.pattern is not None:
                # `\z`: end of the text, even for a pattern ending in `$` (which may match before a newline)
                conditions.append(pc.match_substring_regex(arr, self.pattern + r"\z"))
            if self.min_length > 0 or self.max_length is not None:
                length = pc.utf8_length(arr)
                conditions.append(pc.greater_equal(length, self.min_length))
                if self.max_length is not None:
                    conditions.append(pc.less_equal(length, self.max_length))
        elif self.kind == "date":  # ISO calendar days within the bounds, read from the bytes
            days, well = iso_day_numbers(arr)
            well &= self._day_in_bounds(days)
            if arr.null_count:
                nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
                well = np.where(nulls, self.optional, well)
            return well, arr
        else:
            if self.kind == "int" and not pa.types.is_integer(arr.type):
                return self._per_value(raw), None
            if self.kind == "float":
                if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
                    return self._per_value(raw), None
                arr = arr.cast(pa.float64())
                conditions.append(pc.is_finite(arr))
            if self.ge is not None:
                conditions.append(pc.greater_equal(arr, self.ge))
            if self.le is not None:
                conditions.append(pc.less_equal(arr, self.le))
        ok = conditions[0] if conditions else pc.is_valid(arr)
        for condition in conditions[1:]:
            ok = pc.and_(ok, condition)
        if arr.null_count:
            ok = pc.if_else(pc.is_null(arr), self.optional, ok)
        return np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool), arr

    def _day_in_bounds(self, days: np.ndarray) -> np.ndarray:
        """Which day numbers are within the field's date bounds."""
        within = np.ones(len(days), dtype=bool)
        if self.ge is not None:
            within &= days >= day_number(self.ge)
        if self.le is not None:
            within &= days <= day_number(self.le)
        return within

    def accepts(self, value: Any) -> bool:
        """The same rule for one value."""
        if value is None:
            return self.optional
        if self.kind == "text":
            return (
                type(value) is str
                and (self.allowed is None or value in self.allowed)
                and (self.pattern is None or re.fullmatch(self.pattern, value, re.ASCII) is not None)
                and self.min_length <= len(value)
                and (self.max_length is None or len(value) <= self.max_length)
            )
        if self.kind == "date":
            if type(value) is not str or _ISO_DATE.fullmatch(value) is None:
                return False
            try:
                day = date.fromisoformat(value)
            except ValueError:  # not a day of the calendar (2023-02-30)
                return False
            return self._in_bounds(day)
        if self.kind == "int":
            return type(value) is int and self._in_bounds(value)
        return (
            (type(value) is float or type(value) is int) and math.isfinite(value) and self._in_bounds(value)
        )

    def _in_bounds(self, value: Any) -> bool:
        return (self.ge is None or value >= self.ge) and (self.le is None or value <= self.le)

    def _per_value(self, raw: list[Any] | pa.Array) -> np.ndarray:
        if isinstance(raw, pa.Array):
            raw = raw.to_pylist()
        return np.fromiter((self.accepts(v) for v in raw), dtype=bool, count=len(raw))


def _constraint(info: FieldInfo, kind: type, attribute: str) -> Any:
    for item in info.metadata:
        if isinstance(item, kind):
            return getattr(item, attribute)
    return None


def _pattern(info: FieldInfo) -> str | None:
    for item in info.metadata:
        if getattr(item, "pattern", None) is not None:
            return str(item.pattern)
    return None


def _column(name: str, info: FieldInfo) -> _Column:
    """The column rule of one schema field (raises TypeError for a type this path does not know)."""
    annotation = info.annotation
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        if len(args) != 1:
            raise TypeError(f"{name}: unsupported union {annotation}")
        annotation = args[0]
    required = info.is_required()
    common: dict[str, Any] = {
        "name": name,
        "required": required,
        "optional": optional,
        "default": None if required else info.get_default(call_default_factory=True),
        "ge": _constraint(info, annotated_types.Ge, "ge"),
        "le": _constraint(info, annotated_types.Le, "le"),
    }
    if get_origin(annotation) is Literal:
        allowed = frozenset(v for v in get_args(annotation) if isinstance(v, str))
        if len(allowed) != len(get_args(annotation)):
            raise TypeError(f"{name}: only string literals are supported")
        return _Column(kind="text", allowed=allowed, **common)
    if annotation is str:
        return _Column(
            kind="text",
            pattern=_pattern(info),
            min_length=_constraint(info, annotated_types.MinLen, "min_length") or 0,
            max_length=_constraint(info, annotated_types.MaxLen, "max_length"),
            **common,
        )
    kinds: dict[Any, Literal["date", "int", "float"]] = {date: "date", int: "int", float: "float"}
    if annotation not in kinds:
        raise TypeError(f"{name}: unsupported type {annotation}")
    return _Column(kind=kinds[annotation], **common)


@dataclass(frozen=True)
class ColumnarSchema:
    """The column-wise rules of a record schema (a pydantic model with `extra="forbid"`), and the rules of
    its contract beyond the fields (`RecordRules`: identifiers, order of dates), checked on the columns."""

    schema: type[BaseModel]
    columns: tuple[_Column, ...]
    rules: RecordRules = NO_RULES

    @classmethod
    def of(cls, schema: type[BaseModel]) -> ColumnarSchema:
        """Read the rules from the schema's fields."""
        if schema.model_config.get("extra") != "forbid":
            raise TypeError(f"{schema.__name__} must forbid extra fields")
        if any(info.alias is not None for info in schema.model_fields.values()):
            raise TypeError(f"{schema.__name__}: fields under another name are read by pydantic")
        columns = tuple(_column(name, info) for name, info in schema.model_fields.items())
        return cls(schema, columns, rules_of(schema))

    def columns_of_records(self, records: list[Any]) -> tuple[np.ndarray, dict[str, list[Any]]]:
        """The raw values of each column (defaults filled) and which records are objects without unknown
        fields."""
        n = len(records)
        names = [c.name for c in self.columns]
        if len(names) > 1 and all(type(r) is dict and len(r) == len(names) for r in records):
            try:  # the usual export: every record has every field, read in one pass per record
                rows = list(map(operator.itemgetter(*names), records))
            except KeyError:
                pass
            else:
                return np.ones(n, dtype=bool), dict(
                    zip(names, map(list, zip(*rows, strict=True)), strict=True)
                )
        known = frozenset(names)
        ok = np.fromiter((type(r) is dict and r.keys() <= known for r in records), dtype=bool, count=n)
        rows_of = records if ok.all() else [r if type(r) is dict else {} for r in records]
        values: dict[str, list[Any]] = {}
        for column in self.columns:
            name, default = column.name, column.default
            values[name] = [r.get(name, default) for r in rows_of]
        return ok, values

    def columns_of_columns(self, batch: RecordColumns) -> tuple[np.ndarray, dict[str, list[Any]]]:
        """The same for a batch given by columns (nulls and absent columns take the field's default), and
        whether its columns are all known."""
        n = len(batch)
        known = batch.values.keys() <= {c.name for c in self.columns}
        values = {}
        for column in self.columns:
            given = batch.values.get(column.name)
            default = column.default
            if given is None:
                values[column.name] = [default] * n
            elif default is not None and None in given:
                values[column.name] = [default if v is None else v for v in given]
            else:
                values[column.name] = given
        return np.full(n, known), values

    def columns_of_table(self, table: pa.Table) -> tuple[np.ndarray, dict[str, pa.Array]]:
        """The same for a CSV body read as a table of strings (empty cell = not given): numbers are parsed
        where they are plain decimal numbers; a row with another text in a number column is left to
        pydantic (which explains), as is every row when the table has an unknown column."""
        n = table.num_rows
        ok = np.full(n, set(table.column_names) <= {c.name for c in self.columns})
        values: dict[str, pa.Array] = {}
        for column in self.columns:
            if column.name not in table.column_names:
                arr: pa.Array = pa.nulls(n)
            else:
                arr = table[column.name].combine_chunks().cast(pa.string())
                if column.kind in ("int", "float"):
                    pattern = r"^-?[0-9]{1,18}\z" if column.kind == "int" else r"^-?[0-9]{1,300}(\.[0-9]+)?\z"
                    plain = pc.match_substring_regex(arr, pattern)
                    other = pc.and_(pc.is_valid(arr), pc.invert(plain))
                    ok &= ~np.asarray(other.to_numpy(zero_copy_only=False), dtype=bool)
                    number = pa.int64() if column.kind == "int" else pa.float64()
                    arr = pc.if_else(plain, arr, pa.scalar(None, pa.string())).cast(number)
            if column.default is not None and arr.null_count:
                arr = pc.fill_null(arr.cast(_ARROW_TYPES[column.kind]), column.default)
            values[column.name] = arr
        return ok, values

    def columns_of_arrow(
        self, table: pa.Table, null_given: frozenset[str]
    ) -> tuple[np.ndarray, dict[str, pa.Array]]:
        """The same for records read into typed Arrow columns (`read_json_records`), where a null is an
        absent field or an explicit null. The two differ for a field whose default is not None: in the
        fields of `null_given` (the body may hold an explicit null for them) such rows are left to pydantic
        with the record as sent; elsewhere a null is an absent field and takes the default."""
        ok = np.ones(table.num_rows, dtype=bool)
        values: dict[str, pa.Array] = {}
        for column in self.columns:
            arr = table[column.name].combine_chunks()
            if arr.null_count and column.default is not None:
                if column.name in null_given:
                    ok &= np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
                arr = pc.fill_null(arr, column.default)
            values[column.name] = arr
        return ok, values

    def arrow_record_type(self) -> pa.StructType:
        """The Arrow type of one record: each field in the type its plain JSON form has (dates as text)."""
        return pa.struct([(c.name, _ARROW_TYPES[c.kind]) for c in self.columns])

    def accepted(
        self, ok: np.ndarray, values: dict[str, list[Any]] | dict[str, pa.Array]
    ) -> tuple[np.ndarray, dict[str, pa.Array] | None]:
        """`ok` narrowed to the records whose every value the fast path accepts, and the columns as Arrow
        arrays (None when a column has mixed types)."""
        arrays: dict[str, pa.Array] | None = {}
        for column in self.columns:
            accepted, arr = column.check(values[column.name])
            ok = ok & accepted
            if arrays is not None and arr is not None:
                arrays[column.name] = arr
            else:
                arrays = None
        if self.rules:  # a record the rules refuse goes to pydantic and the rules, which explain
            ok = ok & self.rules.accepts_columns(self._rule_columns(values, arrays, ok))
        return ok, arrays

    def _rule_columns(
        self,
        values: dict[str, list[Any]] | dict[str, pa.Array],
        arrays: dict[str, pa.Array] | None,
        ok: np.ndarray,
    ) -> dict[str, pa.Array]:
        """The columns the rules read, as Arrow texts (a column of mixed types: its accepted values, which
        are plain texts, the others null)."""
        out: dict[str, pa.Array] = {}
        for name in self.rules.fields:
            given = arrays[name] if arrays is not None else values[name]
            if not isinstance(given, pa.Array):
                given = pa.array(
                    [v if keep else None for v, keep in zip(given, ok, strict=True)], pa.string()
                )
            out[name] = given
        return out

    def typed_frame(self, values: dict[str, list[Any]]) -> pd.DataFrame:
        """Validated columns as a typed frame (text: object, dates: datetime64, numbers: int64/float64)."""
        data: dict[str, Any] = {}
        for column in self.columns:
            raw = values[column.name]
            if column.kind == "date":  # ISO calendar days (None: NaT)
                data[column.name] = np.array(raw, dtype="datetime64[D]").astype("datetime64[ns]")
            elif column.kind == "int":
                data[column.name] = np.array(raw, dtype=np.int64)
            elif column.kind == "float":
                data[column.name] = np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
            else:  # kept as Python strings: pandas' Arrow strings would cost a conversion each way
                data[column.name] = pd.Series(raw, dtype=object)
        return pd.DataFrame(data, columns=[c.name for c in self.columns])

    def values_of(self, dumped: list[dict[str, Any]]) -> dict[str, list[Any]]:
        """Columns of records validated by pydantic (`model_dump()` dicts), in the fast path's form."""
        return {
            c.name: [d[c.name].isoformat() if c.kind == "date" and d[c.name] else d[c.name] for d in dumped]
            for c in self.columns
        }

    def frame_of(self, dumped: list[dict[str, Any]]) -> pd.DataFrame:
        """`typed_frame` of records already validated by pydantic (`model_dump()` dicts)."""
        return self.typed_frame(self.values_of(dumped))


_COLUMNAR: dict[type, ColumnarSchema | None] = {}


def columnar_schema(schema: type[BaseModel]) -> ColumnarSchema | None:
    """The column-wise rules of a schema, or None when the schema is not one this path reads (a field under
    another name, a lenient record...): such batches are validated by pydantic alone."""
    if schema not in _COLUMNAR:
        try:
            _COLUMNAR[schema] = ColumnarSchema.of(schema)
        except TypeError:
            _COLUMNAR[schema] = None
    return _COLUMNAR[schema]


def merged(
    values: dict[str, Any],
    arrays: dict[str, pa.Array] | None,
    accepted: np.ndarray,
    late: dict[str, list[Any]],
    late_indices: list[int],
) -> tuple[list[int], dict[str, list[Any]] | None, dict[str, pa.Array] | None]:
    """The rows this path accepted and the rows pydantic validated (`late`, at `late_indices`), put back in
    request order: indices, and the columns as Arrow arrays (merged in Arrow, no Python object per accepted
    value) or, when a value does not fit its Arrow type, as lists."""
    indices = np.concatenate([accepted, np.array(late_indices, dtype=np.int64)])
    order = np.argsort(indices, kind="stable")
    if arrays is not None:
        merged_arrays = _merged_arrays(arrays, accepted, late, order)
        if merged_arrays is not None:
            return indices[order].tolist(), None, merged_arrays
    kept = {name: _as_list(column) for name, column in values.items()}
    columns = {}
    for name in kept:
        joined = [kept[name][i] for i in accepted] + late[name]
        columns[name] = [joined[i] for i in order]
    return indices[order].tolist(), columns, None


def _as_list(column: Any) -> list[Any]:
    return list(column.to_pylist()) if isinstance(column, pa.Array) else list(column)


def _merged_arrays(
    arrays: dict[str, pa.Array], accepted: np.ndarray, late: dict[str, list[Any]], order: np.ndarray
) -> dict[str, pa.Array] | None:
    """The accepted rows of each column followed by the rows pydantic validated, put in `order` (None when
    a value pydantic gave does not fit the column's Arrow type)."""
    taken, placed = pa.array(accepted, type=pa.int64()), pa.array(order, type=pa.int64())
    try:
        return {
            name: pa.concat_arrays([arr.take(taken), pa.array(late[name], type=arr.type)]).take(placed)
            for name, arr in arrays.items()
        }
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
