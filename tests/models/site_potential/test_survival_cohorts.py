"""Survival across cohorts (issue 14, item 5): a smooth calibration, the level of each cohort, predicted vs
observed by creation cohort; on the real Lyon 4e history, every cohort within 3 points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from catalog.reference import DATA_SAMPLES, load_passage
from models.estimator import (
    CalibrationParams,
    FitInfo,
    LightGBMParams,
    PlattCalibrator,
    fit_calibrated_booster,
)
from models.interface import Evaluation, ScoringModel, Split
from models.site_potential.survival import CohortLevels
from models.site_potential.training import SurvivalJob

LYON_HISTORY = DATA_SAMPLES / "sirene" / "sirene_historique_lyon4e_69384.csv.gz"
LYON_EXTRACT_DATE = "2026-11-05"  # the last period start of the file


def test_platt_calibration_keeps_every_distinct_score() -> None:
    """Isotonic calibration maps ranges of scores to plateaus (12 values on the Lyon 4e test cohort);
    Platt's logistic on the log-odds is increasing: as many distinct scores as the booster gives."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, 3))
    odds = x[:, 0] + 0.5 * x[:, 1] + np.where(np.arange(4000) < 2000, 0.0, 1.0)  # later rows survive more
    y = (rng.uniform(size=4000) < 1 / (1 + np.exp(-odds))).astype(float)
    ids = pd.Series([f"r{i}" for i in range(2000)])
    params = LightGBMParams(num_leaves=7, min_data_in_leaf=20, max_rounds=200, num_threads=1)
    platt = CalibrationParams(method="platt")
    estimator, info = fit_calibrated_booster(
        x[:2000], y[:2000], x[2000:], y[2000:], ids, ["a", "b", "c"], (), params=params, calibration=platt
    )
    assert isinstance(estimator.calibrator, PlattCalibrator) and info.calibrated
    assert info.calibration_method == "Platt" and info.brier_calibrated < info.brier_raw
    raw = np.asarray(estimator.booster.predict(x[2000:]), dtype=float)
    calibrated = estimator.predict(x[2000:])
    assert len(np.unique(calibrated)) == len(np.unique(raw)) > 100
    order = np.argsort(raw)
    assert (np.diff(calibrated[order]) >= 0).all(), "increasing in the raw score"
    assert calibrated.mean() > raw.mean() + 0.1, "the level of the validation rows"


def _cohort(year: int, n: int, survival: float) -> pd.DataFrame:
    survived = np.zeros(n)
    survived[: round(n * survival)] = 1.0
    return pd.DataFrame({"creation_date": pd.Timestamp(f"{year}-06-01"), "survived_3y": survived})


def test_later_cohorts_get_the_level_of_the_recent_ones() -> None:
    train = pd.concat([_cohort(2010, 100, 0.5), _cohort(2011, 100, 0.6), _cohort(2012, 100, 0.7)])
    valid = _cohort(2013, 100, 0.8)
    levels = CohortLevels.fitted(
        np.full(len(train), 0.4), train, np.full(len(valid), 0.4), valid, "survived_3y", recent_cohorts=2
    )
    assert levels.last_trained_year == 2012 and levels.recent_years == (2012, 2013)
    assert levels.later_level == pytest.approx(0.75)
    scores = levels.apply(np.full(4, 0.4), np.array([2005, 2012, 2013, 2030]))
    np.testing.assert_allclose(scores, [0.6, 0.6, 0.75, 0.75], atol=1e-9)


@dataclass
class Trained:
    """One survival job trained on the Lyon 4e history, and what fitting and evaluating it gave."""

    job: SurvivalJob
    split: Split
    model: ScoringModel
    info: FitInfo
    evaluation: Evaluation


@pytest.fixture(scope="module")
def lyon(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Trained]:
    """The two survival jobs trained on the Lyon 4e history as `cma-predict train-site --set
    data.source=files --set data.history=... --set data.extract_date=...` trains them (without MLflow)."""
    from pipelines.ingest import ingest_sirene
    from pipelines.runner import family, load_family_config, pipeline_data

    store = tmp_path_factory.mktemp("lyon4e")
    ingest_sirene(store, load_passage(), history=LYON_HISTORY)
    overrides = [
        "data.source=files",
        f"data.history={LYON_HISTORY}",
        f"data.extract_date={LYON_EXTRACT_DATE}",
    ]
    config = load_family_config("site_potential", None, overrides).model_copy(update={"store": store})
    fam, data = family("site_potential"), pipeline_data(store / "quarantine")
    trained = {}
    for job in fam.jobs(config, fam.build_dataset(config, data), data):
        assert isinstance(job, SurvivalJob)
        split = job.split()
        model, info = job.fit(split)
        trained[job.horizon] = Trained(job, split, model, info, job.evaluate(model, split))
    return trained


@pytest.mark.slow
@pytest.mark.parametrize(("horizon", "last_cohort"), [(3, 2020), (5, 2018)])
def test_lyon_survival_is_within_3_points_of_every_cohort(
    lyon: dict[int, Trained], horizon: int, last_cohort: int
) -> None:
    """Before: calibrated on the validation cohort alone, the 3-year model under-predicted the training
    cohorts 2008-2020 by up to 5.3 points (2020) and gave 12 distinct scores to the 2022 test cohort."""
    trained = lyon[horizon]
    by_cohort = trained.evaluation.tables["by_cohort"].set_index("cohort")
    checked = by_cohort.loc["2008" : str(last_cohort)]
    assert len(checked) == last_cohort - 2008 + 1
    off = checked[checked["gap_points"].abs() > 3.0]
    assert off.empty, off.to_string()
    assert set(by_cohort["split"]) == {"in-sample (training)", "validation", "test"}
    card = trained.job.card(trained.model, trained.evaluation, trained.split, trained.info, "run-id")
    assert "by creation cohort" in card and "in-sample (training)" in card


@pytest.mark.slow
def test_lyon_3_year_scores_are_not_plateaus(lyon: dict[int, Trained]) -> None:
    trained = lyon[3]
    assert trained.split.test["creation_date"].dt.year.unique().tolist() == [2022]
    assert len(np.unique(trained.evaluation.scores)) >= 50
    assert trained.evaluation.metrics["roc_auc"] > 0.6
