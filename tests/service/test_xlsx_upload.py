""".xlsx uploads through HTTP on the real app: read as the CSV of the same rows, answered as a CSV by default
and as an `.xlsx` when asked (`Accept` or `?format=xlsx`) with the same rows, texts as text cells (never a
formula); a corrupt or oversized workbook refused with the JSON error contract; the same workbook for the
CLI's build-dataset and the API."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from catalog.tables import XLSX_UNREADABLE, write_xlsx
from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS
from pipelines.cli import app
from pipelines.io import write_table
from pipelines.reference import DATA_SAMPLES
from service import messages
from service.csv_io import XLSX_MEDIA_TYPE
from tests.service.conftest import Served, company_records, contract_records

pytestmark = pytest.mark.slow
HOST_CSV = "/v1/apprenticeship-host/scores.csv"
DROPOUT_CSV = "/v1/dropout-risk/scores.csv"
GENERIC_CSV = "/v1/models/apprenticeship_host/scores.csv"
DATES = ("creation_date", "cutoff_date", "prediction_date", "contract_start", "planned_end")
COMPANIES = DATA_SAMPLES / "apprenticeship_host" / "companies.csv"
CONTRACTS = DATA_SAMPLES / "apprenticeship_host" / "contracts.csv"


def _xlsx(records: list[dict[str, Any]], columns: list[str]) -> bytes:
    """The records as a spreadsheet holds them: dates as date cells, numbers as numbers, texts as text."""
    rows = [[date.fromisoformat(r[c]) if c in DATES and r[c] else r[c] for c in columns] for r in records]
    out = io.BytesIO()
    write_xlsx(out, columns, rows)
    return out.getvalue()


def _host(served: Served, n: int) -> list[dict[str, Any]]:
    records = company_records(served.host_rows, n)
    records[2]["commune_code"] = "ABC"  # one row error, at line 4
    return records


def _upload(
    client: TestClient,
    served: Served,
    route: str,
    raw: bytes,
    name: str = "export.xlsx",
    **kwargs: Any,
) -> Any:
    headers = {"X-API-Key": served.keys["agent"], **kwargs.pop("headers", {})}
    return client.post(
        route, files={"file": (name, raw, "application/octet-stream")}, headers=headers, **kwargs
    )


def _csv_answer(response: Any) -> pd.DataFrame:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    return _scores_only(pd.read_csv(io.StringIO(text), sep=";", dtype=str, keep_default_na=False))


def _scores_only(answer: pd.DataFrame) -> pd.DataFrame:
    """The answer without its prediction ids (new at each request): every scored row has one, the rows in
    error none."""
    ids = answer["identifiant_prediction"]
    assert ((ids != "") == (answer["erreur"] == "")).all()
    return answer.drop(columns="identifiant_prediction")


def _xlsx_answer(response: Any) -> pd.DataFrame:
    """The workbook answer as the CSV answer reads (every cell as its text, an empty cell "")."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    sheet = load_workbook(io.BytesIO(response.content)).active
    header, *rows = sheet.iter_rows(values_only=True)
    return _scores_only(
        pd.DataFrame([["" if v is None else str(v) for v in row] for row in rows], columns=list(header))
    )


def test_an_xlsx_upload_is_answered_as_the_csv_of_the_same_rows(client: TestClient, served: Served) -> None:
    records = _host(served, 6)
    columns = list(SNAPSHOT_COLUMNS)
    from_xlsx = _csv_answer(_upload(client, served, HOST_CSV, _xlsx(records, columns)))
    csv = pd.DataFrame(records, columns=columns).to_csv(index=False, sep=";").encode()
    from_csv = _csv_answer(_upload(client, served, HOST_CSV, csv, "export.csv"))
    pd.testing.assert_frame_equal(from_xlsx, from_csv)
    assert from_xlsx["ligne"].tolist() == ["2", "3", "4", "5", "6", "7"]
    assert from_xlsx.loc[2, "erreur"].startswith("commune_code") and from_xlsx.loc[0, "erreur"] == ""
    # The file's name says nothing: a workbook named `.csv` is read as a workbook.
    named_csv = _csv_answer(_upload(client, served, HOST_CSV, _xlsx(records, columns), "export.csv"))
    pd.testing.assert_frame_equal(named_csv, from_csv)


@pytest.mark.parametrize(
    ("route", "ask", "file_name"),
    [
        (HOST_CSV, {"headers": {"Accept": XLSX_MEDIA_TYPE}}, "scores_accueil_apprentis.xlsx"),
        (HOST_CSV, {"params": {"format": "xlsx"}}, "scores_accueil_apprentis.xlsx"),
        (
            GENERIC_CSV,
            {"headers": {"Accept": f"text/csv;q=0.5, {XLSX_MEDIA_TYPE}"}},
            "scores_apprenticeship_host.xlsx",
        ),
        (GENERIC_CSV, {"params": {"format": "xlsx", "explain": "true"}}, "scores_apprenticeship_host.xlsx"),
    ],
)
def test_an_xlsx_answer_when_asked_holds_the_rows_of_the_csv_answer(
    client: TestClient, served: Served, route: str, ask: dict[str, Any], file_name: str
) -> None:
    records = _host(served, 8)
    raw = _xlsx(records, list(SNAPSHOT_COLUMNS))
    explain = ask.get("params", {}).get("explain")
    csv = _csv_answer(_upload(client, served, route, raw, params={"explain": explain} if explain else None))
    response = _upload(client, served, route, raw, **ask)
    assert response.headers["content-disposition"] == f'attachment; filename="{file_name}"'
    answer = _xlsx_answer(response)
    assert answer.columns.tolist() == csv.columns.tolist()
    pd.testing.assert_frame_equal(answer, csv)
    sheet = load_workbook(io.BytesIO(response.content)).active
    probabilities = [
        row[csv.columns.get_loc("probabilite")] for row in sheet.iter_rows(min_row=2, values_only=True)
    ]
    assert [p for p in probabilities if p is not None] == [float(p) for p in csv["probabilite"] if p]
    assert all(isinstance(p, float) for p in probabilities if p is not None), "numbers stay numbers"
    last = csv.shape[1] + 1  # the prediction ids are a column of the workbook too
    assert sheet.cell(row=4, column=1).value == 4 and sheet.cell(row=4, column=last).data_type == "s"


@pytest.mark.parametrize(
    "ask",
    [
        {},
        {"params": {"format": "csv"}, "headers": {"Accept": XLSX_MEDIA_TYPE}},
        {"headers": {"Accept": "*/*"}},
    ],
)
def test_the_answer_stays_a_csv_unless_asked(client: TestClient, served: Served, ask: dict[str, Any]) -> None:
    raw = _xlsx(_host(served, 3), list(SNAPSHOT_COLUMNS))
    response = _upload(client, served, HOST_CSV, raw, **ask)
    assert response.headers["content-disposition"] == 'attachment; filename="scores_accueil_apprentis.csv"'
    assert len(_csv_answer(response)) == 3


def test_formula_like_texts_come_back_as_text_cells(client: TestClient, served: Served) -> None:
    records = contract_records(served.dropout_rows, 5)
    for record, name in zip(records, ["=1+1", "@cmd", "-2+3", "+CTR", "CTR-1"], strict=True):
        record["contract_id"] = name
    raw = _xlsx(records, list(records[0]))
    sheet = load_workbook(io.BytesIO(raw)).active
    assert sheet["A2"].value == "=1+1" and sheet["A2"].data_type == "s", (
        "the upload holds the text, no formula"
    )
    response = _upload(client, served, DROPOUT_CSV, raw, params={"format": "xlsx"})
    assert response.headers["content-disposition"] == 'attachment; filename="risques_rupture.xlsx"'
    answer = load_workbook(io.BytesIO(response.content)).active
    cells = [cell for row in answer.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"], "no formula in the answer"
    contracts = [cell for cell in answer["B"]]
    assert [c.value for c in contracts] == ["contrat", "'=1+1", "'@cmd", "'-2+3", "'+CTR", "CTR-1"]
    assert {c.data_type for c in contracts} == {"s"}
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")


def test_a_corrupt_workbook_is_a_422_with_the_json_error_contract(client: TestClient, served: Served) -> None:
    good = _xlsx(_host(served, 3), list(SNAPSHOT_COLUMNS))
    for raw in (good[: len(good) // 2], b"PK\x03\x04 SECRET-4711 " + bytes(range(256))):
        for ask in ({}, {"params": {"format": "xlsx"}}, {"headers": {"Accept": XLSX_MEDIA_TYPE}}):
            response = _upload(client, served, HOST_CSV, raw, **ask)
            assert response.status_code == 422 and response.headers["content-type"] == "application/json"
            assert response.json()["message"] == messages.BAD_XLSX
            assert response.json()["details"] == [{"field": "(fichier)", "reason": XLSX_UNREADABLE}]
            assert "SECRET" not in response.text


def test_a_zip_bomb_and_an_empty_sheet_are_refused_with_their_reason(
    client: TestClient, served: Served
) -> None:
    out = io.BytesIO()
    workbook = io.BytesIO(_xlsx(_host(served, 3), list(SNAPSHOT_COLUMNS)))
    with zipfile.ZipFile(workbook) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for name in source.namelist():
            bomb.writestr(name, source.read(name))
        bomb.writestr("xl/media/bombe.bin", b"\0" * 30_000_000)
    response = _upload(client, served, HOST_CSV, out.getvalue())
    assert response.status_code == 422 and response.json()["message"] == messages.BAD_XLSX
    assert response.json()["details"][0]["reason"].startswith("classeur refusé : décompressé")

    header_only = io.BytesIO()
    write_xlsx(header_only, list(SNAPSHOT_COLUMNS), [])
    response = _upload(client, served, HOST_CSV, header_only.getvalue())
    assert response.status_code == 422
    assert response.json()["details"] == [{"field": "(fichier)", "reason": messages.CSV_NO_ROWS}]


def test_an_unknown_format_is_a_field_error(client: TestClient, served: Served) -> None:
    raw = _xlsx(_host(served, 3), list(SNAPSHOT_COLUMNS))
    response = _upload(client, served, HOST_CSV, raw, params={"format": "ods"})
    assert response.status_code == 422 and response.json()["message"] == messages.INVALID_REQUEST
    assert response.json()["details"][0]["field"] == "query.format"


def test_the_upload_routes_document_the_workbooks(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path in (HOST_CSV, DROPOUT_CSV, "/v1/models/{name}/scores.csv"):
        post = document["paths"][path]["post"]
        file = post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["file"]
        assert ".xlsx" in file["description"]
        (answer_format,) = [p for p in post["parameters"] if p["name"] == "format"]
        assert answer_format["in"] == "query" and XLSX_MEDIA_TYPE in answer_format["description"]
        assert set(post["responses"]["200"]["content"]) == {"text/csv", XLSX_MEDIA_TYPE}


def test_the_same_workbook_for_build_dataset_and_the_api(
    client: TestClient, served: Served, tmp_path: Path
) -> None:
    """The samples as a spreadsheet saves them (SIRET numbers, date cells): `build-dataset` reads them as it
    reads the CSVs, and the API scores the companies' workbook as the CSV."""

    def typed(source: Path, target: Path) -> Path:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        for column in frame.columns:
            if column.endswith("_date") or column in ("contract_start", "planned_end"):
                frame[column] = pd.to_datetime(frame[column], errors="coerce")
        return write_table(frame.assign(siret=frame["siret"].astype("int64")), target)

    companies = typed(COMPANIES, tmp_path / "entreprises.xlsx")
    contracts = typed(CONTRACTS, tmp_path / "contrats.xlsx")
    n = len(pd.read_csv(COMPANIES))
    built = CliRunner().invoke(
        app,
        [
            "build-dataset",
            *("--companies", str(companies), "--contracts", str(contracts)),
            *("--cutoff", "2024-01-01", "--out", str(tmp_path / "d.parquet")),
        ],
    )
    assert built.exit_code == 0, built.output
    assert f"entreprises.xlsx: {n} rows read, {n} valid, 0 quarantined" in built.output
    from_csv = CliRunner().invoke(
        app,
        [
            "build-dataset",
            *("--companies", str(COMPANIES), "--contracts", str(CONTRACTS)),
            *("--cutoff", "2024-01-01", "--out", str(tmp_path / "c.parquet")),
        ],
    )
    assert from_csv.exit_code == 0, from_csv.output
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "d.parquet"), pd.read_parquet(tmp_path / "c.parquet")
    )

    answer = _csv_answer(_upload(client, served, HOST_CSV, companies.read_bytes()))
    plain = _csv_answer(_upload(client, served, HOST_CSV, COMPANIES.read_bytes(), "entreprises.csv"))
    assert len(answer) == n and (answer["erreur"] == "").all()
    pd.testing.assert_frame_equal(answer, plain)
