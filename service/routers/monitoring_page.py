"""The monitoring reports for administrators (`/v1/admin/monitoring`): per served model, the latest run of
the `cma-monitoring` MLflow experiment (logged by `cma-predict monitor`: its date, period, realized and
expected AUC, drift alerts) and a link to that run's HTML report.

The service reads the runs from MLflow only: it never imports the monitoring job (`pipelines/`); the tag
and artifact names below are the job's. The report is a self-contained page (inline `<style>`, plots as
`data:` PNG images, no script): it is served with its own Content-Security-Policy that allows exactly its
style blocks, by their hashes (as the diagnostic page allows its style attributes), `data:` images and
nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import mlflow
from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from service import messages
from service.deps import AdminKey, RegistryDep
from service.model_registry import RegistryUnavailable

router = APIRouter(prefix="/v1/admin/monitoring", tags=["monitoring"], include_in_schema=False)

EXPERIMENT = "cma-monitoring"  # pipelines.monitor's names
MODEL_TAG = "cma.monitoring.model"
PERIOD_TAG = "cma.monitoring.period"
ALERTS_TAG = "cma.monitoring.alerts"
REPORT_ARTIFACT = "report.html"
MLFLOW_UNAVAILABLE = "Le registre MLflow ne répond pas : réessayez plus tard."
_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
LIST_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def _unavailable(err: Exception) -> HTTPException:
    return RegistryUnavailable(MLFLOW_UNAVAILABLE, type(err).__name__)


def latest_run(model: str) -> Any:
    """The latest `cma-monitoring` run of `model`, None when there is none."""
    experiment = MlflowClient().get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return None
    given = model.replace("\\", "\\\\").replace("'", "\\'")
    runs = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"tags.`{MODEL_TAG}` = '{given}' AND attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return runs[0] if runs else None


def report_policy(html: str) -> str:
    """The Content-Security-Policy of a report: its `<style>` blocks by hash, `data:` images, nothing else."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for block in _STYLE.findall(html)
    )
    style = f"style-src {hashes}; " if hashes else ""
    return (
        f"default-src 'none'; {style}img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}".replace(".", ",")


def _row(model: str, run: Any) -> str:
    name = escape(model)
    if run is None:
        return (
            f"<tr><td>{name}</td><td colspan='5'>aucun rapport (cma-predict monitor --model {name})</td></tr>"
        )
    started = datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    metrics, tags = run.data.metrics, run.data.tags
    drifted = metrics.get("drifted_features")
    alerts = tags.get(ALERTS_TAG, "" if drifted is None else str(int(drifted)))
    link = f"/v1/admin/monitoring/{quote(model, safe='')}/report"
    cells = [
        f'<a href="{escape(link)}">{name}</a>',
        escape(started),
        escape(tags.get(PERIOD_TAG, "")),
        _number(metrics.get("realized_auc")),
        _number(metrics.get("expected_auc")),
        escape(alerts),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


@router.get("", response_class=HTMLResponse, summary="The latest monitoring report of each served model")
def monitoring_index(key: AdminKey, registry: RegistryDep) -> HTMLResponse:
    """Per served model, its latest `cma-monitoring` run and a link to its report."""
    try:
        rows = [_row(name, latest_run(name)) for name in sorted(registry.served())]
    except MlflowException as err:
        raise _unavailable(err) from err
    html = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Suivi des modèles · CMA</title>'
        "</head><body><h1>Suivi des modèles</h1><table><thead><tr><th>modèle</th><th>date du rapport</th>"
        "<th>période</th><th>AUC réalisée</th><th>AUC attendue</th><th>alertes de dérive</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></body></html>"
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Content-Security-Policy": LIST_POLICY})


@router.get("/{model}/report", response_class=HTMLResponse, summary="The latest monitoring report of a model")
def monitoring_report(model: str, key: AdminKey, registry: RegistryDep) -> HTMLResponse:
    """The `report.html` of the model's latest `cma-monitoring` run (404 when there is none)."""
    if model not in registry.served():
        raise HTTPException(status.HTTP_404_NOT_FOUND, messages.NOT_FOUND)
    try:
        run = latest_run(model)
        if run is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, messages.NOT_FOUND)
        with tempfile.TemporaryDirectory(prefix="cma-report-") as folder:
            path = mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path=REPORT_ARTIFACT, dst_path=folder
            )
            html = Path(path).read_text(encoding="utf-8")
    except MlflowException as err:
        if getattr(err, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            raise HTTPException(status.HTTP_404_NOT_FOUND, messages.NOT_FOUND) from err
        raise _unavailable(err) from err
    except OSError as err:  # a run without its report
        raise HTTPException(status.HTTP_404_NOT_FOUND, messages.NOT_FOUND) from err
    return HTMLResponse(
        html, headers={"Cache-Control": "no-store", "Content-Security-Policy": report_policy(html)}
    )
