"""No degenerate model is ever promoted: a training set with a split of one class, or a model that gives
every row the same score, stops the run with its reason, and nothing is registered."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from models.gates import DegenerateTraining
from pipelines.cli import app
from pipelines.runner import load_family_config, train_model
from pipelines.tracking import configure_tracking

CONFIG = """
name: degenerate
columns:
  identifier: id
  target: {column: outcome, positive: ["rupture"], negative: ["fin"]}
  date: start
  date_format: "%Y-%m-%d"
  numeric: [x]
registry: {model_name: dropout_risk_degenerate, experiment: degenerate}
"""


def extract(folder: Path, n: int = 600, last_negative: bool = False) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    broken = rng.random(n) < 1 / (1 + np.exp(-2 * x))
    if last_negative:  # the test period (the latest dates) holds no rupture at all
        broken[int(n * 0.75) :] = False
    frame = pd.DataFrame(
        {
            "id": [f"C{i}" for i in range(n)],
            "start": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "x": x.round(3),
            "outcome": np.where(broken, "rupture", "fin"),
        }
    )
    data = folder / "extract.csv"
    frame.to_csv(data, index=False)
    config = folder / "extract.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return data, config


def registered(home: Path) -> list[str]:
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    return [m.name for m in client.search_registered_models()]


def test_a_test_period_without_any_event_stops_the_run(mlflow_home: Path, tmp_path: Path) -> None:
    data, config = extract(tmp_path, last_negative=True)
    result = CliRunner().invoke(app, ["train-extract", "--data", str(data), "--config", str(config)])
    assert result.exit_code == 2
    assert "the test rows hold 0 positive" in " ".join(result.output.split())
    assert registered(mlflow_home) == []


def test_a_model_that_ranks_nothing_is_refused_and_its_run_says_why(
    mlflow_home: Path, tmp_path: Path
) -> None:
    data, config = extract(tmp_path)
    configure_tracking()
    # Leaves of at least 10,000 rows: the booster cannot split, every row gets the same score.
    cfg = load_family_config(
        "dropout_risk_extract", config, [f"data={data}", "lightgbm.min_data_in_leaf=10000"]
    )
    with pytest.raises(DegenerateTraining, match="same score"):
        train_model("dropout_risk_extract", cfg, tmp_path / "quarantine")
    assert registered(mlflow_home) == []
    runs = mlflow.search_runs(experiment_names=["degenerate"], output_format="list")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "same score" in runs[0].data.tags["cma.refused"]


def test_the_same_extract_with_events_everywhere_trains_and_registers(
    mlflow_home: Path, tmp_path: Path
) -> None:
    data, config = extract(tmp_path)
    result = CliRunner().invoke(app, ["train-extract", "--data", str(data), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert registered(mlflow_home) == ["dropout_risk_degenerate"]
