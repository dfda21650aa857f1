"""Adding a model is one package implementing `models.interface` plus one line in the families file: the
toy family of `tests/toy` is trained by the runner into a temporary MLflow store, discovered by the service
and scored through `POST /v1/models/{name}/scores`, with no other change."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipelines.runner import FAMILIES_FILE, family_modules, load_family_config, train_model
from pipelines.tracking import configure_tracking
from service.app import create_app
from service.keys import KeyStore
from service.settings import ServiceSettings
from tests.service.conftest import scores_only

pytestmark = pytest.mark.slow


@pytest.fixture()
def toy_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    families = tmp_path / "families.yaml"
    families.write_text(
        FAMILIES_FILE.read_text(encoding="utf-8") + "toy: tests.toy.family\n", encoding="utf-8"
    )
    monkeypatch.setenv("CMA_FAMILIES", str(families))
    home = tmp_path / "home"
    monkeypatch.setenv("CMA_PREDICT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    configure_tracking()
    assert "toy" in family_modules()
    _, (result,) = train_model("toy", load_family_config("toy", overrides=["rows=2000"]), tmp_path)
    assert result.decision.promoted and result.metrics["roc_auc"] > 0.7
    return home


def test_a_new_family_is_trained_discovered_and_scored(toy_home: Path, tmp_path: Path) -> None:
    settings = ServiceSettings(predict_home=toy_home, keys_db=tmp_path / "k.db", audit_db=tmp_path / "a.db")
    key = KeyStore(settings.keys_path()).create("agent", "CMA test")[0]
    headers = {"X-API-Key": key}
    with TestClient(create_app(settings)) as client:
        records = [
            {"row_id": "A", "size": 90.0, "colour": "red"},
            {"row_id": "B", "size": 5.0, "colour": "blue"},
        ]
        answer = client.post("/v1/models/toy/scores", json={"records": records}, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model"] == "toy" and body["version"] == "1" and body["scored"] == 2
        first, second = body["results"]
        assert first["row_id"] == "A" and first["verdict"] == "likely" and second["verdict"] == "unlikely"
        assert first["probability"] > 0.9 > 0.1 > second["probability"]
        assert len(first["reasons"]) == 2 and "la cote" in first["reasons"][0]

        # The same records as columns and as a CSV body; a bad record is reported, the others scored.
        columns = {"columns": {k: [r[k] for r in records] for k in records[0]}, "explain": True}
        assert scores_only(
            client.post("/v1/models/toy/scores", json=columns, headers=headers).json()["results"]
        ) == scores_only(body["results"])
        csv = "row_id;size;colour\nA;90,0;red\nB;5;blue\nC;7;green\n"
        answer = client.post(
            "/v1/models/toy/scores?explain=true",
            content=csv.encode(),
            headers={**headers, "Content-Type": "text/csv"},
        )
        got = answer.json()
        assert got["scored"] == 2 and scores_only(got["results"]) == scores_only(body["results"])
        assert got["errors"] == [
            {"index": 2, "field": "colour", "reason": "Input should be 'blue' or 'red'", "line": 4}
        ]

        # Its request schema is the model's own, documented with an example.
        document = client.get("/openapi.json").json()
        assert "ToyScoresRequest" in document["components"]["schemas"]
        examples = document["paths"]["/v1/models/{name}/scores"]["post"]["requestBody"]["content"][
            "application/json"
        ]["examples"]
        assert examples["toy"]["value"]["records"][0] == {"row_id": "T1", "size": 12.0, "colour": "red"}

        # An unknown model is a 404 in the error contract; the key's role still applies.
        missing = client.post("/v1/models/nope/scores", json={"records": records}, headers=headers)
        assert missing.status_code == 404 and missing.json()["status"] == 404
        assert client.post("/v1/models/toy/scores", json={"records": records}).status_code == 401


def test_a_setting_restricts_or_extends_the_served_models(toy_home: Path, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias("toy", "challenger", "1")
    base = {"predict_home": toy_home, "keys_db": tmp_path / "k.db", "audit_db": tmp_path / "a.db"}
    key = KeyStore(ServiceSettings(**base).keys_path()).create("agent", "CMA test")[0]
    record = {"records": [{"row_id": "A", "size": 50.0, "colour": "red"}]}
    only = ServiceSettings(**base, discover_models=False, models=("toy@challenger",))
    with TestClient(create_app(only), headers={"X-API-Key": key}) as client:
        assert client.get("/ready").json()["models"] == {"toy@challenger": "1"}
        assert client.post("/v1/models/toy@challenger/scores", json=record).status_code == 200
        assert client.post("/v1/models/toy/scores", json=record).status_code == 404
    missing = ServiceSettings(**base, discover_models=False, models=("nothing_registered",))
    with TestClient(create_app(missing), headers={"X-API-Key": key}) as client:
        ready = client.get("/ready").json()
        assert ready["ready"] is False and "nothing_registered" in ready["errors"]
        assert client.post("/v1/models/nothing_registered/scores", json=record).status_code == 503


def test_the_command_line_trains_and_evaluates_a_new_family(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    families = tmp_path / "families.yaml"
    families.write_text(
        FAMILIES_FILE.read_text(encoding="utf-8") + "toy: tests.toy.family\n", encoding="utf-8"
    )
    monkeypatch.setenv("CMA_FAMILIES", str(families))
    monkeypatch.setenv("CMA_PREDICT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--model", "toy", "--set", "rows=1500"])
    assert trained.exit_code == 0, trained.output
    assert "toy v1 (test set)" in trained.output and "no champion yet" in trained.output
    evaluated = runner.invoke(app, ["evaluate", "--model", "toy", "--set", "rows=1500"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "toy@champion" in evaluated.output and "ROC AUC" in evaluated.output
    unknown = runner.invoke(app, ["train", "--model", "nope"])
    assert unknown.exit_code == 2 and "unknown model 'nope'" in unknown.output
