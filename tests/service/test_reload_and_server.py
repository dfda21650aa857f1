"""Registry switching without restart, the last good version kept on a broken champion, a real HTTP
server, and the key commands."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from typer.testing import CliRunner

from pipelines.cli import app as cli
from pipelines.registry import register_version
from service.app import create_app
from tests.service.conftest import Served, company_records, log_not_a_model
from tests.service.real_server import server_in_thread

pytestmark = pytest.mark.slow


def _set_champion(name: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(name, "champion", version)


def test_reload_keeps_the_last_good_version_and_picks_up_a_new_one(
    client: TestClient, served: Served
) -> None:
    admin = {"X-API-Key": served.keys["admin"]}
    agent = {"X-API-Key": served.keys["agent"]}
    records = company_records(served.host_rows, 3)
    name = "apprenticeship_host"
    mlflow_client = MlflowClient()
    try:
        bad = register_version(log_not_a_model(name), name)
        _set_champion(name, str(bad.version))
        outcome = client.post("/v1/admin/models/reload", headers=admin).json()["models"][name]
        assert outcome.startswith("v1 kept: TypeError") and "does not implement the scoring face" in outcome
        ready = client.get("/ready", headers=agent).json()
        assert ready["models"][name] == "1" and name in ready["errors"]
        scored = client.post(
            "/v1/apprenticeship-host/scores", json={"companies": records}, headers=agent
        ).json()
        assert scored["version"] == "1"

        source = mlflow_client.get_model_version(name, "1").source
        good = register_version(source, name)
        _set_champion(name, str(good.version))
        outcome = client.post("/v1/admin/models/reload", headers=admin).json()["models"][name]
        assert outcome == f"v{good.version} loaded"
        scored = client.post(
            "/v1/apprenticeship-host/scores", json={"companies": records}, headers=agent
        ).json()
        assert scored["version"] == str(good.version)
        assert name not in client.get("/ready", headers=agent).json()["errors"]
    finally:
        _set_champion(name, "1")


def test_real_http_server(served: Served) -> None:
    with server_in_thread(create_app(served.settings)) as base:
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        response = httpx.post(
            f"{base}/v1/apprenticeship-host/scores",
            json={"companies": company_records(served.host_rows, 2)},
            headers={"X-API-Key": served.keys["agent"]},
            timeout=30,
        )
        assert response.status_code == 200 and response.json()["scored"] == 2
        docs = httpx.get(f"{base}/openapi.json").json()
        assert (
            "/v1/dropout-risk/scores" in docs["paths"] and "/v1/site-potential/diagnostics" in docs["paths"]
        )


def test_keys_commands(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMA_PREDICT_HOME", str(tmp_path))
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--role", "agent", "--chamber", "CMA PACA"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("cma_")
    listed = runner.invoke(cli, ["keys", "list"])
    assert "CMA PACA" in listed.output and key not in listed.output
    key_id = key.split("_")[1]
    assert runner.invoke(cli, ["keys", "revoke", key_id]).exit_code == 0
    assert runner.invoke(cli, ["keys", "revoke", key_id]).exit_code == 2
    bad = runner.invoke(cli, ["keys", "create", "--role", "boss", "--chamber", "X"])
    assert bad.exit_code == 2 and "role must be one of" in bad.output
    stored = (tmp_path / "service" / "keys.db").read_bytes()
    assert key.encode() not in stored, "keys are stored hashed"
