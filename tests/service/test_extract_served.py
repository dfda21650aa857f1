"""A model retrained on a centre's own extract is served with no code change: its rows as they are (JSON
from the file, or the file's own lines as a `;` CSV body with BOM, French headers with stray spaces, French
dates, decimal commas) answer with probability, band, actions and reasons."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines.reference import DATA_SAMPLES
from pipelines.runner import load_family_config, train_model
from pipelines.tracking import configure_tracking
from service.app import create_app
from service.keys import KeyStore
from service.settings import ServiceSettings
from tests.service.conftest import scores_only

pytestmark = pytest.mark.slow
EXAMPLE = DATA_SAMPLES / "dropout_risk" / "extract_example.csv"
CONFIG = DATA_SAMPLES / "dropout_risk" / "extract_example.yaml"
NAME = "dropout_risk_cfa_exemple"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("extract_served")
    home = folder / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CMA_PREDICT_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        configure_tracking()
        config = load_family_config("dropout_risk_extract", CONFIG, [f"data={EXAMPLE}"])
        train_model("dropout_risk_extract", config, folder)
    settings = ServiceSettings(predict_home=home, keys_db=folder / "k.db", audit_db=folder / "a.db")
    key = KeyStore(settings.keys_path()).create("agent", "CFA exemple")[0]
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as test_client:
        yield test_client


def _check(body: dict[str, object], n: int) -> None:
    assert body["model"] == NAME and body["scored"] == n and body["rejected"] == 0
    for result in body["results"]:  # type: ignore[attr-defined]
        assert 0 < result["probability"] < 1
        assert result["risk_band"] in ("faible", "modéré", "élevé") and result["ppr_actions"]
        assert len(result["reasons"]) == 3 and result["N° contrat"].startswith("C")


def test_the_extracts_rows_as_they_are(client: TestClient) -> None:
    lines = EXAMPLE.read_bytes().splitlines(keepends=True)
    assert lines[0].startswith(b"\xef\xbb\xbf") and b" D\xc3\xa9but contrat " in lines[0]
    raw = pd.read_csv(EXAMPLE, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig").head(40)
    answer = client.post(f"/v1/models/{NAME}/scores", json={"records": raw.to_dict("records")})
    assert answer.status_code == 200, answer.text
    json_body = answer.json()
    _check(json_body, 40)

    csv_body = b"".join(lines[:41])  # the file's own header and first 40 lines
    answer = client.post(
        f"/v1/models/{NAME}/scores?explain=true", content=csv_body, headers={"Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    assert scores_only(answer.json()["results"]) == scores_only(json_body["results"])

    # Typed values (numbers as numbers, an integer-coded category) score the same.
    typed = pd.read_csv(EXAMPLE, sep=";", encoding="utf-8-sig", decimal=",").head(40)
    records = typed.astype(object).where(typed.notna(), None).to_dict("records")
    assert scores_only(
        client.post(f"/v1/models/{NAME}/scores", json={"records": records}).json()["results"]
    ) == scores_only(json_body["results"])

    # The spreadsheet route answers a CSV, one line per input line.
    upload = client.post(
        f"/v1/models/{NAME}/scores.csv", files={"file": ("export.csv", csv_body, "text/csv")}
    )
    assert upload.status_code == 200
    table = pd.read_csv(io.StringIO(upload.content.decode("utf-8-sig")), sep=";", dtype=str)
    assert list(table.columns[:3]) == ["ligne", "N° contrat", "probabilite"] and len(table) == 40


def test_an_extract_row_without_any_feature_is_still_scored_as_missing_values(client: TestClient) -> None:
    answer = client.post(f"/v1/models/{NAME}/scores", json={"records": [{"N° contrat": "X1", "Sexe": "F"}]})
    assert answer.status_code == 200
    assert answer.json()["results"][0]["N° contrat"] == "X1"
    bad = client.post(f"/v1/models/{NAME}/scores", json={"records": [{"Âge": "vingt"}]})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "Âge"
    assert "vingt" not in bad.text
