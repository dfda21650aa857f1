"""The scoring API with real champions from a real MLflow registry: every route and every error path."""

from __future__ import annotations

import io
import sqlite3
import typing

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from models.contracts import (
    DIPLOMAS,
    HEAD_QUALIFICATIONS,
    HEADCOUNT_BANDS,
    LEGAL_CATEGORIES,
    PRIOR_QUALIFICATIONS,
)
from service import messages
from service.app import create_app
from service.keys import KeyStore
from tests.service.conftest import Served, company_records, contract_records, scores_only

pytestmark = pytest.mark.slow
HOST = "/v1/apprenticeship-host/scores"
DROPOUT = "/v1/dropout-risk/scores"
SITE = "/v1/site-potential/diagnostics"


def test_record_schemas_are_derived_from_the_models_contracts() -> None:
    from models.apprenticeship_host.model import HOST_INPUT
    from models.dropout_risk.features import dropout_input
    from service.model_schemas import record_schema

    host, dropout = record_schema(HOST_INPUT, "Host"), record_schema(dropout_input(6), "Dropout")
    for schema, field, vocabulary in (
        (host, "headcount_band", HEADCOUNT_BANDS),
        (host, "legal_category", LEGAL_CATEGORIES),
        (host, "head_qualification", HEAD_QUALIFICATIONS),
        (dropout, "diploma", DIPLOMAS),
        (dropout, "prior_qualification", PRIOR_QUALIFICATIONS),
    ):
        annotation = schema.model_fields[field].annotation
        allowed = {
            a for arg in typing.get_args(annotation) or (annotation,) for a in typing.get_args(arg) or (arg,)
        }
        assert set(vocabulary) <= allowed and allowed - set(vocabulary) <= {type(None)}


def test_health_is_open_and_ready_needs_a_key(client: TestClient, served: Served) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 401
    ready = client.get("/ready", headers={"X-API-Key": served.keys["agent"]}).json()
    assert ready["ready"] is True and ready["models"]["apprenticeship_host"] == "1"


def test_host_scores_with_reasons(client: TestClient, served: Served) -> None:
    records = company_records(served.host_rows, 5)
    response = client.post(HOST, json={"companies": records}, headers={"X-API-Key": served.keys["agent"]})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "apprenticeship_host" and body["version"] == "1" and body["scored"] == 5
    for result, record in zip(body["results"], records, strict=True):
        assert result["siret"] == record["siret"]
        assert 0 < result["probability"] < 1 and 0 <= result["percentile"] <= 100
        assert len(result["reasons"]) == 3
        assert any(w in result["reasons"][0] for w in ("augmente", "diminue"))


def test_fast_and_batch_paths_agree_through_the_api(client: TestClient, served: Served) -> None:
    """Small requests (pydantic + dict look-ups) and large ones (column-wise, as objects or as columns) give
    the very same scores."""
    records = company_records(served.host_rows, 1500)
    for record in records[::3]:
        record.pop("cutoff_date")  # scored as of today, on both paths
    headers = {"X-API-Key": served.keys["agent"]}
    batch = client.post(HOST, json={"companies": records, "explain": False}, headers=headers).json()
    columns = {name: [r.get(name) for r in records] for name in records[1]}
    by_columns = client.post(HOST, json={"columns": columns, "explain": False}, headers=headers).json()
    assert batch["scored"] == by_columns["scored"] == 1500
    assert [r["probability"] for r in batch["results"]] == [r["probability"] for r in by_columns["results"]]
    names = list(records[1])
    lines = [";".join(names)] + [
        ";".join("" if r.get(n) is None else str(r[n]) for n in names) for r in records
    ]
    csv_headers = {**headers, "Content-Type": "text/csv"}
    by_csv = client.post(HOST, content="\n".join(lines).encode("utf-8-sig"), headers=csv_headers).json()
    assert [r["probability"] for r in by_csv["results"]] == [r["probability"] for r in batch["results"]]
    small_csv = client.post(HOST, content="\n".join(lines[:11]).encode(), headers=csv_headers).json()
    assert [r["probability"] for r in small_csv["results"]] == [
        r["probability"] for r in batch["results"][:10]
    ]
    singles = [
        client.post(HOST, json={"companies": [r], "explain": False}, headers=headers).json()["results"][0]
        for r in records[:60]
    ]
    for one, many in zip(singles, batch["results"][:60], strict=True):
        assert one["probability"] == many["probability"] and one["percentile"] == many["percentile"]


def test_partial_batch_reports_invalid_records_without_their_values(
    client: TestClient, served: Served
) -> None:
    records = company_records(served.host_rows, 4)
    records[1] = {**records[1], "naf_code": "SECRET-NAF"}
    records[3] = {**records[3], "headcount_band": "trois", "contracts_last_12m": -2}
    response = client.post(HOST, json={"companies": records}, headers={"X-API-Key": served.keys["agent"]})
    assert response.status_code == 200
    body = response.json()
    assert [r["index"] for r in body["results"]] == [0, 2]
    assert {(e["index"], e["field"]) for e in body["errors"]} == {
        (1, "naf_code"),
        (3, "headcount_band"),
        (3, "contracts_last_12m"),
    }
    assert body["rejected"] == 2
    assert "SECRET-NAF" not in response.text and "trois" not in response.text


def test_large_partial_batch_of_objects(client: TestClient, served: Served) -> None:
    """A large list of objects (read by Arrow) with a few invalid records: those reported by index and field
    as pydantic words it (an explicit null is not an absent field), the others scored."""
    records = company_records(served.host_rows, 1200)
    records[5] = {**records[5], "siret": "123"}
    records[700] = {**records[700], "contracts_total": None}
    records[1100] = {k: v for k, v in records[1100].items() if k != "naf_code"}
    records[1101] = {k: v for k, v in records[1101].items() if k != "contracts_total"}  # absent: default 0
    response = client.post(
        HOST, json={"companies": records, "explain": False}, headers={"X-API-Key": served.keys["agent"]}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["scored"] == 1197 and body["rejected"] == 3
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (5, "siret"),
        (700, "contracts_total"),
        (1100, "naf_code"),
    ]
    assert [r["index"] for r in body["results"]] == [i for i in range(1200) if i not in (5, 700, 1100)]


def test_batch_without_valid_record_is_422(client: TestClient, served: Served) -> None:
    bad = [{"siret": "123"}]
    response = client.post(HOST, json={"companies": bad}, headers={"X-API-Key": served.keys["agent"]})
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == messages.NO_VALID_RECORD
    assert {d["field"] for d in body["details"]} >= {"siret", "naf_code"}


def test_malformed_request_is_422_with_field_path(client: TestClient, served: Served) -> None:
    response = client.post(
        HOST, json={"companies": "nope", "explain": "maybe"}, headers={"X-API-Key": served.keys["agent"]}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == messages.INVALID_REQUEST
    assert {d["field"] for d in body["details"]} == {"body.companies", "body.explain"}
    assert "maybe" not in response.text


@pytest.mark.parametrize("key", [None, "cma_wrong", "not-a-key"])
def test_401_without_a_valid_key(client: TestClient, served: Served, key: str | None) -> None:
    headers = {"X-API-Key": key} if key else {}
    response = client.post(HOST, json={"companies": company_records(served.host_rows, 1)}, headers=headers)
    assert response.status_code == 401 and response.json()["message"] == messages.MISSING_KEY


def test_key_revoked_from_another_process_stops_working(
    client: TestClient, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI revokes in its own process: the running service must not keep trusting its cached copy."""
    monkeypatch.setattr("service.keys.CACHE_SECONDS", 0.0)
    store = KeyStore(served.settings.keys_path())  # as the CLI would open it
    key, record = store.create("agent", "CMA revoked")
    assert client.get("/ready", headers={"X-API-Key": key}).status_code == 200
    store.revoke(record.key_id)
    assert client.get("/ready", headers={"X-API-Key": key}).status_code == 401


@pytest.mark.parametrize(
    ("role", "method", "path"),
    [
        ("advisor", "post", HOST),
        ("advisor", "post", DROPOUT),
        ("agent", "post", SITE),
        ("agent", "post", "/v1/admin/models/reload"),
        ("agent", "get", "/metrics"),
    ],
)
def test_403_for_the_wrong_role(
    client: TestClient, served: Served, role: str, method: str, path: str
) -> None:
    response = client.request(method, path, json={}, headers={"X-API-Key": served.keys[role]})
    assert response.status_code == 403 and response.json()["message"] == messages.FORBIDDEN


def test_429_with_retry_after(served: Served) -> None:
    settings = served.settings.model_copy(update={"rate_limit_per_minute": 3})
    with TestClient(create_app(settings)) as limited:
        headers = {"X-API-Key": served.keys["agent"]}
        codes = [limited.get("/ready", headers=headers).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        response = limited.get("/ready", headers=headers)
        assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
        assert response.json()["message"] == messages.RATE_LIMITED


def test_dropout_scores_bands_and_actions(client: TestClient, served: Served) -> None:
    records = contract_records(served.dropout_rows, 50)
    response = client.post(
        DROPOUT, json={"contracts": records, "explain": False}, headers={"X-API-Key": served.keys["agent"]}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 50 and all(r["reasons"] == [] for r in results)
    for result in results:
        assert result["risk_band"] in {"faible", "modéré", "élevé"} and result["ppr_actions"]


def test_csv_upload_returns_a_csv_with_line_errors(client: TestClient, served: Served) -> None:
    records = company_records(served.host_rows, 3)
    frame = pd.DataFrame(records)
    frame.loc[2, "commune_code"] = "ABC"
    text = "\ufeff" + frame.to_csv(index=False, sep=";")
    response = client.post(
        HOST.replace("scores", "scores.csv"),
        files={"file": ("export.csv", text.encode("utf-8"), "text/csv")},
        headers={"X-API-Key": served.keys["agent"]},
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    out = pd.read_csv(
        io.StringIO(response.content.decode("utf-8-sig")), sep=";", dtype=str, keep_default_na=False
    )
    assert out["ligne"].tolist() == ["2", "3", "4"]
    assert out.loc[2, "erreur"].startswith("commune_code") and out.loc[0, "erreur"] == ""
    garbage = client.post(
        HOST.replace("scores", "scores.csv"),
        files={"file": ("x.csv", b"\xff\xfe\x00", "text/csv")},
        headers={"X-API-Key": served.keys["agent"]},
    )
    assert garbage.status_code == 422 and garbage.json()["message"] == messages.BAD_CSV


def test_diagnostic_and_unknown_codes(client: TestClient, served: Served) -> None:
    headers = {"X-API-Key": served.keys["advisor"]}
    response = client.post(SITE, json={"naf_code": "96.02A", "commune_code": "69384"}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert len(body["indicators"]) == 14 and body["risk_level"] in {"faible", "modéré", "élevé"}
    assert body["model_versions"] == {"site_survival_3y": "1", "site_survival_5y": "1"}
    assert body["risk_summary"] in body["text"]["summary"] and body["text"]["checks"]
    unknown = client.post(SITE, json={"naf_code": "96.02", "commune_code": "69384"}, headers=headers)
    assert unknown.status_code == 422 and "96.02A" in unknown.json()["details"][0]["suggestions"]


def test_models_and_metrics(client: TestClient, served: Served) -> None:
    models = client.get("/v1/models", headers={"X-API-Key": served.keys["agent"]}).json()
    assert {m["name"] for m in models} == {
        "apprenticeship_host",
        "dropout_risk",
        "site_survival_3y",
        "site_survival_5y",
    }
    assert all(m["version"] == "1" and "Intended use" in m["model_card"] for m in models)
    client.post(
        HOST,
        json={"companies": company_records(served.host_rows, 2)},
        headers={"X-API-Key": served.keys["agent"]},
    )
    text = client.get("/metrics", headers={"X-API-Key": served.keys["admin"]}).text
    assert 'cma_requests_total{route="/v1/apprenticeship-host/scores",status="200"}' in text
    assert 'cma_model_version{model="dropout_risk"} 1.0' in text
    assert 'cma_rows_scored_total{model="apprenticeship_host"}' in text


def test_audit_log_has_no_identifiers(client: TestClient, served: Served) -> None:
    records = company_records(served.host_rows, 3)
    client.post(HOST, json={"companies": records}, headers={"X-API-Key": served.keys["agent"]})
    contracts = contract_records(served.dropout_rows, 2)
    client.post(DROPOUT, json={"contracts": contracts}, headers={"X-API-Key": served.keys["agent"]})
    rows = sqlite3.connect(served.settings.audit_path()).execute("SELECT * FROM audit").fetchall()
    assert any(r[3] == HOST and r[6] == 3 and r[7] == 200 and r[2] == "CMA test agent" for r in rows)
    dump = repr(rows)
    assert all(str(r["siret"]) not in dump for r in records)
    assert all(str(c["contract_id"]) not in dump for c in contracts)


def test_host_route_takes_past_contracts_and_derives_the_history(client: TestClient, served: Served) -> None:
    from models.apprenticeship_host.history import HISTORY_FEATURES
    from models.apprenticeship_host.model import with_history

    headers = {"X-API-Key": served.keys["agent"]}
    records = company_records(served.host_rows, 3)
    bare = [{k: v for k, v in r.items() if k not in HISTORY_FEATURES} for r in records]
    siret = records[0]["siret"]
    past = [
        {"siret": siret, "contract_start": "2019-09-02", "planned_end": "2021-08-31"},
        {"siret": siret, "contract_start": "2022-09-05", "planned_end": "2024-08-30", "rupture_date": None},
    ]
    derived = client.post(HOST, json={"companies": bare, "contracts": past}, headers=headers)
    assert derived.status_code == 200, derived.text
    # The same history given as counts (as of each record's cut-off date) scores the same.
    frame = with_history(pd.DataFrame(bare), pd.DataFrame(past))
    counted = [dict(r) for r in bare]
    for i, record in enumerate(counted):
        for name in HISTORY_FEATURES[:-1]:
            record[name] = int(frame.iloc[i][name])
        years = frame.iloc[i]["years_since_last_contract"]
        record["years_since_last_contract"] = None if years != years else float(years)
    given = client.post(HOST, json={"companies": counted}, headers=headers).json()
    assert [r["probability"] for r in derived.json()["results"]] == [
        r["probability"] for r in given["results"]
    ]
    # Rows of the contracts file as they are: its other columns are ignored, French dates read.
    exported = [
        {**past[0], "contract_id": "C1", "diploma": "CAP", "contract_start": "02/09/2019"},
        {**past[1], "contract_id": "C2", "diploma": "BP"},
    ]
    as_exported = client.post(HOST, json={"companies": bare, "contracts": exported}, headers=headers)
    assert as_exported.status_code == 200
    assert scores_only(as_exported.json()["results"]) == scores_only(derived.json()["results"])

    bad = {"companies": bare, "contracts": [{**past[0], "planned_end": "2019-13-01"}]}
    answer = client.post(HOST, json=bad, headers=headers)
    assert answer.status_code == 422 and answer.json()["details"][0]["field"] == "contracts[0].planned_end"
    assert "2019-13-01" not in answer.text
