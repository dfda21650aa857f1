"""The Arrow reader of large JSON bodies: a list of objects or the columns form read straight into typed
Arrow columns by Arrow's JSON reader, with no Python object per value (`tests/service/test_json_records.py`
checks it gives what the usual reader gives, and that anything unusual goes the usual way).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import orjson
import pyarrow as pa
from pydantic import BaseModel

from service.arrow_json import names_outside_lists, read_json_documents
from service.columnar import ColumnarSchema, columnar_schema
from service.schemas import RecordColumns


@dataclass
class ArrowRecords:
    """Records of a JSON body read straight into typed Arrow columns (no Python object per value), with
    the same records as parsed JSON (nulls as sent), parsed only when pydantic must judge some of them."""

    table: pa.Table
    parse: Callable[[], list[Any] | RecordColumns]
    null_given: frozenset[str] = frozenset()  # fields the body may set to an explicit null
    _records: list[Any] | RecordColumns | None = None

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def records(self) -> list[Any] | RecordColumns:
        """The records as sent (parsed once, on demand)."""
        if self._records is None:
            self._records = self.parse()
        return self._records


ARROW_JSON_MIN_BYTES = 100_000  # below this, a body is read the usual way (about 1,000 records)
_BETWEEN_OBJECTS = re.compile(rb"\}\s*,\s*\{")
_BETWEEN_LISTS = re.compile(rb'\]\s*,\s*"')


def read_json_records(
    body: bytes, records_field: str, schema: type[BaseModel], max_records: int
) -> tuple[ArrowRecords, bool | None] | None:
    """A large JSON body of either form read by Arrow's JSON reader in the plain JSON types of the record
    schema: `{"<records_field>": [{...}, ...]}` or `{"columns": {"<field>": [...], ...}}`, with `explain`
    (None when not given).

    None when the body is anything else (a value of another JSON type than the field's plain one, an
    unknown or repeated field, a null record or column, a count outside 1..max_records, `"explain": null`,
    not UTF-8...): the caller then reads it the usual way, which decides and explains. For 10,000 records
    this skips creating and reading back some 140,000 Python objects.
    """
    if len(body) < ARROW_JSON_MIN_BYTES or not body.lstrip(b" \t\r\n").startswith(b"{"):
        return None
    if not body.isascii():  # orjson refuses what is not UTF-8: so must this reader
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    columnar = columnar_schema(schema)
    if columnar is None:
        return None
    if names_outside_lists(body, b'"columns"'):
        read = _read_columns(body, columnar)
    else:
        read = _read_objects(body, records_field, columnar)
    if read is None:
        return None
    table = read.table
    if not 1 <= table.num_rows <= max_records:
        return None
    defaulted = [c.name for c in columnar.columns if c.default is not None and table[c.name].null_count]
    null_given: frozenset[str] = frozenset()
    if read.null_is_absent or not defaulted:
        pass
    elif b"\\" in body:  # a key written with escapes would escape the search below
        null_given = frozenset(defaulted)
    else:  # which of these fields the body sets to an explicit null (one pass for all)
        keys = b"|".join(re.escape(name.encode()) for name in defaulted)
        found = re.findall(rb'"(' + keys + rb')"\s*:\s*null', body)
        null_given = frozenset(name.decode() for name in found)
    return ArrowRecords(table, partial(read.parse, body, records_field), null_given), read.explain


class _Read(NamedTuple):
    table: pa.Table
    explain: bool | None
    parse: Callable[[bytes, str], list[Any] | RecordColumns]  # the records as sent, for pydantic
    null_is_absent: bool  # the columns form: a null is a value not given


def _explain(documents: list[pa.Table], body: bytes) -> tuple[bool, bool | None]:
    """Whether `explain` is readable (given at most once, not null) and its value (None: not given)."""
    given = [e for e in (d.column("explain")[0].as_py() for d in documents) if e is not None]
    if len(given) > 1:
        return False, None
    if not given:
        return not names_outside_lists(body, b'"explain"'), None
    return True, given[0]


def _object_records(body: bytes, records_field: str) -> list[Any]:
    return list(orjson.loads(body)[records_field])


def _columns_records(body: bytes, records_field: str) -> RecordColumns:
    return RecordColumns(orjson.loads(body)["columns"])


def _read_objects(body: bytes, records_field: str, columnar: ColumnarSchema) -> _Read | None:
    envelope = pa.schema([(records_field, pa.list_(columnar.arrow_record_type())), ("explain", pa.bool_())])
    reopen = b'{"' + records_field.encode() + b'":['
    documents = read_json_documents(body, envelope, _BETWEEN_OBJECTS, b"]}", reopen)
    if documents is None:
        return None
    readable, explain = _explain(documents, body)
    lists = [d.column(records_field).combine_chunks() for d in documents]
    if not readable or any(given.null_count for given in lists):
        return None
    items = [given.flatten() for given in lists]
    if any(part.null_count for part in items):
        return None
    names = [field.name for field in items[0].type]
    table = pa.concat_tables([pa.Table.from_arrays(part.flatten(), names=names) for part in items])
    return _Read(table, explain, _object_records, null_is_absent=False)


def _read_columns(body: bytes, columnar: ColumnarSchema) -> _Read | None:
    record = columnar.arrow_record_type()
    fields = pa.struct([(field.name, pa.list_(field.type)) for field in record])
    envelope = pa.schema([("columns", fields), ("explain", pa.bool_())])
    documents = read_json_documents(body, envelope, _BETWEEN_LISTS, b"}}", b'{"columns":{')
    if documents is None:
        return None
    readable, explain = _explain(documents, body)
    structs = [d.column("columns").combine_chunks() for d in documents]
    if not readable or any(struct.null_count for struct in structs):
        return None
    given: dict[str, pa.Array] = {}
    for field in record:
        parts = [struct.field(field.name) for struct in structs]
        present = [part for part in parts if part.null_count == 0]
        if len(present) > 1:  # the same column twice
            return None
        if present:
            given[field.name] = present[0].flatten()
        elif b'"' + field.name.encode() + b'"' in body:
            return None  # named but null (or named in a text): the usual reader decides
    lengths = {len(values) for values in given.values()}
    if len(lengths) != 1:
        return None
    n = lengths.pop()
    table = pa.table({f.name: given.get(f.name, pa.nulls(n, f.type)) for f in record})
    return _Read(table, explain, _columns_records, null_is_absent=True)
