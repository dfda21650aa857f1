"""`.xlsx` workbooks under the one reading rule: read as the CSV export of their first sheet would be (typed
cells as the CSV's texts, formulas by their saved values), told from a CSV by their bytes; zip bombs, sheets
declaring far more cells than they hold and corrupt workbooks refused in French without any of their values;
generated tables written as workbooks read back as their CSV."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from catalog import tables
from catalog.tables import (
    XLSX_UNREADABLE,
    RaggedRow,
    TableReadError,
    normalize_values,
    read_text_rows,
    read_text_table,
)
from pipelines.io import read_raw_table, write_table
from pipelines.reference import DATA_SAMPLES

KINDS = {"d": "date", "x": "float", "n": "int", "t": "text"}
COMPANIES = DATA_SAMPLES / "apprenticeship_host" / "companies.csv"


def _workbook(rows: list[list[Any]]) -> bytes:
    """A workbook whose first sheet holds `rows` (openpyxl's own cell types, texts as text cells, as a
    spreadsheet keeps a text typed after `'`), and a second sheet (never read)."""
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for cell in (cell for line in sheet.iter_rows() for cell in line if isinstance(cell.value, str)):
        cell.data_type = "s"
    book.create_sheet("autre").append(["pas", "lue"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rewrite(raw: bytes, member: str, change: Callable[[bytes], bytes]) -> bytes:
    """The same zip with one member's bytes changed (or added)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(raw)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        names = source.namelist()
        for name in names:
            data = source.read(name)
            target.writestr(name, change(data) if name == member else data)
        if member not in names:
            target.writestr(member, change(b""))
    return out.getvalue()


def test_a_workbook_reads_as_its_csv_export() -> None:
    raw = _workbook(
        [
            [None, None],  # empty rows before the header are no rows
            [" d ", "x", "n", "t", "b"],
            [date(2019, 12, 3), 12.5, 7, " CAP ", True],
            [datetime(2019, 1, 5), 3.0, None, None, False],
            [None, None, None, None, None],  # an empty row: no row, as an empty line of a CSV
            ["03/12/2019", "12,5", "1e3", "=1+1", None],  # texts stay the texts they are
        ]
    )
    csv = b"d;x;n;t;b\n2019-12-03;12.5;7; CAP ;1\n2019-01-05;3;;;0\n03/12/2019;12,5;1e3;=1+1;\n"
    assert read_text_table(raw).equals(read_text_table(csv))
    assert normalize_values(read_text_table(raw), KINDS, raw).to_pydict() == {
        "d": ["2019-12-03", "2019-01-05", "2019-12-03"],
        "x": ["12.5", "3", "12.5"],
        "n": ["7", None, "1e3"],
        "t": ["CAP", None, "=1+1"],
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (date(2019, 12, 3), "2019-12-03"),
        (datetime(2020, 1, 2), "2020-01-02"),
        (datetime(2020, 1, 2, 10, 30), "2020-01-02T10:30:00"),
        (12.0, "12"),
        (-12.5, "-12.5"),
        (0.1 + 0.2, "0.3"),  # the 15 digits a spreadsheet keeps
        (1e-05, "0.00001"),
        (35600000049837, "35600000049837"),  # a SIRET typed as a number
        (35600000049837.0, "35600000049837"),
        (True, "1"),
        (False, "0"),
        ("", None),
        ("  ", "  "),
    ],
)
def test_typed_cells_read_as_the_text_a_csv_holds(value: Any, text: str | None) -> None:
    assert read_text_table(_workbook([["v", "w"], [value, "x"]])).to_pydict() == {"v": [text], "w": ["x"]}


def test_formulas_are_read_by_their_saved_value_never_evaluated() -> None:
    raw = _workbook([["a", "b"], ["x", "y"]])
    saved = b'<c r="A2" t="str"><f>CONCAT("a","b")</f><v>ab</v></c><c r="B2"><f>1+1</f></c>'

    def with_formulas(xml: bytes) -> bytes:
        return re.sub(rb'<c r="A2".*?</row>', saved + b"</row>", xml, count=1, flags=re.S)

    formulas = _rewrite(raw, "xl/worksheets/sheet1.xml", with_formulas)
    assert read_text_table(formulas).to_pydict() == {"a": ["ab"], "b": [None]}


def test_header_names_are_stripped_and_wider_rows_set_aside_as_in_a_csv() -> None:
    raw = _workbook(
        [
            [" a ", "b ", None],  # a trailing empty header cell names no column
            [1, 2, None, None],  # trailing empty cells are fine
            [3],  # a shorter row has empty cells
            [4, 5, None, 6],  # a value past the header's last column: ragged
            [7, 8],
        ]
    )
    rows = read_text_rows(raw)
    assert rows.ragged == [RaggedRow(position=2, fields=4)] and rows.positions() == [0, 1, 3]
    assert rows.table.to_pydict() == {"a": ["1", "3", "7"], "b": ["2", None, "8"]}
    with pytest.raises(TableReadError, match="ligne 4 compte 4 champs quand l'en-tête en nomme 2"):
        read_text_table(raw)
    with pytest.raises(TableReadError, match="répété"):
        read_text_rows(_workbook([["a", " a"], [1, 2]]))
    with pytest.raises(TableReadError, match="vide"):
        read_text_rows(_workbook([[None]]))


def test_the_byte_checks_of_normalize_values_are_not_taken_on_a_workbook() -> None:
    raw = _workbook(
        [["d", "x", "n", "t"], ["1/2/2020", " 1,5 ", "4,0", " a "], ["2020-02-01", None, " 2", "b"]]
    )
    table = read_text_table(raw)
    assert normalize_values(table, KINDS, raw).equals(normalize_values(table, KINDS))
    assert normalize_values(table, KINDS, raw).to_pydict() == {
        "d": ["2020-02-01", "2020-02-01"],
        "x": ["1.5", None],
        "n": ["4.0", "2"],
        "t": ["a", "b"],
    }


def test_the_cli_reads_a_workbook_by_its_bytes_as_it_reads_the_csv(tmp_path: Path) -> None:
    """The companies sample typed as a spreadsheet types it (SIRET numbers, dates), saved under a `.csv`
    name: the CLI's reader recognises the workbook and reads the same table as from the CSV."""
    frame = pd.read_csv(COMPANIES, dtype=str, keep_default_na=False)
    typed = frame.assign(
        siret=frame["siret"].astype("int64"),
        creation_date=pd.to_datetime(frame["creation_date"]),
        closure_date=pd.to_datetime(frame["closure_date"], errors="coerce"),
    )
    path = write_table(typed, tmp_path / "entreprises.xlsx")
    disguised = tmp_path / "entreprises.csv"
    disguised.write_bytes(path.read_bytes())
    for read in (read_raw_table(path), read_raw_table(disguised)):
        pd.testing.assert_frame_equal(read, read_raw_table(COMPANIES))


def test_generated_tables_written_as_workbooks_read_back_as_their_csv(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": ["=1+1", "@cmd", "-2+3", "#N/A"],
            "when": pd.to_datetime(["2020-01-02", None, "2021-03-04", "2022-05-06"]),
            "at": pd.to_datetime(
                ["2020-01-02 10:30", "2020-01-02", None, "2020-01-03 00:00:01"], format="ISO8601"
            ),
            "n": [1, 2, 3, 4],
            "x": [0.5, None, -1.25, 1e-05],
            "t": ["a", None, "b\x01c", ""],
        }
    )
    xlsx = read_raw_table(write_table(frame, tmp_path / "t.xlsx"))
    csv = read_raw_table(write_table(frame, tmp_path / "t.csv"))
    assert xlsx.columns.tolist() == csv.columns.tolist()
    assert xlsx["id"].tolist() == ["=1+1", "@cmd", "-2+3", "#N/A"]
    assert xlsx["when"].tolist() == csv["when"].tolist() == ["2020-01-02", "", "2021-03-04", "2022-05-06"]
    assert xlsx["at"].tolist() == ["2020-01-02T10:30:00", "2020-01-02", "", "2020-01-03T00:00:01"]
    assert xlsx["n"].tolist() == csv["n"].tolist()
    assert [float(v) if v else None for v in xlsx["x"]] == [float(v) if v else None for v in csv["x"]]
    assert xlsx["t"].tolist() == ["a", "", "b\ufffdc", ""], "a character a workbook cannot hold is replaced"
    sheet = load_workbook(tmp_path / "t.xlsx").active
    assert [cell.data_type for cell in sheet["A"]] == ["s"] * 5, "texts are text cells, never formulas"
    assert sheet["B2"].is_date and sheet["B2"].number_format == "yyyy-mm-dd"


def test_a_zip_bomb_is_refused_before_it_is_read() -> None:
    raw = _rewrite(_workbook([["a"], [1]]), "xl/media/bombe.bin", lambda _: b"\0" * 20_000_000)
    assert len(raw) < 200_000  # 20 MB of zeros in a few kB
    with pytest.raises(TableReadError, match="classeur refusé : décompressé"):
        read_text_rows(raw)
    assert normalize_values(read_text_table(_workbook([["a"], [1]])), {"a": "int"}).num_rows == 1


def test_a_workbook_past_the_absolute_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _workbook([["a"], [1]])
    monkeypatch.setattr(tables, "XLSX_MAX_UNPACKED", 1_000)
    with pytest.raises(TableReadError, match="classeur refusé"):
        read_text_rows(raw)


def test_a_sheet_declaring_far_more_cells_than_it_holds_is_read_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = _workbook([["a", "b"], [1, 2]])

    def huge(xml: bytes) -> bytes:
        return re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', xml)

    declared = _rewrite(raw, "xl/worksheets/sheet1.xml", huge)
    assert b"XFD1048576" in zipfile.ZipFile(io.BytesIO(declared)).read("xl/worksheets/sheet1.xml")
    assert read_text_table(declared).to_pydict() == {"a": ["1"], "b": ["2"]}

    far = _workbook([["a", "b"], *[[1, 2]] * 50])
    far = _rewrite(far, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b'r="B3"', b'r="ZZZ3"'))
    monkeypatch.setattr(tables, "XLSX_MAX_CELLS", 10_000)
    with pytest.raises(TableReadError, match="cellules"):
        read_text_rows(far)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda raw: raw[: len(raw) // 2],  # cut short
        lambda raw: b"PK\x03\x04 SECRET-4711 " + bytes(range(256)),  # a zip's magic, then garbage
        lambda raw: _rewrite(
            raw, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(b"</sheetData>", b"<c>SECRET-4711")
        ),
        lambda raw: _rewrite(raw, "xl/workbook.xml", lambda xml: b"<SECRET-4711"),
        lambda _: _rewrite(_workbook([["a"]]), "[Content_Types].xml", lambda xml: b"SECRET-4711"),
    ],
)
def test_a_corrupt_workbook_is_refused_in_french_without_its_values(
    corrupt: Callable[[bytes], bytes],
) -> None:
    raw = corrupt(_workbook([["a", "b"], ["SECRET-4711", 2]]))
    assert raw[:4] == b"PK\x03\x04"
    with pytest.raises(TableReadError) as err:
        read_text_rows(raw)
    assert str(err.value) == XLSX_UNREADABLE and "SECRET" not in str(err.value)
    with pytest.raises(TableReadError, match="pas un classeur Excel"):
        read_text_table(raw)


def test_a_zip_that_is_no_workbook_and_an_old_xls_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("SECRET-4711.txt", "a;b\n1;2\n")
    with pytest.raises(TableReadError, match="pas un classeur Excel") as err:
        read_text_rows(out.getvalue())
    assert "SECRET" not in str(err.value)
    with pytest.raises(TableReadError, match=r"\.xls"):
        read_text_rows(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
