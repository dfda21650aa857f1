"""Training, MLflow logging, registration and the champion rule, each test in its own store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from models.reference import Reference
from pipelines.config import HostPipelineConfig, load_host_config
from pipelines.host import build_dataset, evaluate_model, load_records, train_and_register
from pipelines.registry import current_champion
from pipelines.tracking import configure_tracking

pytestmark = pytest.mark.slow

SMALL = ["simulation.n_companies=3000", "simulation.seed=11", "lightgbm.min_data_in_leaf=20"]


def _config(*extra: str) -> HostPipelineConfig:
    return load_host_config(overrides=[*SMALL, *extra])


def test_train_logs_registers_and_promotes(mlflow_home: Path, reference: Reference) -> None:
    uri = configure_tracking()
    assert uri == f"sqlite:///{mlflow_home / 'mlflow.db'}"
    cfg = _config()
    dataset = build_dataset(load_records(cfg, reference, mlflow_home), cfg.cutoffs())
    first = train_and_register(dataset, cfg, reference)
    assert first.decision.promoted and first.decision.version == "1"
    assert str(current_champion("apprenticeship_host").version) == "1"
    assert 0.5 < first.metrics["roc_auc"] <= first.metrics["oracle_roc_auc"] + 0.02

    client = MlflowClient()
    run = client.get_run(first.run_id)
    assert run.data.metrics["test_roc_auc"] == pytest.approx(first.metrics["roc_auc"])
    assert "test_oracle_roc_auc" in run.data.metrics
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
    reloaded = evaluate_model("models:/apprenticeship_host@champion", dataset)
    assert reloaded["roc_auc"] == pytest.approx(first.metrics["roc_auc"], abs=1e-12)
    info = mlflow.models.get_model_info("models:/apprenticeship_host@champion")
    assert "naf_code" in info.signature.inputs.input_names()

    # A much weaker model is registered but does not take the alias.
    weak = train_and_register(dataset, _config("lightgbm.max_rounds=1", "lightgbm.num_leaves=2"), reference)
    assert not weak.decision.promoted and weak.decision.version == "2"
    assert weak.decision.champion_score == pytest.approx(first.metrics["roc_auc"])
    assert str(current_champion("apprenticeship_host").version) == "1"
    assert "does not beat" in client.get_model_version("apprenticeship_host", "2").tags["promotion"]


def test_champion_predictions_match_in_process_model(mlflow_home: Path, reference: Reference) -> None:
    configure_tracking()
    cfg = _config()
    dataset = build_dataset(load_records(cfg, reference, mlflow_home), cfg.cutoffs())
    train_and_register(dataset, cfg, reference)
    model = mlflow.pyfunc.load_model("models:/apprenticeship_host@champion")
    rows = dataset[dataset["cutoff_date"] == dataset["cutoff_date"].max()].head(50)
    out = pd.DataFrame(model.predict(rows.drop(columns=["hosted_next_12m", "oracle_probability"])))
    assert list(out.columns) == ["probability", "percentile"]
    assert np.all((out["probability"] > 0) & (out["probability"] < 1))
    assert np.all((out["percentile"] >= 0) & (out["percentile"] <= 100))
