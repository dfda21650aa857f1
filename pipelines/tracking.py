"""MLflow set-up: the embedded default (SQLite + local artifacts under the project's `var/`), or
whatever `MLFLOW_TRACKING_URI` names."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow import MlflowClient


def project_home() -> Path:
    """Folder for generated data, the embedded registry and artifacts (`CMA_PREDICT_HOME`, default ./var)."""
    return Path(os.environ.get("CMA_PREDICT_HOME", "var")).resolve()


_EMBEDDED: set[str] = set()  # URIs this module chose (MLflow copies them into MLFLOW_TRACKING_URI)


def configure_tracking(home: Path | None = None) -> str:
    """Point MLflow at `MLFLOW_TRACKING_URI` if the user set it, else at `<home>/mlflow.db`."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri or uri in _EMBEDDED:
        base = home or project_home()
        base.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{base / 'mlflow.db'}"
        _EMBEDDED.add(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(name: str, home: Path | None = None) -> str:
    """The experiment's id, creating it with artifacts under `<home>/mlartifacts` on a local store."""
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    uri = mlflow.get_tracking_uri()
    location = None
    if uri.startswith("sqlite:"):
        base = home or project_home()
        location = (base / "mlartifacts").as_uri()
    return str(client.create_experiment(name, artifact_location=location))
