"""The training face of `dropout_risk`: a training centre's records (simulated or read) -> contracts at N
weeks -> cohort split -> fit -> evaluation against the oracle, at the alert capacity and by group -> card.
Pure: files come through `DataAccess`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.contracts import COMPANIES, FOLLOW_UP, LEARNERS, TRAINING_CONTRACTS
from models.dropout_risk.card import dropout_model_card
from models.dropout_risk.config import DropoutPipelineConfig
from models.dropout_risk.dataset import LABEL, SNAPSHOT_COLUMNS, build_dropout_dataset
from models.dropout_risk.features import (
    CATEGORICAL_FEATURES,
    FEATURE_LABELS_FR,
    NUMERIC_FEATURES,
    DropoutFeatureBuilder,
)
from models.dropout_risk.model import DropoutModel, FeatureBuilder, RiskBandPolicy, band_thresholds
from models.estimator import (
    CalibrationParams,
    FitInfo,
    LightGBMParams,
    fit_calibrated_booster,
    fit_note,
    split_by_period,
)
from models.evaluation import evaluate_alerts_against_oracle
from models.fairness import group_report, group_report_markdown
from models.interface import DataAccess, Evaluation, Registration, ScoringModel, Split, TrainingJob
from models.reference import Reference
from models.search import TunedByConfig
from models.simulation.training_centre import simulate_training_centre
from models.tabular import TabularEncoder
from models.vocabulary import DIPLOMA_LEVEL, age_band

ORACLE = "oracle_probability"
ORACLE_COLUMNS = {"rupture": "oracle_rupture", "rupture_9m": "oracle_rupture_9m"}


def split_by_cohort(dataset: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Time split on the year of contract_start: train on the earlier cohorts, validate on the one before
    last, test on the last."""
    return split_by_period(dataset, pd.to_datetime(dataset["contract_start"]).dt.year, "yearly cohorts")


def fit_risk_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    builder: FeatureBuilder,
    categorical: Sequence[str],
    numeric: Sequence[str],
    id_column: str,
    label: str,
    policy: RiskBandPolicy | None = None,
    params: LightGBMParams | None = None,
    calibration: CalibrationParams | None = None,
    feature_labels: dict[str, str] | None = None,
) -> tuple[DropoutModel, FitInfo]:
    """Fit features, encoder and calibrated booster; set the risk bands on the validation scores.

    Rows whose label is unknown (NaN: outcome not yet observable) are left out.
    """
    policy = policy or RiskBandPolicy()
    train = train[train[label].notna()]
    valid = valid[valid[label].notna()]
    train_features = builder.build(train)
    encoder = TabularEncoder(categorical, numeric).fit(train_features)
    x_valid = encoder.transform(builder.build(valid))
    estimator, info = fit_calibrated_booster(
        encoder.transform(train_features),
        train[label].to_numpy(dtype=float),
        x_valid,
        valid[label].to_numpy(dtype=float),
        valid_ids=valid[id_column],
        feature_names=encoder.feature_names,
        categorical=categorical,
        params=params,
        calibration=calibration,
    )
    model = DropoutModel(
        features=builder,
        encoder=encoder,
        estimator=estimator,
        thresholds=band_thresholds(estimator.predict(x_valid), policy),
        policy=policy,
        label=label,
        feature_labels=dict(feature_labels or {}),
    )
    return model, info


def fit_dropout_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    reference: Reference,
    prediction_weeks: int,
    policy: RiskBandPolicy | None = None,
    params: LightGBMParams | None = None,
    calibration: CalibrationParams | None = None,
    label: str = LABEL,
) -> tuple[DropoutModel, FitInfo]:
    """`fit_risk_model` with the training-centre features (`DropoutFeatureBuilder`)."""
    return fit_risk_model(
        train,
        valid,
        DropoutFeatureBuilder(reference, prediction_weeks),
        CATEGORICAL_FEATURES,
        NUMERIC_FEATURES,
        id_column="contract_id",
        label=label,
        policy=policy,
        params=params,
        calibration=calibration,
        feature_labels=FEATURE_LABELS_FR,
    )


def dropout_dataset(config: DropoutPipelineConfig, data: DataAccess) -> pd.DataFrame:
    """Contracts running at N weeks with their labels: simulated (SYNTHETIC, the oracle of the configured
    label joined) or built from the centre's files read under their contracts."""
    if config.data.source == "simulate":
        centre = simulate_training_centre(data.reference, config.simulation)
        dataset = build_dropout_dataset(
            centre.learners,
            centre.contracts,
            centre.follow_up,
            centre.companies,
            prediction_weeks=config.prediction_weeks,
            as_of=config.data.as_of,
        )
        column = ORACLE_COLUMNS[config.label]
        oracle = centre.oracle[["contract_id", column]].rename(columns={column: ORACLE})
        return dataset.merge(oracle, on="contract_id", how="left", validate="one_to_one")
    files = config.data
    assert files.learners is not None and files.contracts is not None and files.follow_up is not None
    learners, _ = data.read_validated(files.learners, LEARNERS)
    contracts, _ = data.read_validated(files.contracts, TRAINING_CONTRACTS)
    follow_up, _ = data.read_validated(files.follow_up, FOLLOW_UP)
    companies = data.read_validated(files.companies, COMPANIES)[0] if files.companies is not None else None
    return build_dropout_dataset(
        learners, contracts, follow_up, companies, prediction_weeks=config.prediction_weeks, as_of=files.as_of
    )


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


def oracle_of(frame: pd.DataFrame) -> np.ndarray | None:
    """The simulator's true probabilities of the rows, when every row has one."""
    return frame[ORACLE].to_numpy() if ORACLE in frame and frame[ORACLE].notna().all() else None


@dataclass
class DropoutJob(TunedByConfig):
    """Train `dropout_risk` on the cohort split of its dataset."""

    config: DropoutPipelineConfig
    dataset: pd.DataFrame
    reference: Reference
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The configured label (rupture or rupture_9m)."""
        return self.config.label

    @property
    def registration(self) -> Registration:
        """Name, experiment, alias and promotion metric from the config."""
        return self.config.registry.registration()

    def split(self) -> Split:
        """Train on the earlier cohorts, validate on the one before last, test on the last."""
        train, valid, test = split_by_cohort(self.dataset)
        labelled = int(test[self.label].notna().sum())
        description = (
            "Time split on the year of contract start: trained on the earlier cohorts, early stopping, "
            f"calibration and risk bands on the one before last, tested on the last ({labelled:,} contracts)."
        )
        return Split(train, valid, test, "time", description)

    def fit(self, split: Split) -> tuple[ScoringModel, FitInfo]:
        """Calibrated LightGBM, risk bands on the validation cohort."""
        cfg = self.config
        return fit_dropout_model(
            split.train,
            split.valid,
            self.reference,
            cfg.prediction_weeks,
            cfg.risk_bands,
            cfg.lightgbm,
            cfg.calibration,
            label=cfg.label,
        )

    def evaluate(self, model: ScoringModel, split: Split) -> Evaluation:
        """Metrics next to the oracle (when simulated), at the alert capacity, and the table by group."""
        test = split.test[split.test[self.label].notna()]
        scores = np.asarray(model.score(test)["probability"], dtype=float)
        labels = test[self.label].to_numpy(dtype=float)
        oracle = oracle_of(test)
        capacity = self.config.risk_bands.alert_capacity
        metrics = evaluate_alerts_against_oracle(labels, scores, oracle, capacity)
        assert isinstance(model, DropoutModel)
        groups = group_report(
            labels, scores, group_attributes(test), threshold=model.thresholds[1], oracle=oracle
        )
        metrics["groups_flagged"] = float((groups["flags"] != "").sum())
        holdout = test[list(SNAPSHOT_COLUMNS)].reset_index(drop=True)
        tables = {"groups": groups}
        return Evaluation(metrics, labels, scores, oracle, holdout, labels, tables, holdout_scores=scores)

    def comparison_metric(self, labels: np.ndarray, scores: np.ndarray) -> float:
        """The promotion metric of the config."""
        capacity = self.config.risk_bands.alert_capacity
        return evaluate_alerts_against_oracle(labels, scores, None, capacity)[
            self.registration.promote_metric
        ]

    def card(
        self, model: ScoringModel, evaluation: Evaluation, split: Split, info: FitInfo, run_id: str
    ) -> str:
        """The fullest card: this model affects people."""
        assert isinstance(model, DropoutModel)
        return dropout_model_card(
            evaluation.metrics,
            data_description=self._describe(split),
            evaluation_note=split.description + " " + fit_note(info),
            version_note=f"MLflow run `{run_id}`.",
            policy=model.policy,
            thresholds=model.thresholds,
            groups_markdown=group_report_markdown(evaluation.tables["groups"]),
            prediction_weeks=self.config.prediction_weeks,
            label=self.label,
            search=info.search,
        )

    def input_example(self, split: Split) -> pd.DataFrame:
        """Five contracts of the test cohort."""
        return split.test[list(SNAPSHOT_COLUMNS)].head(5).reset_index(drop=True)

    def _describe(self, split: Split) -> str:
        config = self.config
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
        for name, frame in split.named().items():
            years = pd.to_datetime(frame["contract_start"]).dt.year
            rate = frame[self.label].mean()
            lines.append(f"| {name} | {years.min()}-{years.max()} | {len(frame):,} | {rate:.3f} |")
        return "\n".join(lines)


class DropoutFamily:
    """`dropout_risk`: one job per training run."""

    name = "dropout_risk"
    config_type = DropoutPipelineConfig

    def build_dataset(self, config: DropoutPipelineConfig, data: DataAccess) -> pd.DataFrame:
        """The contracts at N weeks of the config's source."""
        return dropout_dataset(config, data)

    def jobs(
        self, config: DropoutPipelineConfig, dataset: pd.DataFrame, data: DataAccess
    ) -> list[TrainingJob]:
        """One job."""
        tags = {"model": config.registry.model_name, "data_source": config.data.source, "label": config.label}
        return [DropoutJob(config, dataset, data.reference, tags=tags)]

    def registrations(self, config: DropoutPipelineConfig) -> list[Registration]:
        """One registered model."""
        return [config.registry.registration()]


FAMILY = DropoutFamily()
