"""The scores of a batch held as columns, given as rows (dicts) or written straight to JSON.

Building 10,000 result dicts and serializing them cost more than a tenth of a large request. The scoring
functions return columns; a large JSON answer is written column-wise (numbers by orjson, a whole array at
once; texts quoted and rows joined by Arrow) into the same JSON document `orjson.dumps(rows())` gives.
Anything it cannot write plainly (a text needing escapes, a number that is not finite, a value of another
type) falls back to the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

JSON_MIN_ROWS = 1000  # below this, answers are built as dicts (cheaper than Arrow's fixed costs)


@dataclass(frozen=True)
class ScoredColumns:
    """One sequence per field of the result schema (lists, NumPy or Arrow arrays), in the valid records'
    order."""

    columns: dict[str, Sequence[Any] | np.ndarray | pa.Array]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def rows(self) -> list[dict[str, Any]]:
        """The results as dicts in the result schema's shape."""
        names = list(self.columns)
        values = [_python_values(column) for column in self.columns.values()]
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]

    def to_json(self) -> bytes:
        """The JSON array of `rows()`, written column-wise (falls back to the rows when a value is not
        plain)."""
        n = len(self)
        if n == 0:
            return b"[]"
        parts: list[pa.Array | pa.Scalar] = []
        for position, (name, column) in enumerate(self.columns.items()):
            texts = _json_texts(column)
            if texts is None:
                return orjson.dumps(self.rows(), option=orjson.OPT_SERIALIZE_NUMPY)
            key = ("{" if position == 0 else ",") + orjson.dumps(name).decode() + ":"
            parts += [pa.scalar(key), texts]
        parts.append(pa.scalar("},"))
        objects = pc.binary_join_element_wise(*parts, "")
        if isinstance(objects, pa.Scalar):  # every part constant: one object repeated
            return b"[" + (objects.as_py() * n)[:-1].encode() + b"]"
        # The objects, each followed by a comma, lie end to end in the array's data buffer.
        _, offsets, data = objects.buffers()
        bounds = np.frombuffer(offsets, dtype=np.int32, count=n + 1, offset=objects.offset * 4)
        return b"[" + data[int(bounds[0]) : int(bounds[-1]) - 1].to_pybytes() + b"]"


def _python_values(column: Sequence[Any] | np.ndarray | pa.Array) -> Sequence[Any]:
    if isinstance(column, np.ndarray):
        return list(column.tolist())
    if isinstance(column, pa.Array):
        return list(column.to_pylist())
    return column


def _json_texts(column: Sequence[Any] | np.ndarray | pa.Array) -> pa.Array | pa.Scalar | None:
    """Each value written as JSON (an Arrow array of texts, or one scalar when every row holds the same
    list), or None when a value is not one this writer handles plainly."""
    if isinstance(column, np.ndarray):
        if column.dtype.kind not in "iuf" or (column.dtype.kind == "f" and not np.isfinite(column).all()):
            return None
        wide = column.astype(np.float64 if column.dtype.kind == "f" else np.int64, copy=False)
        return _numbers_as_orjson_writes_them(wide)
    if isinstance(column, pa.Array):
        values = column
    else:
        first = column[0]
        if isinstance(first, list):  # lists (reasons, actions): one JSON text per distinct list object
            if list(column).count(first) == len(column):  # the usual case: no reasons asked, all empty
                return pa.scalar(orjson.dumps(first).decode())
            written: dict[int, str] = {}
            return pa.array(
                [written.setdefault(id(value), orjson.dumps(value).decode()) for value in column],
                type=pa.string(),
            )
        try:
            values = pa.array(column, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
    if not pa.types.is_string(values.type) or values.null_count or not _plain_texts(values):
        return None
    return pc.binary_join_element_wise(pa.scalar('"'), values, pa.scalar('"'), "")


def _numbers_as_orjson_writes_them(column: np.ndarray) -> pa.Array:
    """Each number as orjson writes it (the array written once by orjson, cut at its commas)."""
    inner = orjson.dumps(column, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
    commas = np.flatnonzero(np.frombuffer(inner, dtype=np.uint8) == ord(","))
    data = inner.replace(b",", b"")
    # Element k starts where the k-th comma stood, less the k commas removed before it.
    offsets = np.concatenate([[0], commas - np.arange(len(commas)), [len(data)]]).astype(np.int32)
    return pa.StringArray.from_buffers(len(column), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def _plain_texts(values: pa.StringArray) -> bool:
    """Whether every text can be written between quotes as it is: no quote, backslash or control
    character among its bytes (bytes of other UTF-8 characters are all 0x80 or more)."""
    _, offsets, data = values.buffers()
    if data is None:
        return True
    bounds = np.frombuffer(offsets, dtype=np.int32, count=len(values) + 1, offset=values.offset * 4)
    raw = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
    return not ((raw < 0x20) | (raw == ord('"')) | (raw == ord("\\"))).any()
