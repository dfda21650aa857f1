"""The training face of the site survival models: ingested SIRENE establishments -> creations whose horizon
is observed -> split by creation year -> fit -> evaluation against the oracle, by NAF section (test cohort)
and by creation cohort (every cohort whose horizon is observed, the training ones marked in-sample) -> card;
one job per horizon. Pure: the establishments come through `DataAccess`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.estimator import FitInfo, fit_note
from models.evaluation import evaluate_against_oracle
from models.interface import DataAccess, Evaluation, Registration, ScoringModel, Split, TrainingJob
from models.model_card import metrics_table, search_section
from models.reference import Reference
from models.search import TunedByConfig
from models.site_potential.config import SitePipelineConfig
from models.site_potential.survival import (
    INPUT_COLUMNS,
    SurvivalFeatureBuilder,
    SurvivalModel,
    fit_survival_model,
    label_name,
    sector_of_section,
    split_by_creation_year,
    survival_dataset,
)

MIN_SECTION_ROWS = 2000  # sections smaller than this have a sampling error above 1 point
ESTABLISHMENTS = "establishments.parquet"
ORACLE_FILE = "oracle.parquet"


def observed_by_section(
    test: pd.DataFrame, scores: np.ndarray, label: str, reference: Reference
) -> pd.DataFrame:
    """Mean predicted vs observed survival per NAF section on the test cohort."""
    section = test["naf_code"].map(reference.naf.set_index("naf_code")["section"])
    frame = pd.DataFrame({"section": section, "predicted": scores, "observed": test[label].to_numpy()})
    out = frame.groupby("section").agg(
        n=("observed", "size"), predicted=("predicted", "mean"), observed=("observed", "mean")
    )
    out["gap_points"] = (out["predicted"] - out["observed"]) * 100
    out["sector"] = sector_of_section(out.index.to_series())
    return out.reset_index()


def observed_by_cohort(
    split: Split, model: ScoringModel, label: str, test_scores: np.ndarray
) -> pd.DataFrame:
    """Mean predicted vs observed survival per creation year (`cohort`, as text), for every cohort of the
    split: the training cohorts (in-sample: the booster was fitted on them), the validation one (it fitted
    the calibrator and the level of later cohorts) and the test one (never seen; `test_scores`, already
    computed by the evaluation)."""
    parts = {"in-sample (training)": split.train, "validation": split.valid, "test": split.test}
    frames = []
    for name, rows in parts.items():
        scores = (
            test_scores
            if name == "test"
            else np.asarray(model.score(rows[list(INPUT_COLUMNS)])["probability"], dtype=float)
        )
        frames.append(
            pd.DataFrame(
                {
                    "cohort": pd.to_datetime(rows["creation_date"]).dt.year.astype(str).to_numpy(),
                    "split": name,
                    "predicted": scores,
                    "observed": rows[label].to_numpy(dtype=float),
                }
            )
        )
    out = (
        pd.concat(frames)
        .groupby(["cohort", "split"])
        .agg(n=("observed", "size"), predicted=("predicted", "mean"), observed=("observed", "mean"))
        .reset_index()
    )
    out["gap_points"] = (out["predicted"] - out["observed"]) * 100
    return out


@dataclass
class SurvivalJob(TunedByConfig):
    """Train the survival model of one horizon."""

    config: SitePipelineConfig
    horizon: int
    dataset: pd.DataFrame
    builder: SurvivalFeatureBuilder
    reference: Reference
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`survived_<h>y`."""
        return label_name(self.horizon)

    @property
    def registration(self) -> Registration:
        """`site_survival_<h>y<suffix>` in the site experiment."""
        cfg = self.config
        return Registration(
            cfg.model_name(self.horizon), cfg.experiment, cfg.champion_alias, cfg.promote_metric
        )

    def split(self) -> Split:
        """Train on the earlier creation years, validate on the one before last, test on the last."""
        train, valid, test = split_by_creation_year(self.dataset)
        description = (
            f"Time split by creation year: {len(train):,} training establishments, test on the last observed "
            f"cohort ({len(test):,})."
        )
        return Split(train, valid, test, "time", description)

    def fit(self, split: Split) -> tuple[ScoringModel, FitInfo]:
        """Calibrated LightGBM on the creations whose horizon is observed."""
        cfg = self.config
        return fit_survival_model(
            split.train,
            split.valid,
            self.horizon,
            self.builder,
            cfg.lightgbm,
            cfg.calibration,
            cfg.recent_cohorts,
        )

    def evaluate(self, model: ScoringModel, split: Split) -> Evaluation:
        """Metrics next to the oracle, predicted vs observed survival by NAF section (test cohort) and by
        creation cohort (all of them)."""
        test = split.test
        scores = np.asarray(model.score(test[list(INPUT_COLUMNS)])["probability"], dtype=float)
        labels = test[self.label].to_numpy()
        column = f"oracle_survival_{self.horizon}y"
        oracle = test[column].to_numpy() if column in test and test[column].notna().all() else None
        metrics = evaluate_against_oracle(labels, scores, oracle)
        by_section = observed_by_section(test, scores, self.label, self.reference)
        metrics["max_section_gap_points"] = float(
            by_section.loc[by_section["n"] >= MIN_SECTION_ROWS, "gap_points"].abs().max()
        )
        holdout = test[list(INPUT_COLUMNS)].reset_index(drop=True)
        tables = {"by_section": by_section, "by_cohort": observed_by_cohort(split, model, self.label, scores)}
        return Evaluation(metrics, labels, scores, oracle, holdout, labels, tables, holdout_scores=scores)

    def comparison_metric(self, labels: np.ndarray, scores: np.ndarray) -> float:
        """The promotion metric."""
        return evaluate_against_oracle(labels, scores, None)[self.config.promote_metric]

    def input_example(self, split: Split) -> pd.DataFrame:
        """Five creations of the test cohort."""
        return split.test[list(INPUT_COLUMNS)].head(5).reset_index(drop=True)

    def card(
        self, model: ScoringModel, evaluation: Evaluation, split: Split, info: FitInfo, run_id: str
    ) -> str:
        """Intended use, data, metrics, survival by section and by cohort, limits."""
        cfg, horizon = self.config, self.horizon
        rows = "\n".join(
            f"| {r.section} | {r.sector} | {r.n:,} | {r.predicted:.3f} | {r.observed:.3f} "
            f"| {r.gap_points:+.1f} |"
            for r in evaluation.tables["by_section"].itertuples(index=False)
        )
        cohorts = "\n".join(
            f"| {r.cohort} | {r.split} | {r.n:,} | {r.predicted:.3f} | {r.observed:.3f} "
            f"| {r.gap_points:+.1f} |"
            for r in evaluation.tables["by_cohort"].itertuples(index=False)
        )
        source = (
            "SYNTHETIC SIRENE-format establishments from the simulator "
            "(data_samples/site_potential/DATASHEET.md)"
            if cfg.data.source == "simulate"
            else f"SIRENE files {cfg.data.stock} {cfg.data.history}"
        )
        return f"""# Model card: {cfg.model_name(horizon)}

MLflow run `{run_id}`.

## Intended use
Probability that a new establishment of a given activity (NAF code) created in a given commune is still
active {horizon} years after its creation, for the « Diag Flash » of a business project: an indication for
the advisor and the craftsman, next to the territorial indicators; never a decision to support or not.

## Data
{source}; extract date {cfg.extract_date()}. Only creations whose {horizon}-year horizon is observed are
used (right-censored ones are left out). Time split by creation year: {len(split.train):,} training
establishments, test on the last observed cohort ({len(split.test):,}). {fit_note(info)}

## Evaluation
{metrics_table(evaluation.metrics)}

Mean predicted vs observed survival by NAF section (test cohort):

| section | INSEE sector | n | predicted | observed | gap (points) |
|---|---|---|---|---|---|
{rows}

Mean predicted vs observed survival by creation cohort, every cohort whose {horizon}-year horizon is
observed. {levels_note(model)}

| cohort | split | n | predicted | observed | gap (points) |
|---|---|---|---|---|---|
{cohorts}

## Hyperparameter search
{search_section(info.search)}

## Limits
- Features are those known at creation (activity, commune, territory, competition, year); the project's
  own qualities (funding, experience, legal form) are not in SIRENE and not in the model.
- Real SIRENE files give the current headcount band and activity: they are not used as creation-time
  features, to avoid learning from the future.
"""


def levels_note(model: ScoringModel) -> str:
    """How the model sets the level of a cohort (a sentence for the card)."""
    levels = model.levels if isinstance(model, SurvivalModel) else None
    if levels is None:
        return "The calibrated scores are not shifted by cohort."
    years = ", ".join(str(y) for y in levels.recent_years)
    return (
        f"The training cohorts (up to {levels.last_trained_year}) are in-sample: they show how well the "
        "model reproduces the cohorts it learnt, not how it predicts. A later cohort (the validation one, "
        "the test one, every creation scored today) is predicted at the mean survival of the cohorts "
        f"{years} ({levels.later_level:.1%}); the validation cohort is at that level by construction, the "
        "test cohort is the check."
    )


class SiteFamily:
    """The survival models of the flash diagnostic: one job per horizon."""

    name = "site_potential"
    config_type = SitePipelineConfig

    def build_dataset(self, config: SitePipelineConfig, data: DataAccess) -> pd.DataFrame:
        """The ingested establishments (`config.store`), with the simulator's oracle when there is one."""
        if config.store is None:
            raise ValueError("site_potential: the store folder of the ingested establishments is not set")
        # Sorted: the ingestion writes its rows in an order that varies from run to run (DuckDB works in
        # parallel), and the order of the training rows changes a LightGBM model.
        establishments = data.read_table(config.store / ESTABLISHMENTS).sort_values("siret", kind="stable")
        establishments = establishments.reset_index(drop=True)
        oracle_path = config.store / ORACLE_FILE
        if config.data.source == "simulate" and oracle_path.exists():
            oracle = data.read_table(oracle_path)
            keep = ["siret", *(c for c in oracle.columns if c.startswith("oracle_survival_"))]
            establishments = establishments.merge(oracle[keep], on="siret", how="left")
        return establishments

    def jobs(self, config: SitePipelineConfig, dataset: pd.DataFrame, data: DataAccess) -> list[TrainingJob]:
        """One job per configured horizon."""
        builder = SurvivalFeatureBuilder(data.reference, data.territory())
        jobs: list[TrainingJob] = []
        for horizon in config.horizons:
            rows = survival_dataset(dataset, horizon, config.extract_date(), config.first_creation_year)
            tags = {
                "model": config.model_name(horizon),
                "data_source": config.data.source,
                "horizon": str(horizon),
            }
            jobs.append(SurvivalJob(config, horizon, rows, builder, data.reference, tags=tags))
        return jobs

    def registrations(self, config: SitePipelineConfig) -> list[Registration]:
        """One registered model per horizon."""
        return [
            Registration(
                config.model_name(h), config.experiment, config.champion_alias, config.promote_metric
            )
            for h in config.horizons
        ]


FAMILY = SiteFamily()
