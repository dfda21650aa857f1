"""The reading rule of tabular exports: separators, BOM, CRLF, spaced headers, French dates, decimal
commas; the byte checks that skip a rewrite never change what is read."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from catalog.tables import TableReadError, normalize_values, read_text_table

KINDS = {"d": "date", "x": "float", "n": "int", "t": "text"}


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_exports_read_the_same_whatever_their_separator(sep: str) -> None:
    rows = [
        ["d", " x ", "t"],
        ["03/12/2019", "12,5" if sep != "," else '"12,5"', " CAP "],
        ["2019-01-05", "7", ""],
    ]
    raw = ("\ufeff" + "\r\n".join(sep.join(r) for r in rows) + "\r\n").encode("utf-8")
    table = normalize_values(read_text_table(raw), KINDS, raw)
    assert table.to_pydict() == {"d": ["2019-12-03", "2019-01-05"], "x": ["12.5", "7"], "t": ["CAP", None]}


def test_the_byte_checks_never_change_what_is_read() -> None:
    rng = np.random.default_rng(3)
    cells = {
        "d": ["2020-02-01", "1/2/2020", " 2020-02-01", "", "12/31/2020"],
        "x": ["1.5", "1,5", "-0,25", ",5", " 3 ", ""],
        "n": ["1", " 2", "3 ", "4,0", ""],
        "t": ["a", " b", "c ", "d e", ""],
    }
    for sep in (",", ";", "\t"):
        for _ in range(200):
            lines = [sep.join(KINDS)]
            for _ in range(int(rng.integers(1, 6))):
                values = [str(rng.choice(cells[c])) for c in KINDS]
                lines.append(sep.join(f'"{v}"' if sep in v else v for v in values))
            raw = ("\n".join(lines) + "\n").encode()
            table = read_text_table(raw)
            assert normalize_values(table, KINDS, raw).equals(normalize_values(table, KINDS)), raw


def test_unreadable_bodies_are_refused() -> None:
    for raw in (b"\xff\xfe\x00", b"", b"a;a\n1;2\n", b"a;b\n1;2;3\n"):
        with pytest.raises(TableReadError):
            read_text_table(raw)
    assert read_text_table(b"a\n").num_rows == 0
    assert isinstance(read_text_table(b"a;b\n1;2\n")["a"].type, pa.DataType)
