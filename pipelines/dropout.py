"""The `dropout_risk` jobs: get a training centre's records, build the dataset at N weeks, train,
evaluate (overall, at the alert capacity and by group), register."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PyFuncModel

from models.contracts import COMPANIES, FOLLOW_UP, LEARNERS, TRAINING_CONTRACTS, ValidationReport
from models.dropout_risk.card import dropout_model_card
from models.dropout_risk.dataset import LABEL, SNAPSHOT_COLUMNS, build_dropout_dataset
from models.dropout_risk.model import DropoutModel
from models.dropout_risk.pyfunc import DropoutPyfuncModel
from models.dropout_risk.training import fit_dropout_model, split_by_cohort
from models.evaluation import evaluate_alerts_against_oracle
from models.fairness import group_report, group_report_markdown
from models.reference import Reference
from models.simulation.training_centre import SimulatedTrainingCentre, simulate_training_centre
from models.vocabulary import DIPLOMA_LEVEL, age_band
from pipelines.config import DropoutPipelineConfig
from pipelines.io import read_validated, write_table
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
ORACLE = "oracle_probability"
ORACLE_COLUMNS = {"rupture": "oracle_rupture", "rupture_9m": "oracle_rupture_9m"}


@dataclass(frozen=True)
class CentreRecords:
    """A training centre's records, with the simulator's oracle when synthetic."""

    learners: pd.DataFrame
    contracts: pd.DataFrame
    follow_up: pd.DataFrame
    companies: pd.DataFrame | None
    oracle: pd.DataFrame | None
    reports: tuple[ValidationReport, ...] = ()


def write_centre(centre: SimulatedTrainingCentre, directory: Path, fmt: str = "parquet") -> list[Path]:
    """Write a simulated training centre (learners, contracts, follow-up, employers, oracle)."""
    return [
        write_table(centre.learners, directory / f"learners.{fmt}"),
        write_table(centre.contracts, directory / f"contracts.{fmt}"),
        write_table(centre.follow_up, directory / f"follow_up.{fmt}"),
        write_table(centre.companies, directory / f"companies.{fmt}"),
        write_table(centre.oracle, directory / f"oracle.{fmt}"),
    ]


def load_centre_records(
    config: DropoutPipelineConfig, reference: Reference, quarantine_dir: Path
) -> CentreRecords:
    """The centre's records: simulated from the config, or read and validated from its files."""
    if config.data.source == "simulate":
        centre = simulate_training_centre(reference, config.simulation)
        return CentreRecords(
            centre.learners, centre.contracts, centre.follow_up, centre.companies, centre.oracle
        )
    data = config.data
    assert data.learners is not None and data.contracts is not None and data.follow_up is not None
    learners, r1 = read_validated(data.learners, LEARNERS, reference, quarantine_dir)
    contracts, r2 = read_validated(data.contracts, TRAINING_CONTRACTS, reference, quarantine_dir)
    follow_up, r3 = read_validated(data.follow_up, FOLLOW_UP, reference, quarantine_dir)
    reports = [r1, r2, r3]
    companies = None
    if data.companies is not None:
        companies, r4 = read_validated(data.companies, COMPANIES, reference, quarantine_dir)
        reports.append(r4)
    return CentreRecords(learners, contracts, follow_up, companies, None, tuple(reports))


def build_dataset(records: CentreRecords, config: DropoutPipelineConfig) -> pd.DataFrame:
    """Contracts running at N weeks with their labels, and the oracle of the configured label if known."""
    dataset = build_dropout_dataset(
        records.learners,
        records.contracts,
        records.follow_up,
        records.companies,
        prediction_weeks=config.prediction_weeks,
        as_of=config.data.as_of,
    )
    if records.oracle is None:
        return dataset
    oracle = records.oracle[["contract_id", ORACLE_COLUMNS[config.label]]].rename(
        columns={ORACLE_COLUMNS[config.label]: ORACLE}
    )
    return dataset.merge(oracle, on="contract_id", how="left", validate="one_to_one")


def group_attributes(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Attributes of the report by group: sex, age band, diploma level, QPV residence."""
    age = pd.to_datetime(frame["contract_start"]).dt.year - pd.to_numeric(
        frame["birth_year"], errors="coerce"
    )
    return {
        "sexe": frame["sex"].to_numpy(dtype=object),
        "âge": age_band(age.fillna(-1)),
        "niveau de diplôme": frame["diploma"].map(DIPLOMA_LEVEL).fillna("autre").to_numpy(dtype=object),
        "résident QPV": frame["qpv_resident"]
        .astype(str)
        .map({"1": "oui", "0": "non"})
        .to_numpy(dtype=object),
    }


def evaluate_dropout(model: DropoutModel, test: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    """Metrics next to the oracle (when simulated), at the alert capacity, and the table by group."""
    test = test[test[model.label].notna()]
    scores = model.predict_proba(test)
    labels = test[model.label].to_numpy(dtype=float)
    oracle = test[ORACLE].to_numpy() if ORACLE in test and test[ORACLE].notna().all() else None
    metrics = evaluate_alerts_against_oracle(labels, scores, oracle, model.policy.alert_capacity)
    groups = group_report(
        labels, scores, group_attributes(test), threshold=model.thresholds[1], oracle=oracle
    )
    metrics["groups_flagged"] = float((groups["flags"] != "").sum())
    return metrics, groups


def _describe(config: DropoutPipelineConfig, splits: dict[str, pd.DataFrame]) -> str:
    kind = (
        f"SYNTHETIC training-centre records (simulator seed {config.simulation.seed}, "
        f"{config.simulation.n_contracts:,} contracts), calibrated on published figures: see "
        "data_samples/dropout_risk/DATASHEET.md."
        if config.data.source == "simulate"
        else f"Training-centre files {config.data.contracts} (extraction date {config.data.as_of})."
    )
    lines = [
        kind,
        "",
        "| split | contract starts | contracts running at N weeks | rupture rate |",
        "|---|---|---|---|",
    ]
    for name, frame in splits.items():
        years = pd.to_datetime(frame["contract_start"]).dt.year
        rate = frame[config.label].mean()
        lines.append(f"| {name} | {years.min()}-{years.max()} | {len(frame):,} | {rate:.3f} |")
    return "\n".join(lines)


def train_and_register_dropout(
    dataset: pd.DataFrame, config: DropoutPipelineConfig, reference: Reference
) -> TrainResult:
    """Fit on the cohort split, evaluate on the last cohort, log to MLflow, register, promote if better."""
    train, valid, test = split_by_cohort(dataset)
    label = config.label
    experiment_id = ensure_experiment(config.registry.experiment)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.set_tags(
            {"model": config.registry.model_name, "data_source": config.data.source, "label": label}
        )
        splits = {"train": train, "validation": valid, "test": test}
        log_config_and_splits(config.model_dump(mode="json"), splits, label, "dropout_risk")
        model, info = fit_dropout_model(
            train,
            valid,
            reference,
            config.prediction_weeks,
            config.risk_bands,
            config.lightgbm,
            config.calibration,
            label=label,
        )
        metrics, groups = evaluate_dropout(model, test)
        log_test_metrics(metrics)
        mlflow.log_metrics(fit_metrics(info))
        labelled = test[test[label].notna()]
        oracle = labelled[ORACLE].to_numpy() if ORACLE in labelled else None
        log_evaluation_plots(
            labelled[label].to_numpy(dtype=float),
            model.predict_proba(labelled),
            oracle,
            model.feature_importance(),
        )
        mlflow.log_table(groups, "evaluation/groups.json")
        card = dropout_model_card(
            metrics,
            data_description=_describe(config, splits),
            evaluation_note=(
                "Time split on the year of contract start: trained on the earlier cohorts, early stopping, "
                f"calibration and risk bands on the one before last, tested on the last ({len(labelled):,} "
                "contracts). " + fit_note(info)
            ),
            version_note=f"MLflow run `{run.info.run_id}`.",
            policy=model.policy,
            thresholds=model.thresholds,
            groups_markdown=group_report_markdown(groups),
            prediction_weeks=config.prediction_weeks,
            label=label,
        )
        example = test[list(SNAPSHOT_COLUMNS)].head(5).reset_index(drop=True)
        logged = log_model_with_card(DropoutPyfuncModel(model), example, card)
        metric = config.registry.promote_metric

        def score_champion(champion: PyFuncModel) -> float:
            out = pd.DataFrame(champion.predict(labelled[list(SNAPSHOT_COLUMNS)]))
            return evaluate_alerts_against_oracle(
                labelled[label].to_numpy(dtype=float),
                out["probability"].to_numpy(),
                None,
                model.policy.alert_capacity,
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
    return result


def evaluate_dropout_model(model_uri: str, dataset: pd.DataFrame, label: str = LABEL) -> dict[str, float]:
    """Score the last cohort of `dataset` with a registered model (metrics next to the oracle if known)."""
    _, _, test = split_by_cohort(dataset)
    test = test[test[label].notna()]
    model = mlflow.pyfunc.load_model(model_uri)
    scores = pd.DataFrame(model.predict(test[list(SNAPSHOT_COLUMNS)]))["probability"].to_numpy()
    oracle = test[ORACLE].to_numpy() if ORACLE in test and test[ORACLE].notna().all() else None
    return evaluate_alerts_against_oracle(test[label].to_numpy(dtype=float), scores, oracle, 0.15)
