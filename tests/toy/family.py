"""The toy family: a logistic regression on two fields of a synthetic table (SYNTHETIC data, with the
oracle: the true probability of each row)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from models.config import RegistryConfig
from models.estimator import FitInfo
from models.explain import top_reasons
from models.interface import (
    DataAccess,
    Evaluation,
    InputContract,
    InputField,
    OutputField,
    Registration,
    Rows,
    ScoringModel,
    Split,
    TrainingJob,
    empty_reasons,
    rows_frame,
)

CONTRACT = InputContract(
    fields=(
        InputField("row_id", "text", "Identifier", example="T1"),
        InputField("size", "float", "A size", ge=0, le=100, example=12.0),
        InputField("colour", "text", "A colour", allowed=("blue", "red"), example="red"),
    ),
    id_field="row_id",
)


class ToyConfig(BaseModel):
    """Rows to simulate and where to register."""

    model_config = ConfigDict(extra="forbid")

    rows: int = 3000
    seed: int = 1
    registry: RegistryConfig = RegistryConfig(model_name="toy", experiment="toy")


def _matrix(rows: Rows) -> np.ndarray:
    frame = rows_frame(rows)
    return np.column_stack([frame["size"].astype(float), (frame["colour"] == "red").astype(float)])


@dataclass
class ToyModel:
    """Logistic regression on size and colour."""

    regression: LogisticRegression

    @property
    def input_contract(self) -> InputContract:
        return CONTRACT

    @property
    def output_fields(self) -> tuple[OutputField, ...]:
        return (OutputField("verdict", "text", "likely or unlikely", csv_name="verdict"),)

    def score(
        self, rows: Rows, explain: bool = False, related: Mapping[str, Rows] | None = None
    ) -> dict[str, Any]:
        matrix = _matrix(rows)
        probability = self.regression.predict_proba(matrix)[:, 1]
        reasons = empty_reasons(len(matrix))
        if explain:
            contributions = matrix * self.regression.coef_[0]
            names = ["size", "colour_red"]
            reasons = [
                top_reasons(
                    c, names, dict(zip(names, m, strict=True)), {}, lambda n, v: f"{v:g}", "la cote", 2
                )
                for c, m in zip(contributions, matrix, strict=True)
            ]
        verdict = np.where(probability >= 0.5, "likely", "unlikely").tolist()
        return {"probability": probability, "verdict": verdict, "reasons": reasons}

    def feature_importance(self) -> pd.Series:
        return pd.Series(np.abs(self.regression.coef_[0]), index=["size", "colour_red"])


def _simulate(config: ToyConfig) -> pd.DataFrame:
    rng = np.random.default_rng(config.seed)
    size = rng.uniform(0, 100, config.rows)
    red = rng.random(config.rows) < 0.5
    oracle = 1 / (1 + np.exp(-(size - 50) / 10 - 1.5 * red))
    return pd.DataFrame(
        {
            "row_id": [f"T{i}" for i in range(config.rows)],
            "size": size,
            "colour": np.where(red, "red", "blue"),
            "label": (rng.random(config.rows) < oracle).astype(float),
            "oracle_probability": oracle,
        }
    )


@dataclass
class ToyJob:
    config: ToyConfig
    dataset: pd.DataFrame
    label: str = "label"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def registration(self) -> Registration:
        return self.config.registry.registration()

    def split(self) -> Split:
        n = len(self.dataset)
        a, b = int(n * 0.6), int(n * 0.8)
        data = self.dataset
        return Split(data.iloc[:a], data.iloc[a:b], data.iloc[b:], "ordered", "first 60/20/20 %")

    def fit(self, split: Split) -> tuple[ScoringModel, FitInfo]:
        model = ToyModel(LogisticRegression().fit(_matrix(split.train), split.train["label"]))
        return model, FitInfo(best_iteration=1, calibrated=False, brier_raw=0.0, brier_calibrated=0.0)

    def evaluate(self, model: ScoringModel, split: Split) -> Evaluation:
        test = split.test
        scores = np.asarray(model.score(test)["probability"])
        labels = test["label"].to_numpy()
        metrics = {"roc_auc": float(roc_auc_score(labels, scores)), "n_rows": float(len(test))}
        holdout = test[["row_id", "size", "colour"]].reset_index(drop=True)
        return Evaluation(metrics, labels, scores, test["oracle_probability"].to_numpy(), holdout, labels)

    def comparison_metric(self, labels: np.ndarray, scores: np.ndarray) -> float:
        return float(roc_auc_score(labels, scores))

    def card(
        self, model: ScoringModel, evaluation: Evaluation, split: Split, info: FitInfo, run_id: str
    ) -> str:
        return f"# Model card: toy (SYNTHETIC)\n\nROC AUC {evaluation.metrics['roc_auc']:.3f}, run {run_id}."

    def input_example(self, split: Split) -> pd.DataFrame:
        return split.test[["row_id", "size", "colour"]].head(5).reset_index(drop=True)


class ToyFamily:
    name = "toy"
    config_type = ToyConfig

    def build_dataset(self, config: ToyConfig, data: DataAccess) -> pd.DataFrame:
        return _simulate(config)

    def jobs(self, config: ToyConfig, dataset: pd.DataFrame, data: DataAccess) -> list[TrainingJob]:
        return [ToyJob(config, dataset, tags={"model": "toy"})]

    def registrations(self, config: ToyConfig) -> list[Registration]:
        return [config.registry.registration()]


FAMILY = ToyFamily()
