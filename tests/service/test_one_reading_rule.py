"""One reading rule for the chambers' tabular exports: the same files (tab or `;` separators, BOM, CRLF,
header names with stray spaces, French dates, decimal commas) go through `build-dataset`, `train-extract`'s
reader and the API's `.csv` routes with the same outcome."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from catalog.tables import read_text_table
from pipelines.cli import app
from pipelines.io import read_raw_table
from pipelines.reference import DATA_SAMPLES
from tests.service.conftest import Served

pytestmark = pytest.mark.slow
COMPANIES = DATA_SAMPLES / "apprenticeship_host" / "companies.csv"
CONTRACTS = DATA_SAMPLES / "apprenticeship_host" / "contracts.csv"


def _french_export(source: Path, target: Path, sep: str) -> Path:
    """The file as a French spreadsheet exports it: BOM, CRLF, `sep`, spaces around the header names,
    dates DD/MM/YYYY."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    for column in frame.columns:
        if column.endswith("_date") or column in ("contract_start", "planned_end"):
            dates = pd.to_datetime(frame[column], errors="coerce")
            frame[column] = dates.dt.strftime("%d/%m/%Y").fillna("")
    frame.columns = [f" {c} " for c in frame.columns]
    text = frame.to_csv(index=False, sep=sep, lineterminator="\r\n")
    target.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return target


@pytest.mark.parametrize("sep", ["\t", ";"])
def test_the_same_company_file_for_build_dataset_and_the_api(
    client: TestClient, served: Served, tmp_path: Path, sep: str
) -> None:
    companies = _french_export(COMPANIES, tmp_path / "entreprises.csv", sep)
    contracts = _french_export(CONTRACTS, tmp_path / "contrats.csv", sep)
    n = len(pd.read_csv(COMPANIES))

    built = CliRunner().invoke(
        app,
        [
            "build-dataset",
            "--companies",
            str(companies),
            "--contracts",
            str(contracts),
            "--cutoff",
            "2024-01-01",
            "--out",
            str(tmp_path / "d.parquet"),
        ],
    )
    assert built.exit_code == 0, built.output
    assert f"entreprises.csv: {n} rows read, {n} valid, 0 quarantined" in built.output

    headers = {"X-API-Key": served.keys["agent"]}
    upload = client.post(
        "/v1/apprenticeship-host/scores.csv",
        files={"file": ("entreprises.csv", companies.read_bytes(), "text/csv")},
        headers=headers,
    )
    assert upload.status_code == 200, upload.text
    answer = pd.read_csv(
        io.StringIO(upload.content.decode("utf-8-sig")), sep=";", dtype=str, keep_default_na=False
    )
    assert len(answer) == n and (answer["erreur"] == "").all(), answer.loc[
        answer["erreur"] != "", "erreur"
    ].head()
    body = client.post(
        "/v1/apprenticeship-host/scores",
        content=companies.read_bytes(),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert body.status_code == 200 and body.json()["scored"] == n

    # The same rows in the plain form (ISO dates, `,`) score the same.
    plain = client.post(
        "/v1/apprenticeship-host/scores",
        content=COMPANIES.read_bytes(),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert [r["probability"] for r in plain.json()["results"]] == [
        r["probability"] for r in body.json()["results"]
    ]


def test_the_cli_and_the_api_read_a_file_into_the_same_table(tmp_path: Path) -> None:
    export = _french_export(COMPANIES, tmp_path / "e.csv", "\t")
    table = read_text_table(export.read_bytes())
    frame = read_raw_table(export)
    assert list(frame.columns) == table.column_names == list(pd.read_csv(COMPANIES, nrows=0).columns)
    assert frame.to_numpy().tolist() == table.to_pandas().fillna("").to_numpy().tolist()
