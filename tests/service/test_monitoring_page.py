"""`/v1/admin/monitoring`: the latest monitoring report of each served model, for admin keys only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient

from service import messages
from tests.service.conftest import Served

MODEL = "dropout_risk"


def _log_report(served: Served) -> str:
    """A monitoring run of `MODEL` in the served registry, logged as `cma-predict monitor` logs it."""
    from pipelines.monitor import log_monitoring_run, monitoring_figures, render_report

    rng = np.random.default_rng(2)
    n = 400
    p = rng.beta(1.5, 4.0, n)
    rows = pd.DataFrame(
        {
            "prediction_id": [f"p-{i:016x}-000000" for i in range(n)],
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

    missing = client.get(f"/v1/admin/monitoring/{MODEL}/report", headers=admin)
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
    assert "aucun rapport" in page.text  # the other served models have none yet

    report = client.get(f"/v1/admin/monitoring/{MODEL}/report", headers=admin)
    assert report.status_code == 200
    assert "Suivi du modèle dropout_risk" in report.text
    policy = report.headers["content-security-policy"]
    assert "'sha256-" in policy and "img-src data:" in policy
    assert "unsafe-inline" not in policy and "script-src" not in policy and "default-src 'none'" in policy
