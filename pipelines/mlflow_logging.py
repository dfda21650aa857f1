"""MLflow logging shared by every model's training job: params, datasets, metrics, plots, the hyperparameter
search's trials, model + card."""

from __future__ import annotations

import re
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import ModelSignature, infer_signature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PyFuncModel, PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema, TensorSpec

import models
from models.gates import gates_summary
from models.interface import Registration
from models.search import SearchResult
from pipelines import plots
from pipelines.registry import GATES_TAG, PromotionDecision, Publication, register_and_promote


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    run_id: str
    model_uri: str
    metrics: dict[str, float]
    decision: PromotionDecision
    best_iteration: int
    calibrated: bool
    model: Any = None  # the fitted model in process (the registry holds its copy)
    name: str = ""  # the registered name
    evaluation_method: str = ""  # how the rows were split (a sentence)
    tables: dict[str, pd.DataFrame] | None = None  # the evaluation's tables (by group, by section...)


def flatten(prefix: str, tree: Any) -> dict[str, Any]:
    """Nested dict to `a.b.c` keys (for MLflow params)."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else str(key), value))
        return out
    return {prefix: tree}


def log_config_and_splits(
    config: Mapping[str, Any], splits: Mapping[str, pd.DataFrame], label: str, name: str
) -> None:
    """Log the flattened configuration (as `config.<key>`: the names an MLproject entry point logs for its
    own parameters stay its own), and each split as an MLflow dataset input with its row count."""
    params = flatten("config", dict(config))
    # MLflow params are capped at 6,000 characters each; long lists (actions) are truncated here.
    mlflow.log_params({re.sub(r"[^\w./\- :]", "_", k): str(v)[:500] for k, v in params.items()})
    for split, frame in splits.items():
        mlflow.log_input(from_pandas(frame.head(5000), name=f"{name}_{split}", targets=label), context=split)
        mlflow.log_metric(f"{split}_rows", len(frame))


def log_test_metrics(metrics: Mapping[str, float]) -> None:
    """Log test metrics as `test_<name>`."""
    mlflow.log_metrics({f"test_{k}": float(v) for k, v in metrics.items() if np.isfinite(v)})


def log_evaluation_plots(
    labels: np.ndarray, scores: np.ndarray, oracle: np.ndarray | None, importance: pd.Series
) -> None:
    """ROC, calibration, cumulative gains and feature importance plots, under `plots/`."""
    for fname, fig in (
        ("plots/roc.png", plots.roc_figure(labels, scores, oracle)),
        ("plots/calibration.png", plots.calibration_figure(labels, scores, oracle)),
        ("plots/cumulative_gains.png", plots.gains_figure(labels, scores, oracle)),
        ("plots/feature_importance.png", plots.importance_figure(importance)),
    ):
        mlflow.log_figure(fig, fname)
        plt.close(fig)


def log_model_with_card(python_model: PythonModel, example: pd.DataFrame, card: str) -> ModelInfo:
    """Log a pyfunc model with signature, input example, its `models/` code and the model card."""
    mlflow.log_text(card, "model_card.md")
    with warnings.catch_warnings():
        # Integer counts are integers on purpose: a missing count is an input error, not a NaN.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(example, python_model.predict(None, example), params={"explain": True})
        contract = getattr(getattr(python_model, "model", None), "input_contract", None)
        if contract is not None and contract.lenient:
            # A centre's own rows, as its export writes them (stray spaces in names, integer-coded
            # categories, Int64 or text numbers): the model reads them itself, MLflow checks no type.
            columns: list[ColSpec | TensorSpec] = [
                ColSpec(AnyType(), f.name, required=False) for f in contract.fields
            ]
            signature = ModelSignature(Schema(columns), signature.outputs, signature.params)
        logged = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            signature=signature,
            input_example=example,
            code_paths=[str(Path(models.__file__).resolve().parent)],
            pip_requirements=[
                f"mlflow=={mlflow.__version__}",
                f"lightgbm=={lightgbm.__version__}",
                f"scikit-learn=={sklearn.__version__}",
                f"pandas=={pd.__version__}",
                f"numpy=={np.__version__}",
            ],
        )
    with tempfile.TemporaryDirectory() as tmp:
        card_path = Path(tmp) / "model_card.md"
        card_path.write_text(card, encoding="utf-8")
        mlflow.log_artifact(str(card_path), artifact_path="model")
    return logged


def fit_metrics(info: Any) -> dict[str, float]:
    """What fitting decided, as run metrics (with the early-stopped booster's validation log loss and AUC,
    what the hyperparameter search judges a fit by, when the fit reports them)."""
    metrics = {
        "best_iteration": float(info.best_iteration),
        "calibrated": float(info.calibrated),
        "validation_brier_raw": float(info.brier_raw),
        "validation_brier_calibrated": float(info.brier_calibrated),
    }
    for name in ("log_loss", "roc_auc"):
        value = float(getattr(info, f"valid_{name}", np.nan))
        if np.isfinite(value):
            metrics[f"validation_{name}"] = value
    return metrics


def log_search(search: SearchResult) -> None:
    """The hyperparameter search: its trials as the table `search/trials.json` (number, params, value,
    duration), the best and the configured parameters' validation values and the trial count as metrics,
    the chosen parameters as params `search.best.<name>`."""
    mlflow.log_table(search.table(), "search/trials.json")
    mlflow.log_metrics(
        {
            "search_best_value": search.best.value,
            "search_default_value": search.configured.value,
            "search_trials": float(search.n_searched),
            "search_seconds": search.elapsed_seconds,
        }
    )
    mlflow.log_params({f"search.best.{name}": value for name, value in search.best.params.items()})


def register_logged_model(
    run_id: str,
    logged: ModelInfo,
    info: Any,
    metrics: dict[str, float],
    registration: Registration,
    new_score: float,
    score_champion: Callable[[PyFuncModel], float],
    card: str,
    publication: Publication | None = None,
    challenger: bool = False,
) -> TrainResult:
    """Register the run's model (with the digest of its artifacts, which the service checks at load), move
    the alias if it beats the champion on the same rows and passes the publication gates (with
    `challenger`: give it the alias `challenger` instead, champion unmoved), tag the run (`promoted`, the
    alias it took if any, and `cma.gates`: passed, or the gates it failed)."""
    decision = register_and_promote(
        logged.model_uri,
        registration.model_name,
        new_score,
        score_champion,
        alias=registration.alias,
        description=card,
        metric_name=registration.promote_metric,
        publication=publication,
        challenger=challenger,
    )
    tags = {"registered_version": decision.version, "promoted": str(decision.promoted)}
    if decision.alias is not None:
        tags["registered_alias"] = decision.alias
    if decision.gates:
        tags[GATES_TAG] = gates_summary(decision.gates)
    mlflow.set_tags(tags)
    return TrainResult(
        run_id=run_id,
        model_uri=logged.model_uri,
        metrics=metrics,
        decision=decision,
        best_iteration=info.best_iteration,
        calibrated=info.calibrated,
    )
