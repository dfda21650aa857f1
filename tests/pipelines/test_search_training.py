"""A training run with the hyperparameter search on logs its trials, the chosen parameters and the card's
section, and the chosen parameters train the registered model; off, the run is as before (no search
artifact, metric or parameter; the card says the search did not run). Each test in its own MLflow store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

from models.search import SEARCH_SPACE
from pipelines.reference import DATA_SAMPLES
from pipelines.runner import load_family_config, train_model
from pipelines.tracking import configure_tracking

pytestmark = pytest.mark.slow
EXAMPLE = DATA_SAMPLES / "dropout_risk" / "extract_example.csv"
CONFIG = DATA_SAMPLES / "dropout_risk" / "extract_example.yaml"
MODEL = "dropout_risk_cfa_exemple"


def _train(folder: Path, *overrides: str) -> Any:
    config = load_family_config("dropout_risk_extract", CONFIG, [f"data={EXAMPLE}", *overrides])
    _, (result,) = train_model("dropout_risk_extract", config, folder)
    return result


def test_search_logs_its_trials_and_the_chosen_parameters_train_the_model(mlflow_home: Path) -> None:
    configure_tracking()
    result = _train(mlflow_home, "search.enabled=true", "search.n_trials=3")
    client = MlflowClient()
    run = client.get_run(result.run_id)
    trials = client.load_table(run.info.experiment_id, "search/trials.json", run_ids=[result.run_id])
    assert list(trials["number"]) == [0, 1, 2, 3], "the configured parameters, then 3 trials"
    assert {"params", "value", "duration_seconds"} <= set(trials.columns)
    assert all(set(p) == set(SEARCH_SPACE) for p in trials["params"])

    metrics, params = run.data.metrics, run.data.params
    assert metrics["search_trials"] == 3
    assert metrics["search_best_value"] == pytest.approx(trials["value"].min())
    assert metrics["search_default_value"] == pytest.approx(trials["value"].iloc[0])
    assert metrics["validation_log_loss"] == pytest.approx(metrics["search_best_value"], abs=1e-12), (
        "the registered model is fitted with the chosen parameters, as the trial was"
    )
    best = trials.loc[trials["value"].idxmin(), "params"]
    chosen = {k.removeprefix("search.best."): float(v) for k, v in params.items() if "search.best." in k}
    assert chosen == pytest.approx(best, abs=1e-9), "MLflow writes a table with 10 decimals"
    assert params["config.search.enabled"] == "True"

    card = client.get_model_version(MODEL, result.decision.version).description
    assert "## Hyperparameter search" in card and "at most 3 trials: 3 trials in" in card
    assert f"Best validation log loss {metrics['search_best_value']:.4f}" in card


def test_search_off_leaves_the_run_as_before(mlflow_home: Path) -> None:
    configure_tracking()
    result = _train(mlflow_home)
    client = MlflowClient()
    run = client.get_run(result.run_id)
    assert client.list_artifacts(result.run_id, "search") == []
    assert not [k for k in run.data.metrics if k.startswith("search_")]
    assert not [k for k in run.data.params if k.startswith("search.")]
    card = mlflow.artifacts.load_text(f"runs:/{result.run_id}/model_card.md")
    assert "## Hyperparameter search\nNot run: the LightGBM parameters are the defaults from" in card


def test_cross_validation_folds_reuse_the_chosen_parameters_and_the_card_says_so(mlflow_home: Path) -> None:
    configure_tracking()
    cv = ["evaluation.split=cv", "evaluation.cv_folds=2", "columns.date=null", "columns.date_format=null"]
    result = _train(mlflow_home, *cv, "search.enabled=true", "search.n_trials=2")
    card = mlflow.artifacts.load_text(f"runs:/{result.run_id}/model_card.md")
    assert "The folds refit with the searched parameters" in card
    assert "at most 2 trials: 2 trials in" in card
