"""What the scoring and diagnostic routes accept, through HTTP on the real app: impossible records refused
one by one (the same on every reading path), the key and role checked before any body is read, and the
diagnostic's unknown codes answered without the submitted value."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS
from service import messages
from service.model_schemas import siret_valid, siret_valid_array
from service.validation import validate_records
from tests.service.conftest import Served, company_records, contract_records
from tests.service.records import HostCompany, luhn_siret

pytestmark = pytest.mark.slow
HOST = "/v1/apprenticeship-host/scores"
DROPOUT = "/v1/dropout-risk/scores"
SITE = "/v1/site-potential/diagnostics"

# Impossible values of the right JSON type, by field, with the error they must give (field, reason).
IMPOSSIBLE: list[tuple[dict[str, Any], str, str]] = [
    ({"siret": "73282932000075"}, "siret", messages.SIRET_KEY),
    ({"siret": "١٢٣٤٥٦٧٨٩٠١٢٣٤"}, "siret", messages.SIRET_SHAPE),  # Arabic-Indic digits
    ({"siret": "７３２８２９３２００００７４"}, "siret", messages.SIRET_SHAPE),  # full-width digits
    ({"naf_code": "99.99Z"}, "naf_code", messages.UNKNOWN_NAF),
    ({"naf_code": "٤٣.٢٢A"}, "naf_code", messages.NAF_SHAPE),
    ({"commune_code": "00000"}, "commune_code", messages.UNKNOWN_COMMUNE),
    ({"creation_date": "2024-06-02", "cutoff_date": "2024-06-01"}, "creation_date", ""),
    ({"creation_date": "2150-01-01", "cutoff_date": None}, "creation_date", ""),
]


def _impossible_batch(served: Served, n: int) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """`n` real companies with an impossible one every 7 records: the records and the field of each
    impossible record by index."""
    records = company_records(served.host_rows, n)
    wrong: dict[int, str] = {}
    for position in range(3, n, 7):
        change, field, _ = IMPOSSIBLE[(position // 7) % len(IMPOSSIBLE)]
        records[position] = {**records[position], **change}
        wrong[position] = field
    return records, wrong


def test_simulated_companies_and_contracts_are_possible_records(client: TestClient, served: Served) -> None:
    """The simulators write Luhn-valid SIRETs, known codes and dates in order: none of their records is
    refused by the new checks."""
    assert all(siret_valid(s) for s in served.host_rows["siret"])
    headers = {"X-API-Key": served.keys["agent"]}
    host = client.post(
        HOST, json={"companies": company_records(served.host_rows, 300), "explain": False}, headers=headers
    )
    assert host.status_code == 200 and host.json()["errors"] == [] and host.json()["scored"] == 300
    dropout = client.post(
        DROPOUT,
        json={"contracts": contract_records(served.dropout_rows, 300), "explain": False},
        headers=headers,
    )
    assert dropout.status_code == 200 and dropout.json()["errors"] == [] and dropout.json()["scored"] == 300


def test_impossible_companies_are_refused_one_by_one(client: TestClient, served: Served) -> None:
    records = company_records(served.host_rows, len(IMPOSSIBLE) + 2)
    for position, (change, _, _) in enumerate(IMPOSSIBLE, start=1):
        records[position] = {**records[position], **change}
    response = client.post(
        HOST, json={"companies": records, "explain": False}, headers={"X-API-Key": served.keys["agent"]}
    )
    assert response.status_code == 200
    body = response.json()
    assert [r["index"] for r in body["results"]] == [0, len(IMPOSSIBLE) + 1], "the others are scored"
    errors = body["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(i, f) for i, (_, f, _) in enumerate(IMPOSSIBLE, 1)]
    for error, (_, _, reason) in zip(errors, IMPOSSIBLE, strict=True):
        assert error["reason"] == reason or error["reason"].startswith("Date impossible")
    text = response.text
    for change, _, _ in IMPOSSIBLE:
        for value in change.values():
            if value is not None:
                assert value not in text, "an error never repeats the value"


def test_a_contract_ending_before_it_starts_is_refused(client: TestClient, served: Served) -> None:
    records = contract_records(served.dropout_rows, 3)
    records[1] = {**records[1], "planned_end": records[1]["contract_start"]}
    records[2] = {**records[2], "naf_code": "99.99Z"}
    response = client.post(
        DROPOUT, json={"contracts": records, "explain": False}, headers={"X-API-Key": served.keys["agent"]}
    )
    assert response.status_code == 200 and response.json()["scored"] == 1
    assert response.json()["errors"] == [
        {
            "index": 1,
            "field": "planned_end",
            "reason": "Date impossible : elle doit être postérieure à contract_start.",
        },
        {"index": 2, "field": "naf_code", "reason": messages.UNKNOWN_NAF},
    ]


def test_past_contracts_out_of_order_reject_the_request(client: TestClient, served: Served) -> None:
    companies = company_records(served.host_rows, 2)
    contracts = [
        {"siret": companies[0]["siret"], "contract_start": "2022-09-01", "planned_end": "2021-08-31"},
    ]
    response = client.post(
        HOST,
        json={"companies": companies, "contracts": contracts},
        headers={"X-API-Key": served.keys["agent"]},
    )
    assert response.status_code == 422 and response.json()["message"] == messages.INVALID_RELATED
    assert response.json()["details"][0]["field"] == "contracts[0].planned_end"


def _csv_body(records: list[dict[str, Any]]) -> bytes:
    frame = pd.DataFrame(records, columns=list(SNAPSHOT_COLUMNS))
    return frame.to_csv(index=False, sep=";").encode()


def test_impossible_records_give_the_same_errors_on_every_reading_path(
    client: TestClient, served: Served
) -> None:
    """Plain records (pydantic), a large list read by Arrow, the columns form and a CSV body: the same
    records scored and the same errors, those of the pydantic reference."""
    records, wrong = _impossible_batch(served, 1500)
    headers = {"X-API-Key": served.keys["agent"]}
    json_records = orjson.dumps({"companies": records, "explain": False})
    assert len(json_records) > 100_000, "large enough for the Arrow reader"
    columns = {name: [r.get(name) for r in records] for name in SNAPSHOT_COLUMNS}
    answers = {
        "plain": client.post(HOST, json={"companies": records[:60], "explain": False}, headers=headers),
        "arrow": client.post(
            HOST, content=json_records, headers={**headers, "Content-Type": "application/json"}
        ),
        "columns": client.post(HOST, json={"columns": columns, "explain": False}, headers=headers),
        "csv": client.post(HOST, content=_csv_body(records), headers={**headers, "Content-Type": "text/csv"}),
    }
    assert {path: a.status_code for path, a in answers.items()} == dict.fromkeys(answers, 200)
    valid, errors = validate_records(records, HostCompany)
    expected = [(e.index, e.field, e.reason) for e in errors]
    assert {(i, f) for i, f, _ in expected} == set(wrong.items())
    for path, answer in answers.items():
        body = answer.json()
        got = [(e["index"], e["field"], e["reason"]) for e in body["errors"]]
        if path == "plain":
            assert got == [e for e in expected if e[0] < 60]
            continue
        assert got == expected, path
        assert [r["index"] for r in body["results"]] == [i for i, _ in valid], path
    assert all(e["line"] == e["index"] + 2 for e in answers["csv"].json()["errors"]), (
        "a CSV row says its line"
    )


def test_the_siret_key_reads_the_same_per_value_and_per_column() -> None:
    import pyarrow as pa

    from models.contracts import luhn_valid

    rng = np.random.default_rng(5)
    values = [luhn_siret(rng) for _ in range(300)]
    values += [f"{int(rng.integers(10**13, 10**14)):014d}" for _ in range(300)]
    values += ["35600000049837", "35600000000048", "35600000049838", "١٢٣٤٥٦٧٨٩٠١٢٣٤", "123", ""]
    one = [siret_valid(v) for v in values]
    assert one == siret_valid_array(pa.array(values)).tolist()
    assert sum(one[:300]) == 300 and sum(one[300:600]) < 60
    assert one[:600] == luhn_valid(pd.Series(values[:600])).tolist(), "as the chamber files are checked"
    assert one[600:603] == [True, True, False], "La Poste: its establishments' rule, and its head office"


@pytest.mark.parametrize(
    ("route", "body", "content_type"),
    [
        (HOST, b"{not json", "application/json"),
        (HOST, b"\xff\xfe\x00", "text/csv"),
        (HOST.replace("scores", "scores.csv"), b"--x\r\nnot a form", "multipart/form-data; boundary=x"),
        (HOST.replace("scores", "scores.csv"), b"{}", "application/json"),
        ("/v1/models/apprenticeship_host/scores.csv", b"--x\r\n", "multipart/form-data; boundary=x"),
        (SITE, b"{not json", "application/json"),
        (SITE, b'{"naf_code": 1}', "application/json"),
    ],
)
def test_the_key_and_role_are_checked_before_the_body(
    client: TestClient, served: Served, route: str, body: bytes, content_type: str
) -> None:
    """An unparseable body answers 401 without a key and 403 with a key of another role, not 400/422."""
    other_role = served.keys["agent" if route == SITE else "advisor"]
    anonymous = client.post(route, content=body, headers={"Content-Type": content_type})
    assert anonymous.status_code == 401 and anonymous.json()["message"] == messages.MISSING_KEY
    forbidden = client.post(
        route, content=body, headers={"Content-Type": content_type, "X-API-Key": other_role}
    )
    assert forbidden.status_code == 403 and forbidden.json()["message"] == messages.FORBIDDEN
    own_role = served.keys["advisor" if route == SITE else "agent"]
    allowed = client.post(route, content=body, headers={"Content-Type": content_type, "X-API-Key": own_role})
    assert allowed.status_code in (400, 422), "with the right key, the body is judged"
    assert "detail" not in allowed.json() and allowed.json()["message"]


def test_the_upload_and_diagnostic_bodies_stay_documented(client: TestClient, served: Served) -> None:
    document = client.get("/openapi.json").json()
    upload = document["paths"]["/v1/apprenticeship-host/scores.csv"]["post"]["requestBody"]
    schema = upload["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"] and schema["properties"]["file"]["format"] == "binary"
    site = document["paths"][SITE]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(site["required"]) == {"naf_code", "commune_code"}


def test_an_upload_without_its_file_field_is_a_field_error(client: TestClient, served: Served) -> None:
    response = client.post(
        HOST.replace("scores", "scores.csv"),
        files={"other": ("x.csv", b"a\n1\n", "text/csv")},
        headers={"X-API-Key": served.keys["agent"]},
    )
    assert response.status_code == 422 and response.json()["details"][0]["field"] == "body.file"


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"naf_code": "99.99Z", "commune_code": "69384"}, "naf_code"),
        ({"naf_code": "96.02A", "commune_code": "00999"}, "commune_code"),
    ],
)
def test_the_diagnostic_never_echoes_an_unknown_code(
    client: TestClient, served: Served, given: dict[str, str], field: str
) -> None:
    response = client.post(SITE, json=given, headers={"X-API-Key": served.keys["advisor"]})
    assert response.status_code == 422 and response.json()["message"] == messages.UNKNOWN_CODE
    detail = response.json()["details"][0]
    assert detail["field"] == field and detail["suggestions"], "close reference codes are still offered"
    assert given[field] not in detail["reason"] and given[field] not in detail["suggestions"]
    assert given[field] not in response.text
