"""The training face of `apprenticeship_host`: records (simulated or read) -> point-in-time dataset -> time
split -> fit -> evaluation against the oracle -> card. Pure: files come through `DataAccess`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.apprenticeship_host.card import host_model_card
from models.apprenticeship_host.config import HostPipelineConfig
from models.apprenticeship_host.dataset import LABEL, SNAPSHOT_COLUMNS, build_host_datasets
from models.apprenticeship_host.features import (
    CATEGORICAL_FEATURES,
    FEATURES,
    MONOTONE_INCREASING,
    HostFeatureEncoder,
)
from models.apprenticeship_host.model import HostModel
from models.contracts import APPRENTICESHIP_CONTRACTS, COMPANIES
from models.estimator import (
    CalibrationParams,
    FitInfo,
    LightGBMParams,
    fit_calibrated_booster,
    fit_note,
    split_by_period,
)
from models.evaluation import evaluate_against_oracle
from models.interface import DataAccess, Evaluation, Registration, ScoringModel, Split, TrainingJob
from models.reference import Reference
from models.search import TunedByConfig
from models.simulation.chamber import simulate_chamber

ORACLE = "oracle_probability"


def split_by_cutoff(dataset: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Time split: train on the earlier cut-offs, validate on the one before last, test on the last."""
    return split_by_period(dataset, dataset["cutoff_date"], "cut-off dates")


def fit_host_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    reference: Reference,
    params: LightGBMParams | None = None,
    calibration: CalibrationParams | None = None,
) -> tuple[HostModel, FitInfo]:
    """Fit the feature encoder, then the calibrated booster (see `fit_calibrated_booster`)."""
    encoder = HostFeatureEncoder().fit(train, reference)
    x_train = encoder.transform(train)
    estimator, info = fit_calibrated_booster(
        x_train,
        train[LABEL].to_numpy(),
        encoder.transform(valid),
        valid[LABEL].to_numpy(),
        valid_ids=valid["siret"],
        feature_names=FEATURES,
        categorical=CATEGORICAL_FEATURES,
        monotone_increasing=MONOTONE_INCREASING,
        params=params,
        calibration=calibration,
    )
    quantiles = np.quantile(estimator.predict(x_train), np.linspace(0, 1, 1001))
    model = HostModel(encoder=encoder, estimator=estimator, score_quantiles=quantiles)
    return model, info


def host_dataset(config: HostPipelineConfig, data: DataAccess) -> pd.DataFrame:
    """Point-in-time company-years for every cut-off: simulated (SYNTHETIC, oracle joined) or built from
    the chamber's files read under their contracts."""
    cutoffs = config.cutoffs()
    if config.data.source == "simulate":
        chamber = simulate_chamber(data.reference, config.simulation)
        dataset = build_host_datasets(chamber.companies, chamber.contracts, cutoffs)
        oracle = chamber.company_years[["siret", "cutoff_date", ORACLE]]
        return dataset.merge(oracle, on=["siret", "cutoff_date"], how="left", validate="one_to_one")
    assert config.data.companies is not None and config.data.contracts is not None
    companies, _ = data.read_validated(config.data.companies, COMPANIES)
    contracts, _ = data.read_validated(config.data.contracts, APPRENTICESHIP_CONTRACTS)
    return build_host_datasets(companies, contracts, cutoffs)


def oracle_of(frame: pd.DataFrame) -> np.ndarray | None:
    """The simulator's true probabilities of the rows, when every row has one."""
    return frame[ORACLE].to_numpy() if ORACLE in frame and frame[ORACLE].notna().all() else None


def snapshot_example(frame: pd.DataFrame, rows: int = 5) -> pd.DataFrame:
    """A few snapshot rows as the model's input example (history counts are integers, required)."""
    return frame[list(SNAPSHOT_COLUMNS)].head(rows).reset_index(drop=True)


@dataclass
class HostJob(TunedByConfig):
    """Train `apprenticeship_host` on the time split of its dataset."""

    config: HostPipelineConfig
    dataset: pd.DataFrame
    reference: Reference
    label: str = LABEL
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def registration(self) -> Registration:
        """Name, experiment, alias and promotion metric from the config."""
        return self.config.registry.registration()

    def split(self) -> Split:
        """Train on the earlier cut-offs, validate on the one before last, test on the last."""
        train, valid, test = split_by_cutoff(self.dataset)
        test_cut = str(pd.Timestamp(test["cutoff_date"].iloc[0]).date())
        description = (
            "Time split: trained on the earlier cut-offs, early stopping and calibration on the "
            f"second-to-last, tested on the last ({test_cut}, {len(test):,} companies)."
        )
        return Split(train, valid, test, "time", description)

    def fit(self, split: Split) -> tuple[ScoringModel, FitInfo]:
        """LightGBM with monotone history constraints, calibrated when it helps."""
        return fit_host_model(
            split.train, split.valid, self.reference, self.config.lightgbm, self.config.calibration
        )

    def evaluate(self, model: ScoringModel, split: Split) -> Evaluation:
        """Metrics on the last cut-off, next to the oracle's when the data is simulated."""
        test = split.test
        scores = model.score(test)["probability"]
        labels = test[LABEL].to_numpy()
        oracle = oracle_of(test)
        metrics = evaluate_against_oracle(labels, scores, oracle)
        holdout = snapshot_example(test, len(test))
        return Evaluation(metrics, labels, scores, oracle, holdout, labels, holdout_scores=scores)

    def comparison_metric(self, labels: np.ndarray, scores: np.ndarray) -> float:
        """The promotion metric of the config."""
        return evaluate_against_oracle(labels, scores, None)[self.registration.promote_metric]

    def card(
        self, model: ScoringModel, evaluation: Evaluation, split: Split, info: FitInfo, run_id: str
    ) -> str:
        """The card: intended use, data by split, metrics next to the oracle, limits."""
        return host_model_card(
            evaluation.metrics,
            data_description=self._describe_data(split),
            evaluation_note=split.description + " " + fit_note(info),
            version_note=f"MLflow run `{run_id}`.",
            search=info.search,
        )

    def input_example(self, split: Split) -> pd.DataFrame:
        """Five snapshots of the test cut-off."""
        return snapshot_example(split.test)

    def _describe_data(self, split: Split) -> str:
        config = self.config
        kind = (
            f"SYNTHETIC records from the chamber simulator (seed {config.simulation.seed}, "
            f"{config.simulation.n_companies:,} companies), calibrated on published figures: see "
            "data_samples/apprenticeship_host/DATASHEET.md."
            if config.data.source == "simulate"
            else f"Chamber files {config.data.companies} and {config.data.contracts}."
        )
        lines = [kind, "", "| split | cut-offs | company-years | hosting rate |", "|---|---|---|---|"]
        for name, frame in split.named().items():
            cut = ", ".join(sorted({str(d.date()) for d in pd.to_datetime(frame["cutoff_date"].unique())}))
            lines.append(f"| {name} | {cut} | {len(frame):,} | {frame[LABEL].mean():.3f} |")
        return "\n".join(lines)


class HostFamily:
    """`apprenticeship_host`: one job per training run."""

    name = "apprenticeship_host"
    config_type = HostPipelineConfig
    dataset_label = LABEL

    def build_dataset(self, config: HostPipelineConfig, data: DataAccess) -> pd.DataFrame:
        """The company-years of the config's source."""
        return host_dataset(config, data)

    def jobs(self, config: HostPipelineConfig, dataset: pd.DataFrame, data: DataAccess) -> list[TrainingJob]:
        """One job."""
        tags = {"model": config.registry.model_name, "data_source": config.data.source}
        return [HostJob(config, dataset, data.reference, tags=tags)]

    def registrations(self, config: HostPipelineConfig) -> list[Registration]:
        """One registered model."""
        return [config.registry.registration()]


FAMILY = HostFamily()
