"""Retrain a risk model on a training centre's own extract, from a file and a YAML config alone."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PyFuncModel

from models.dropout_risk.card import dropout_model_card
from models.dropout_risk.model import DropoutModel
from models.dropout_risk.pyfunc import DropoutPyfuncModel
from models.dropout_risk.training import fit_risk_model
from models.estimator import FitInfo
from models.evaluation import evaluate_alerts_against_oracle
from models.extract import (
    TARGET,
    ExtractFeatureBuilder,
    PreparedExtract,
    cv_folds,
    prepare_extract,
    split_extract,
)
from models.fairness import group_report, group_report_markdown
from pipelines.config import ExtractPipelineConfig
from pipelines.io import read_raw_table
from pipelines.mlflow_logging import (
    TrainResult,
    fit_metrics,
    fit_note,
    log_config_and_splits,
    log_evaluation_plots,
    log_model_with_card,
    log_test_metrics,
    register_logged_model,
)
from pipelines.tracking import ensure_experiment

logger = logging.getLogger(__name__)


def read_extract(path: Path, config: ExtractPipelineConfig) -> PreparedExtract:
    """Read the extract (any of `, ; tab |`, UTF-8 with or without BOM, or Parquet) and check it."""
    return prepare_extract(read_raw_table(path), config.columns, source=path.name)


def _fit(
    train: pd.DataFrame, valid: pd.DataFrame, config: ExtractPipelineConfig
) -> tuple[DropoutModel, FitInfo]:
    roles = config.columns
    return fit_risk_model(
        train,
        valid,
        ExtractFeatureBuilder(roles),
        roles.categorical,
        roles.numeric,
        id_column=roles.identifier,
        label=TARGET,
        policy=config.risk_bands,
        params=config.lightgbm,
        calibration=config.calibration,
        feature_labels={name: name for name in [*roles.categorical, *roles.numeric]},
    )


def _groups(frame: pd.DataFrame, config: ExtractPipelineConfig) -> dict[str, np.ndarray]:
    names = dict.fromkeys([*config.columns.sensitive, *config.columns.report_groups])
    return {name: frame[name].astype(object).to_numpy() for name in names}


def train_extract(path: Path, config: ExtractPipelineConfig) -> tuple[TrainResult, PreparedExtract, str]:
    """Check, split (time, stratified or cross-validation), train, evaluate by group, log and register.

    Returns the training result, the prepared extract (with its notes) and the evaluation method sentence.
    """
    prepared = read_extract(path, config)
    for note in prepared.notes:
        logger.warning("%s: %s", path.name, note)
    data = prepared.frame
    split = split_extract(data, config.columns, config.evaluation)
    roles = config.columns
    experiment_id = ensure_experiment(config.registry.experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=config.name) as run:
        mlflow.set_tags(
            {"model": config.registry.model_name, "data_source": str(path.name), "evaluation": split.method}
        )
        log_config_and_splits(
            config.model_dump(mode="json"),
            {"train": split.train, "validation": split.valid, "test": split.test},
            TARGET,
            config.name,
        )
        method = split.description
        if split.method == "cv":
            metrics, test_frame, test_scores = _cross_validate(data, config)
            model, info = _fit(pd.concat([split.train, split.test]), split.valid, config)
            method = (
                f"{config.evaluation.cv_folds}-fold stratified cross-validation (no date column): metrics "
                "are the mean over folds, the group table uses out-of-fold scores; the registered model is "
                "refit on all rows"
            )
        else:
            model, info = _fit(split.train, split.valid, config)
            test_frame = split.test
            test_scores = model.predict_proba(test_frame)
            metrics = evaluate_alerts_against_oracle(
                test_frame[TARGET].to_numpy(), test_scores, None, config.risk_bands.alert_capacity
            )
        labels = test_frame[TARGET].to_numpy()
        groups = group_report(labels, test_scores, _groups(test_frame, config), threshold=model.thresholds[1])
        metrics["groups_flagged"] = float((groups["flags"] != "").sum())
        log_test_metrics(metrics)
        mlflow.log_metrics(fit_metrics(info))
        log_evaluation_plots(labels, test_scores, None, model.feature_importance())
        mlflow.log_table(groups, "evaluation/groups.json")
        mlflow.log_text("\n".join(prepared.notes) or "no data issue", "evaluation/data_notes.txt")
        notes = "".join(f"\n- {n}" for n in prepared.notes)
        card = dropout_model_card(
            metrics,
            data_description=(
                f"Training-centre extract `{path.name}` ({prepared.n_rows:,} rows, "
                f"{len(data):,} with a known outcome; positive = {roles.target.positive} in "
                f"'{roles.target.column}'). Data notes:{notes or ' none.'}"
            ),
            evaluation_note=f"Evaluation: {method}. " + fit_note(info),
            version_note=f"MLflow run `{run.info.run_id}`, config name `{config.name}`.",
            policy=model.policy,
            thresholds=model.thresholds,
            groups_markdown=group_report_markdown(groups),
            prediction_weeks=0,
            label=TARGET,
            features=[(n, "categorical") for n in roles.categorical]
            + [(n, "numeric") for n in roles.numeric],
            title=f"{config.registry.model_name} (retrained on the extract '{config.name}')",
        )
        example = (
            ExtractFeatureBuilder(roles)
            .build(split.test.head(5))
            .astype({n: object for n in roles.categorical})
            .reset_index(drop=True)
        )
        logged = log_model_with_card(DropoutPyfuncModel(model), example, card)
        metric = config.registry.promote_metric

        def score_champion(champion: PyFuncModel) -> float:
            rows = (
                ExtractFeatureBuilder(roles).build(test_frame).astype({n: object for n in roles.categorical})
            )
            out = pd.DataFrame(champion.predict(rows))
            return evaluate_alerts_against_oracle(
                labels, out["probability"].to_numpy(), None, config.risk_bands.alert_capacity
            )[metric]

        result = register_logged_model(
            run.info.run_id,
            logged,
            info,
            metrics,
            config.registry.model_name,
            metric,
            score_champion,
            card,
            alias=config.registry.champion_alias,
        )
    return result, prepared, method


def _cross_validate(
    data: pd.DataFrame, config: ExtractPipelineConfig
) -> tuple[dict[str, float], pd.DataFrame, np.ndarray]:
    """Mean metrics over stratified folds, with the out-of-fold rows and scores."""
    from sklearn.model_selection import train_test_split

    fold_metrics = []
    parts, scores = [], []
    for fit_idx, test_idx in cv_folds(data, config.evaluation):
        fit_rows, test_rows = data.iloc[fit_idx], data.iloc[test_idx]
        train, valid = train_test_split(
            fit_rows,
            test_size=config.evaluation.validation_share,
            stratify=fit_rows[TARGET],
            random_state=config.evaluation.seed,
        )
        model, _ = _fit(train, valid, config)
        fold_scores = model.predict_proba(test_rows)
        fold_metrics.append(
            evaluate_alerts_against_oracle(
                test_rows[TARGET].to_numpy(), fold_scores, None, config.risk_bands.alert_capacity
            )
        )
        parts.append(test_rows)
        scores.append(fold_scores)
    frame = pd.DataFrame(fold_metrics)
    metrics = {str(k): float(v) for k, v in frame.mean().items()}
    metrics.update({f"{k}_sd": float(frame[k].std()) for k in ("roc_auc", "pr_auc")})
    return metrics, pd.concat(parts, ignore_index=True), np.concatenate(scores)
