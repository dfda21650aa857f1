"""Ragged rows of an export: set aside with their position (counted as a spreadsheet counts rows) instead
of making the whole file unreadable; a file that cannot be read at all says why, without its values."""

from __future__ import annotations

import pytest

from catalog.tables import RaggedRow, TableReadError, read_text_rows, read_text_table


def test_ragged_rows_are_set_aside_with_their_positions() -> None:
    raw = b'a;b;c\n1;2;3\n4;5\n"x\ny";8;9\n6;7;8;9\n\n1;2;\n'
    rows = read_text_rows(raw)
    assert rows.ragged == [RaggedRow(position=1, fields=2), RaggedRow(position=3, fields=4)]
    assert rows.positions() == [0, 2, 4] and rows.count == 5
    assert rows.table.to_pydict() == {"a": ["1", "x\ny", "1"], "b": ["2", "8", "2"], "c": ["3", "9", None]}


def test_a_file_without_ragged_rows_reads_as_before() -> None:
    raw = b"a,b\n1,2\n3,\n"
    rows = read_text_rows(raw)
    assert not rows.ragged and rows.table.equals(read_text_table(raw))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe\x00", "UTF-8"),
        (b"", "en-tête"),
        (b"a;a\n1;2\n", "répété"),
        (b"a;b\n\x00;1\n", "octets nuls"),
    ],
)
def test_unreadable_files_say_why_in_french(raw: bytes, reason: str) -> None:
    with pytest.raises(TableReadError, match=reason):
        read_text_rows(raw)


def test_the_strict_reading_still_refuses_a_ragged_row_with_its_line() -> None:
    with pytest.raises(TableReadError, match="ligne 3 compte 3 champs") as err:
        read_text_table(b"a;b\n1;2\nsecret;4;5\n")
    assert "secret" not in str(err.value)
