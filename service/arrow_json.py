"""Large JSON bodies read by Arrow's JSON reader straight into typed columns, in two halves at once.

The reader releases the GIL, so a body of several megabytes is cut in two near its middle, between two
items of its list, and both halves are read on two threads. A cut is kept only when the first half, closed,
reads as a document of the expected types: JSON's reading of a prefix does not depend on what follows, and
a cut inside a text or an item could not close that way, so the two halves hold the items in order.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.json as pajson

SPLIT_MIN_BYTES = 1_000_000  # from this size, a body is read in two halves on two threads
_HALVES = ThreadPoolExecutor(max_workers=1, thread_name_prefix="json-half")


def read_json_document(body: bytes, envelope: pa.Schema) -> pa.Table | None:
    """The body read with the envelope's types: a one-row table per top-level document (None when it does
    not fit them: another JSON type, an unknown or repeated field, not JSON)."""
    try:
        return pajson.read_json(
            pa.BufferReader(body),
            read_options=pajson.ReadOptions(block_size=len(body) + 1, use_threads=False),
            parse_options=pajson.ParseOptions(
                explicit_schema=envelope, newlines_in_values=True, unexpected_field_behavior="error"
            ),
        )
    except pa.ArrowException:
        return None


def read_json_halves(
    body: bytes, envelope: pa.Schema, cut: re.Pattern[bytes], close: bytes, reopen: bytes
) -> list[pa.Table] | None:
    """A large body read as two documents at once: the first up to the first match of `cut` past the
    middle (its first character kept) followed by `close`, the second `reopen` followed by the rest (from
    the match's last character). The documents in order, or None when there is no cut or a half does not
    read as one document (the caller then reads the body whole)."""
    boundary = cut.search(body, len(body) // 2)
    if boundary is None:
        return None
    head = body[: boundary.start() + 1] + close
    tail = reopen + body[boundary.end() - 1 :]
    tail_read = _HALVES.submit(read_json_document, tail, envelope)
    halves = [read_json_document(head, envelope), tail_read.result()]
    if any(half is None or half.num_rows != 1 for half in halves):
        return None
    return [half for half in halves if half is not None]


def read_json_documents(
    body: bytes, envelope: pa.Schema, cut: re.Pattern[bytes], close: bytes, reopen: bytes
) -> list[pa.Table] | None:
    """The body as one document (a one-row table), or as two halves of it when it is large."""
    if len(body) >= SPLIT_MIN_BYTES:
        halves = read_json_halves(body, envelope, cut, close, reopen)
        if halves is not None:
            return halves
    whole = read_json_document(body, envelope)
    return [whole] if whole is not None and whole.num_rows == 1 else None


def names_outside_lists(body: bytes, key: bytes) -> bool:
    """Whether a body Arrow read as `{..., "<key>": [...] ...}` with one bracketed part holding all brackets
    names `key` before its first `[` or after its last `]`, where only top-level keys can be."""
    return key in body[: body.find(b"[")] or key in body[body.rfind(b"]") :]
