"""`/v1/admin/monitoring`: the latest monitoring report of each served model, for admin keys only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service import messages
from service.app import create_app
from service.monitoring import new_prediction_ids
from tests.service.conftest import Served, contract_records

MODEL = "dropout_risk"


def _log_report(served: Served) -> str:
    """A monitoring run of `MODEL` in the served registry, logged as `cma-predict monitor` logs it."""
    from pipelines.monitor import log_monitoring_run, monitoring_figures, render_report

    rng = np.random.default_rng(2)
    n = 400
    p = rng.beta(1.5, 4.0, n)
    rows = pd.DataFrame(
        {
            "prediction_id": list(new_prediction_ids(n)),
            "role": "champion",
            "version": "1",
            "scored_at": "2026-03-01T10:00:00+00:00",
            "period": np.where(np.arange(n) < n // 2, "2026-02", "2026-03"),
            "probability": p,
            "band": None,
            "score_bin": None,
            "bins": None,
            "outcome": (rng.random(n) < p).astype(float),
        }
    )
    figures = monitoring_figures(rows, None)
    html = render_report(figures, MODEL, "2026-02..2026-03")
    return log_monitoring_run(figures, html, MODEL, "2026-02..2026-03", home=served.home)


def test_monitoring_page(client: TestClient, served: Served) -> None:
    admin = {"X-API-Key": served.keys["admin"]}
    assert client.get("/v1/admin/monitoring").status_code == 401
    refused = client.get("/v1/admin/monitoring", headers={"X-API-Key": served.keys["agent"]})
    assert refused.status_code == 403
    assert refused.json()["message"] == messages.FORBIDDEN
    assert (
        client.get(
            f"/v1/admin/monitoring/{MODEL}/report", headers={"X-API-Key": served.keys["agent"]}
        ).status_code
        == 403
    )

    missing = client.get("/v1/admin/monitoring/apprenticeship_host/report", headers=admin)  # never logged
    assert missing.status_code == 404
    assert missing.json()["message"] == messages.NOT_FOUND
    unknown = client.get("/v1/admin/monitoring/not_a_model/report", headers=admin)
    assert unknown.status_code == 404

    _log_report(served)
    page = client.get("/v1/admin/monitoring", headers=admin)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'href="/v1/admin/monitoring/{MODEL}/report"' in page.text
    assert "2026-02..2026-03" in page.text
    assert "aucun rapport" in page.text  # the host model has none

    report = client.get(f"/v1/admin/monitoring/{MODEL}/report", headers=admin)
    assert report.status_code == 200
    assert "Suivi du modèle dropout_risk" in report.text
    policy = report.headers["content-security-policy"]
    assert "'sha256-" in policy and "img-src data:" in policy
    assert "unsafe-inline" not in policy and "script-src" not in policy and "default-src 'none'" in policy


def test_scores_to_report_end_to_end(served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scores through the API, outcomes sent back, `cma-predict monitor` on the service's store with the
    champion's reference profile from the registry, the report served to an admin."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    config = served.settings.model_copy(update={"monitoring_db": tmp_path / "monitoring.db"})
    agent, admin = {"X-API-Key": served.keys["agent"]}, {"X-API-Key": served.keys["admin"]}
    rows = served.dropout_rows
    records = contract_records(rows.tail(600).reset_index(drop=True), 600)
    with TestClient(create_app(config)) as client:
        answer = client.post("/v1/dropout-risk/scores", json={"contracts": records}, headers=agent)
        assert answer.status_code == 200, answer.text
        ids = [r["prediction_id"] for r in answer.json()["results"]]
        probabilities = np.array([r["probability"] for r in answer.json()["results"]])
        rng = np.random.default_rng(4)
        outcomes = [
            {"prediction_id": i, "outcome": bool(rng.random() < p), "outcome_date": "2030-01-01"}
            for i, p in zip(ids[:400], probabilities[:400], strict=True)
        ]
        back = client.post("/v1/outcomes", json={"model": MODEL, "outcomes": outcomes}, headers=agent)
        assert back.status_code == 200 and back.json()["matched"] == 400
        monkeypatch.setenv("CMA_PREDICT_HOME", str(served.home))
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        out = tmp_path / "report.html"
        result = CliRunner().invoke(
            app, ["monitor", "--model", MODEL, "--db", str(tmp_path / "monitoring.db"), "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        html = out.read_text(encoding="utf-8")
        assert "profil de référence" not in html  # the champion carries its profile: drift judged
        assert "Dérive des entrées" in html and html.count("data:image/png;base64,") == 3
        report = client.get(f"/v1/admin/monitoring/{MODEL}/report", headers=admin)
        assert report.status_code == 200 and report.text == html
