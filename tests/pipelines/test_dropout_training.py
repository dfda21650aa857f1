"""dropout_risk end to end: training, bands, PPR actions, model card with groups, registry."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from models.dropout_risk.dataset import SNAPSHOT_COLUMNS
from pipelines.registry import current_champion
from pipelines.runner import load_family_config, train_model
from pipelines.tracking import configure_tracking

pytestmark = pytest.mark.slow


def test_train_register_card_and_bands(mlflow_home: Path) -> None:
    configure_tracking()
    cfg = load_family_config(
        "dropout_risk", overrides=["simulation.n_contracts=12000", "lightgbm.min_data_in_leaf=50"]
    )
    dataset, (result,) = train_model("dropout_risk", cfg, mlflow_home)
    assert result.decision.promoted
    assert str(current_champion("dropout_risk").version) == "1"
    m = result.metrics
    assert 0.5 < m["roc_auc"] <= m["oracle_roc_auc"] + 0.03
    assert 0 < m["recall_at_capacity"] <= 1 and "oracle_recall_at_capacity" in m

    card = mlflow.artifacts.load_text(f"runs:/{result.run_id}/model_card.md")
    for needle in (
        "Performance by group",
        "| sexe | F |",
        "| âge | 15-17 |",
        "niveau 3 (CAP, MC)",
        "Entretien tripartite",
        "must never be used",
        "Monitoring after release",
    ):
        assert needle in card, needle
    assert "sex" not in MlflowClient().get_run(result.run_id).data.params.get("features", "")

    model = mlflow.pyfunc.load_model("models:/dropout_risk@champion")
    last = dataset[pd.to_datetime(dataset["contract_start"]).dt.year == 2022]
    out = pd.DataFrame(model.predict(last[list(SNAPSHOT_COLUMNS)], params={"explain": False}))
    assert list(out.columns) == ["probability", "risk_band", "ppr_actions"]
    shares = out["risk_band"].value_counts(normalize=True)
    assert abs(shares["élevé"] - 0.15) < 0.05, "about the alert capacity is rated élevé"
    high = out[out["risk_band"] == "élevé"]["ppr_actions"].iloc[0]
    assert any("médiation" in action for action in high)
    low_max = out.loc[out["risk_band"] == "faible", "probability"].max()
    assert low_max < out.loc[out["risk_band"] == "élevé", "probability"].min()

    # Sensitive attributes are not features: changing them changes no score.
    swapped = last[list(SNAPSHOT_COLUMNS)].assign(sex="F", qpv_resident="1")
    np.testing.assert_allclose(
        pd.DataFrame(model.predict(swapped, params={"explain": False}))["probability"], out["probability"]
    )
