"""The `apprenticeship_host` jobs: get the records, build the dataset, train, evaluate, register.

Each function is a step with its I/O at this edge; the modelling itself lives in `models/`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PyFuncModel

from models.apprenticeship_host.card import host_model_card
from models.apprenticeship_host.dataset import LABEL, SNAPSHOT_COLUMNS, build_host_datasets
from models.apprenticeship_host.pyfunc import HostPyfuncModel
from models.apprenticeship_host.training import fit_host_model, split_by_cutoff
from models.contracts import APPRENTICESHIP_CONTRACTS, COMPANIES, ValidationReport
from models.evaluation import evaluate_against_oracle
from models.reference import Reference
from models.simulation.chamber import SimulatedChamber, simulate_chamber
from pipelines.config import HostPipelineConfig
from pipelines.io import read_validated, write_table
from pipelines.mlflow_logging import TrainResult as TrainResult
from pipelines.mlflow_logging import (
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


@dataclass(frozen=True)
class ChamberRecords:
    """A chamber's companies and contracts, with the simulator's oracle when synthetic."""

    companies: pd.DataFrame
    contracts: pd.DataFrame
    oracle: pd.DataFrame | None
    reports: tuple[ValidationReport, ...] = ()


def write_chamber(chamber: SimulatedChamber, directory: Path, fmt: str = "parquet") -> list[Path]:
    """Write a simulated chamber (companies, contracts, oracle) as Parquet or CSV files."""
    return [
        write_table(chamber.companies, directory / f"companies.{fmt}"),
        write_table(chamber.contracts, directory / f"contracts.{fmt}"),
        write_table(chamber.company_years, directory / f"oracle.{fmt}"),
    ]


def load_records(config: HostPipelineConfig, reference: Reference, quarantine_dir: Path) -> ChamberRecords:
    """The chamber's records: simulated from the config, or read and validated from its files."""
    if config.data.source == "simulate":
        chamber = simulate_chamber(reference, config.simulation)
        return ChamberRecords(chamber.companies, chamber.contracts, chamber.company_years)
    assert config.data.companies is not None and config.data.contracts is not None
    companies, rep1 = read_validated(config.data.companies, COMPANIES, reference, quarantine_dir)
    contracts, rep2 = read_validated(
        config.data.contracts, APPRENTICESHIP_CONTRACTS, reference, quarantine_dir
    )
    return ChamberRecords(companies, contracts, None, (rep1, rep2))


def build_dataset(records: ChamberRecords, cutoffs: list[date]) -> pd.DataFrame:
    """Point-in-time company-years for every cut-off, with the oracle joined when known."""
    dataset = build_host_datasets(records.companies, records.contracts, cutoffs)
    if records.oracle is None:
        return dataset
    oracle = records.oracle[["siret", "cutoff_date", ORACLE]]
    return dataset.merge(oracle, on=["siret", "cutoff_date"], how="left", validate="one_to_one")


def evaluate_scores(test: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    """Metrics on the test rows, next to the oracle's when the data is simulated."""
    oracle = test[ORACLE].to_numpy() if ORACLE in test and test[ORACLE].notna().all() else None
    return evaluate_against_oracle(test[LABEL].to_numpy(), scores, oracle)


def _describe_data(dataset: pd.DataFrame, config: HostPipelineConfig, splits: dict[str, pd.DataFrame]) -> str:
    kind = (
        f"SYNTHETIC records from the chamber simulator (seed {config.simulation.seed}, "
        f"{config.simulation.n_companies:,} companies), calibrated on published figures: see "
        "data_samples/apprenticeship_host/DATASHEET.md."
        if config.data.source == "simulate"
        else f"Chamber files {config.data.companies} and {config.data.contracts}."
    )
    lines = [kind, "", "| split | cut-offs | company-years | hosting rate |", "|---|---|---|---|"]
    for name, frame in splits.items():
        cut = ", ".join(sorted({str(d.date()) for d in pd.to_datetime(frame["cutoff_date"].unique())}))
        lines.append(f"| {name} | {cut} | {len(frame):,} | {frame[LABEL].mean():.3f} |")
    return "\n".join(lines)


def train_and_register(
    dataset: pd.DataFrame, config: HostPipelineConfig, reference: Reference
) -> TrainResult:
    """Fit on the time split, evaluate on the last cut-off, log everything to MLflow, register, promote."""
    train, valid, test = split_by_cutoff(dataset)
    experiment_id = ensure_experiment(config.registry.experiment)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.set_tags({"model": config.registry.model_name, "data_source": config.data.source})
        splits = {"train": train, "validation": valid, "test": test}
        log_config_and_splits(config.model_dump(mode="json"), splits, LABEL, "apprenticeship_host")
        model, info = fit_host_model(train, valid, reference, config.lightgbm, config.calibration)
        scores = model.predict_proba(test)
        metrics = evaluate_scores(test, scores)
        log_test_metrics(metrics)
        mlflow.log_metrics(fit_metrics(info))
        oracle = test[ORACLE].to_numpy() if ORACLE in test else None
        log_evaluation_plots(test[LABEL].to_numpy(), scores, oracle, model.feature_importance())
        test_cut = str(pd.Timestamp(test["cutoff_date"].iloc[0]).date())
        card = host_model_card(
            metrics,
            data_description=_describe_data(dataset, config, splits),
            evaluation_note=(
                f"Time split: trained on the earlier cut-offs, early stopping and calibration on the "
                f"second-to-last, tested on the last ({test_cut}, {len(test):,} companies). " + fit_note(info)
            ),
            version_note=f"MLflow run `{run.info.run_id}`.",
        )
        logged = log_model_with_card(HostPyfuncModel(model), snapshot_example(test), card)
        metric = config.registry.promote_metric

        def score_champion(champion: PyFuncModel) -> float:
            champion_scores = pd.DataFrame(champion.predict(test[list(SNAPSHOT_COLUMNS)]))["probability"]
            return evaluate_scores(test, champion_scores.to_numpy())[metric]

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


def snapshot_example(frame: pd.DataFrame, rows: int = 5) -> pd.DataFrame:
    """A few snapshot rows as the model's input example (history counts are integers, required)."""
    return frame[list(SNAPSHOT_COLUMNS)].head(rows).reset_index(drop=True)


def evaluate_model(model_uri: str, dataset: pd.DataFrame) -> dict[str, float]:
    """Score the last cut-off of `dataset` with a registered model and compute its metrics."""
    last = dataset["cutoff_date"].max()
    test = dataset[dataset["cutoff_date"] == last].reset_index(drop=True)
    model = mlflow.pyfunc.load_model(model_uri)
    scores = pd.DataFrame(model.predict(test[list(SNAPSHOT_COLUMNS)]))["probability"].to_numpy()
    return evaluate_scores(test, scores)
