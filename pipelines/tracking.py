"""MLflow set-up: the embedded default (SQLite + local artifacts under the project's `var/`), or
whatever `MLFLOW_TRACKING_URI` names: a tracking server (`http://host:5000`, several machines: artifacts
proxied by the server) or a database (`postgresql+psycopg://...`, artifacts under the project's `var/`)."""

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


# Database backends MLflow's SQLAlchemy store accepts as a tracking URI (`postgresql+psycopg://` included).
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def _is_database_uri(uri: str) -> bool:
    scheme = uri.partition(":")[0].partition("+")[0].lower()
    return scheme in _DATABASE_SCHEMES


def artifact_location(uri: str, home: Path | None = None) -> str | None:
    """Where a new experiment's artifacts go for tracking URI `uri`.

    - a database opened directly by this process (`sqlite:`, `postgresql:`, ...): `<home>/mlartifacts`, since
      MLflow's own default would be `./mlruns` of whatever folder the command runs in;
    - a tracking server (`http(s)://`): None, so the server's default applies. Started with
      `--serve-artifacts` (the default) that is `mlflow-artifacts:/<experiment>`, which the clients upload to
      and download from through the server: they need no access to its artifact store, and nothing is
      written locally;
    - anything else (`file:` stores, `databricks`): None, the store's own default."""
    if _is_database_uri(uri):
        return ((home or project_home()) / "mlartifacts").as_uri()
    return None


def ensure_experiment(name: str, home: Path | None = None) -> str:
    """The experiment's id, creating it with the artifact location `artifact_location` gives."""
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = artifact_location(mlflow.get_tracking_uri(), home)
    return str(client.create_experiment(name, artifact_location=location))
