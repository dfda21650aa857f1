"""Large JSON bodies read in two halves: a cut is kept only between two items, and the items stay in order."""

from __future__ import annotations

import re

import orjson
import pyarrow as pa

from service.arrow_json import read_json_documents, read_json_halves

ENVELOPE = pa.schema([("items", pa.list_(pa.struct([("name", pa.string()), ("n", pa.int64())])))])
BETWEEN_ITEMS = re.compile(rb"\}\s*,\s*\{")


def _names(documents: list[pa.Table]) -> list[str]:
    return [item["name"] for d in documents for item in d.column("items")[0].as_py()]


def test_halves_hold_every_item_in_order() -> None:
    items = [{"name": f"item {i} {{]}} [", "n": i} for i in range(40_000)]
    body = orjson.dumps({"items": items}, option=orjson.OPT_INDENT_2)
    halves = read_json_halves(body, ENVELOPE, BETWEEN_ITEMS, b"]}", b'{"items":[')
    assert halves is not None and len(halves) == 2
    assert _names(halves) == [item["name"] for item in items]


def test_a_cut_inside_a_text_is_refused_and_the_body_read_whole() -> None:
    """The first `},{` past the middle lies inside a text: the halves are refused, the body is read whole."""
    items = [{"name": "a", "n": 1}, {"name": "b" * 2_000_000 + "},{", "n": 2}, {"name": "c", "n": 3}]
    body = orjson.dumps({"items": items})
    assert read_json_halves(body, ENVELOPE, BETWEEN_ITEMS, b"]}", b'{"items":[') is None
    documents = read_json_documents(body, ENVELOPE, BETWEEN_ITEMS, b"]}", b'{"items":[')
    assert documents is not None and _names(documents) == [item["name"] for item in items]


def test_bodies_that_do_not_fit_are_refused() -> None:
    good = orjson.dumps({"items": [{"name": "x", "n": i} for i in range(60_000)]})
    assert read_json_documents(good, ENVELOPE, BETWEEN_ITEMS, b"]}", b'{"items":[') is not None
    for bad in (
        good.replace(b'"n":5}', b'"n":"5"}', 1),  # another JSON type, in the first half
        good.replace(b'"n":59000}', b'"n":59000.0}', 1),  # another JSON type, in the second half
        good.replace(b'"n":5}', b'"n":5,"other":1}', 1),  # an unknown field
        good + good,  # two documents
        good[:-2],  # truncated
    ):
        assert bad != good
        assert read_json_documents(bad, ENVELOPE, BETWEEN_ITEMS, b"]}", b'{"items":[') is None
