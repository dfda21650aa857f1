"""A real registry with small champions of every model, and an app with keys of each role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel

from service.app import create_app
from service.keys import KeyStore
from service.settings import ServiceSettings


@dataclass
class Served:
    """What the service tests share."""

    home: Path
    settings: ServiceSettings
    keys: dict[str, str]
    host_rows: pd.DataFrame
    dropout_rows: pd.DataFrame


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train small champions of the four models into a temporary project folder (real MLflow registry)."""
    import os

    from pipelines import site
    from pipelines.reference import load_reference
    from pipelines.runner import load_family_config, train_model
    from pipelines.tracking import configure_tracking

    home = tmp_path_factory.mktemp("service_home")
    previous = {k: os.environ.get(k) for k in ("CMA_PREDICT_HOME", "MLFLOW_TRACKING_URI")}
    os.environ["CMA_PREDICT_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        configure_tracking()
        reference = load_reference()
        cfg = load_family_config(
            "apprenticeship_host", overrides=["simulation.n_companies=3000", "lightgbm.min_data_in_leaf=20"]
        )
        data, _ = train_model("apprenticeship_host", cfg, home)
        data.to_parquet(home / "host.parquet")
        dcfg = load_family_config(
            "dropout_risk", overrides=["simulation.n_contracts=6000", "lightgbm.min_data_in_leaf=50"]
        )
        ddata, _ = train_model("dropout_risk", dcfg, home)
        ddata.to_parquet(home / "dropout.parquet")
        scfg = load_family_config(
            "site_potential",
            overrides=["simulation.creations_per_year=1500", "simulation.placement=population"],
        )
        out = site.site_dir(home)
        site.prepare_bpe(out, reference)
        site.prepare_sirene(scfg, reference, out)
        site.build_store(out, reference, scfg.extract_date(), synthetic=True)
        train_model("site_potential", scfg.model_copy(update={"store": out}), home)
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return home


def settings_and_keys(home: Path, folder: Path) -> tuple[ServiceSettings, dict[str, str]]:
    """Settings serving `home` with keys and audit log in `folder`, and a key of each role."""
    settings = ServiceSettings(
        predict_home=home,
        keys_db=folder / "keys.db",
        audit_db=folder / "audit.db",
        rate_limit_per_minute=10_000,
    )
    store = KeyStore(settings.keys_path())
    keys = {role: store.create(role, f"CMA test {role}")[0] for role in ("agent", "advisor", "admin")}
    return settings, keys


class NotAModel(PythonModel):
    """A model the service cannot use (it has no scoring face)."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input


def log_not_a_model(experiment_name: str) -> str:
    """Log a `NotAModel` in the experiment `experiment_name` of the current store; returns its model URI
    (for the test to register as it needs, with or without a digest)."""
    experiment = MlflowClient().get_experiment_by_name(experiment_name)
    assert experiment is not None
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        return str(mlflow.pyfunc.log_model(name="model", python_model=NotAModel()).model_uri)


@pytest.fixture()
def served(trained_home: Path, tmp_path: Path) -> Served:
    settings, keys = settings_and_keys(trained_home, tmp_path)
    host_rows = pd.read_parquet(trained_home / "host.parquet")
    dropout_rows = pd.read_parquet(trained_home / "dropout.parquet")
    return Served(trained_home, settings, keys, host_rows, dropout_rows)


@pytest.fixture()
def client(served: Served) -> Iterator[TestClient]:
    with TestClient(create_app(served.settings)) as test_client:
        yield test_client


def scores_only(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scoring results without their prediction ids (a new one at each request), to compare two answers."""
    assert all(str(r["prediction_id"]).startswith("p-") for r in results)
    return [{k: v for k, v in r.items() if k != "prediction_id"} for r in results]


def company_records(rows: pd.DataFrame, n: int) -> list[dict[str, object]]:
    """JSON-ready company snapshots from a host dataset."""
    from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS

    frame = rows[list(SNAPSHOT_COLUMNS)].head(n).copy()
    for column in ("creation_date", "cutoff_date"):
        frame[column] = frame[column].dt.strftime("%Y-%m-%d")
    records = frame.to_dict("records")
    for record in records:
        if record["years_since_last_contract"] != record["years_since_last_contract"]:
            record["years_since_last_contract"] = None
    return records


def contract_records(rows: pd.DataFrame, n: int) -> list[dict[str, object]]:
    """JSON-ready contract snapshots from a dropout dataset."""
    from models.dropout_risk.dataset import SNAPSHOT_COLUMNS

    frame = rows[list(SNAPSHOT_COLUMNS)].head(n).copy()
    for column in ("prediction_date", "contract_start", "planned_end"):
        frame[column] = frame[column].dt.strftime("%Y-%m-%d")
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")
