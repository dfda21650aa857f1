"""Training through the runner, MLflow logging, registration and the champion rule, each test in its own
store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS
from pipelines.registry import current_champion
from pipelines.runner import evaluate_registered, family, load_family_config, pipeline_data, train_model
from pipelines.tracking import configure_tracking

pytestmark = pytest.mark.slow

SMALL = ["simulation.n_companies=3000", "simulation.seed=11", "lightgbm.min_data_in_leaf=20"]


def _config(*extra: str) -> object:
    return load_family_config("apprenticeship_host", overrides=[*SMALL, *extra])


def test_train_logs_registers_and_promotes(mlflow_home: Path) -> None:
    uri = configure_tracking()
    assert uri == f"sqlite:///{mlflow_home / 'mlflow.db'}"
    cfg = _config()
    dataset, (first,) = train_model("apprenticeship_host", cfg, mlflow_home)
    assert first.decision.promoted and first.decision.version == "1"
    assert str(current_champion("apprenticeship_host").version) == "1"
    assert 0.5 < first.metrics["roc_auc"] <= first.metrics["oracle_roc_auc"] + 0.02

    client = MlflowClient()
    run = client.get_run(first.run_id)
    assert run.data.metrics["test_roc_auc"] == pytest.approx(first.metrics["roc_auc"])
    assert "test_oracle_roc_auc" in run.data.metrics
    assert run.data.params["config.simulation.n_companies"] == "3000"
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "plots")}
    assert artifacts == {
        "plots/roc.png",
        "plots/calibration.png",
        "plots/cumulative_gains.png",
        "plots/feature_importance.png",
    }
    card = mlflow.artifacts.load_text(f"runs:/{first.run_id}/model_card.md")
    assert "Intended use" in card and "oracle" in card
    version = client.get_model_version("apprenticeship_host", "1")
    assert "Intended use" in version.description

    # The registered model scores like the in-process evaluation and carries its signature.
    reloaded = evaluate_registered(
        family("apprenticeship_host"),
        cfg,
        dataset,
        pipeline_data(mlflow_home),
        "models:/apprenticeship_host@champion",
    )["apprenticeship_host"]
    assert reloaded["roc_auc"] == pytest.approx(first.metrics["roc_auc"], abs=1e-12)
    info = mlflow.models.get_model_info("models:/apprenticeship_host@champion")
    assert "naf_code" in info.signature.inputs.input_names()

    # A much weaker model is registered but does not take the alias.
    _, (weak,) = train_model(
        "apprenticeship_host", _config("lightgbm.max_rounds=1", "lightgbm.num_leaves=2"), mlflow_home, dataset
    )
    assert not weak.decision.promoted and weak.decision.version == "2"
    assert weak.decision.champion_score == pytest.approx(first.metrics["roc_auc"])
    assert str(current_champion("apprenticeship_host").version) == "1"
    assert "does not beat" in client.get_model_version("apprenticeship_host", "2").tags["promotion"]


def test_champion_predictions_match_in_process_model(mlflow_home: Path) -> None:
    configure_tracking()
    dataset, (result,) = train_model("apprenticeship_host", _config(), mlflow_home)
    champion = mlflow.pyfunc.load_model("models:/apprenticeship_host@champion")
    rows = dataset[dataset["cutoff_date"] == dataset["cutoff_date"].max()].head(50)
    out = pd.DataFrame(champion.predict(rows[list(SNAPSHOT_COLUMNS)]))
    assert list(out.columns) == ["probability", "percentile", "reasons"]
    expected = result.model.score(rows, explain=True)
    np.testing.assert_array_equal(out["probability"].to_numpy(), expected["probability"])
    np.testing.assert_array_equal(out["percentile"].to_numpy(), expected["percentile"])
    assert [list(r) for r in out["reasons"]] == expected["reasons"]
    quiet = pd.DataFrame(champion.predict(rows[list(SNAPSHOT_COLUMNS)], params={"explain": False}))
    assert "reasons" not in quiet and np.array_equal(quiet["probability"], expected["probability"])
