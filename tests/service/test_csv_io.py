"""CSV bodies and uploads through HTTP on the real app: answers safe to open in a spreadsheet, errors that
name the line and the reason, a ragged row quarantined instead of the whole file refused, a file over the
row limit told by how much."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS
from service import messages
from tests.service.conftest import Served, company_records, contract_records

pytestmark = pytest.mark.slow
HOST = "/v1/apprenticeship-host/scores"
HOST_CSV = "/v1/apprenticeship-host/scores.csv"
DROPOUT_CSV = "/v1/dropout-risk/scores.csv"


def _upload(client: TestClient, served: Served, route: str, raw: bytes) -> Any:
    return client.post(
        route, files={"file": ("export.csv", raw, "text/csv")}, headers={"X-API-Key": served.keys["agent"]}
    )


def _answer(response: Any) -> pd.DataFrame:
    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8-sig")
    return pd.read_csv(io.StringIO(text), sep=";", dtype=str, keep_default_na=False)


def _host_csv(served: Served, n: int) -> list[str]:
    frame = pd.DataFrame(company_records(served.host_rows, n), columns=list(SNAPSHOT_COLUMNS))
    return frame.to_csv(index=False, sep=";").splitlines()


def test_cells_a_spreadsheet_would_run_are_written_as_text(client: TestClient, served: Served) -> None:
    records = contract_records(served.dropout_rows, 4)
    for record, name in zip(records, ["=1+1", "@cmd", "-2+3", "CTR-1"], strict=True):
        record["contract_id"] = name
    raw = pd.DataFrame(records).to_csv(index=False, sep=";").encode()
    out = _answer(_upload(client, served, DROPOUT_CSV, raw))
    assert out["contrat"].tolist() == ["'=1+1", "'@cmd", "'-2+3", "CTR-1"]
    assert all(float(p) == float(p) for p in out["probabilite"]), "numbers stay numbers"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in out.to_numpy().ravel() if cell)


def test_a_ragged_row_is_quarantined_at_its_line(client: TestClient, served: Served) -> None:
    lines = _host_csv(served, 5)
    lines[2] += ";extra"  # line 3: one field too many
    lines[4] = lines[4].rsplit(";", 2)[0]  # line 5: two too few
    raw = ("\n".join(lines) + "\n").encode()
    out = _answer(_upload(client, served, HOST_CSV, raw))
    assert out["ligne"].tolist() == ["2", "3", "4", "5", "6"]
    fields = len(lines[0].split(";"))
    assert out.loc[1, "erreur"] == "(ligne): " + messages.CSV_RAGGED.format(
        fields=fields + 1, expected=fields
    )
    assert out.loc[3, "erreur"] == "(ligne): " + messages.CSV_RAGGED.format(
        fields=fields - 2, expected=fields
    )
    assert (out.loc[[0, 2, 4], "erreur"] == "").all() and (out.loc[[0, 2, 4], "probabilite"] != "").all()
    body = client.post(
        HOST, content=raw, headers={"X-API-Key": served.keys["agent"], "Content-Type": "text/csv"}
    )
    assert body.status_code == 200 and body.json()["scored"] == 3
    assert [(e["index"], e["line"], e["field"]) for e in body.json()["errors"]] == [
        (1, 3, "(ligne)"),
        (3, 5, "(ligne)"),
    ]
    assert [r["index"] for r in body.json()["results"]] == [0, 2, 4]


def test_a_row_error_names_its_line_and_reason(client: TestClient, served: Served) -> None:
    lines = _host_csv(served, 3)
    cells = lines[3].split(";")
    cells[list(SNAPSHOT_COLUMNS).index("naf_code")] = "99.99Z"
    lines[3] = ";".join(cells)
    raw = ("\n".join(lines) + "\n").encode()
    out = _answer(_upload(client, served, HOST_CSV, raw))
    assert out.loc[2, "ligne"] == "4" and out.loc[2, "erreur"] == f"naf_code: {messages.UNKNOWN_NAF}"
    body = client.post(
        HOST, content=raw, headers={"X-API-Key": served.keys["agent"], "Content-Type": "text/csv"}
    )
    assert body.json()["errors"] == [
        {"index": 2, "field": "naf_code", "reason": messages.UNKNOWN_NAF, "line": 4}
    ]


@pytest.mark.parametrize("route", [HOST_CSV, HOST])
def test_a_file_over_the_row_limit_is_told_by_how_much(
    client: TestClient, served: Served, route: str
) -> None:
    lines = _host_csv(served, 1)
    raw = ("\n".join([lines[0], *[lines[1]] * 10_250]) + "\n").encode()
    if route == HOST_CSV:
        response = _upload(client, served, route, raw)
    else:
        response = client.post(
            route, content=raw, headers={"X-API-Key": served.keys["agent"], "Content-Type": "text/csv"}
        )
    assert response.status_code == 413
    assert response.json()["message"] == messages.CSV_TOO_MANY_ROWS.format(
        rows="10\u202f250", limit="10\u202f000", over="250"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe\x00\x00", "le fichier n'est pas du texte UTF-8"),
        (
            b"siret;naf_code\n\x00\x01\x02;\x03\n",
            "le fichier contient des octets nuls : ce n'est pas un fichier texte",
        ),
        (b"\n1;2\n", "la première ligne (l'en-tête des colonnes) est vide"),
        (b"siret;siret\n1;2\n", "un nom de colonne est répété dans l'en-tête"),
        (b"siret;naf_code\n", messages.CSV_NO_ROWS),
    ],
)
def test_an_unreadable_file_gets_bad_csv_with_its_reason(
    client: TestClient, served: Served, raw: bytes, reason: str
) -> None:
    for response in (
        _upload(client, served, HOST_CSV, raw),
        client.post(
            HOST, content=raw, headers={"X-API-Key": served.keys["agent"], "Content-Type": "text/csv"}
        ),
    ):
        assert response.status_code == 422
        assert response.json()["message"] == messages.BAD_CSV
        assert response.json()["details"] == [{"field": "(fichier)", "reason": reason}]
