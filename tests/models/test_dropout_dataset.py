"""dropout_risk: point-in-time snapshots at N weeks, censoring, and an oracle exact from observables."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.dropout_risk.dataset import LABEL, LABEL_9M, SNAPSHOT_COLUMNS, build_dropout_dataset
from models.dropout_risk.timing import draw_rupture_day, rupture_day_cdf
from models.reference import Reference
from models.simulation.training_centre import (
    SimulatedTrainingCentre,
    TrainingCentreParams,
    signal_logit,
    simulate_training_centre,
    static_rupture_logit,
)

WEEKS = 6


@pytest.fixture(scope="module")
def centre(reference: Reference) -> SimulatedTrainingCentre:
    return simulate_training_centre(reference, TrainingCentreParams(n_contracts=4_000, seed=5))


def _dataset(c: SimulatedTrainingCentre, **kwargs: object) -> pd.DataFrame:
    return build_dropout_dataset(c.learners, c.contracts, c.follow_up, c.companies, WEEKS, **kwargs)  # type: ignore[arg-type]


def test_only_contracts_running_at_the_prediction_date(centre: SimulatedTrainingCentre) -> None:
    ds = _dataset(centre)
    contracts = centre.contracts.set_index("contract_id")
    prediction = contracts["contract_start"] + pd.Timedelta(weeks=WEEKS)
    running = contracts["rupture_date"].isna() | (contracts["rupture_date"] >= prediction)
    assert set(ds["contract_id"]) == set(contracts.index[running])
    assert set(ds["contract_id"]) == set(centre.oracle["contract_id"])


def test_changing_anything_after_the_prediction_date_never_changes_a_feature(
    centre: SimulatedTrainingCentre,
) -> None:
    rng = np.random.default_rng(0)
    before = _dataset(centre)
    future = centre.follow_up["week"] >= WEEKS
    follow_up = centre.follow_up.copy()
    follow_up.loc[future, "absence_half_days"] = rng.integers(0, 10, int(future.sum()))
    follow_up.loc[future, "assessment_score"] = 0.0
    follow_up = pd.concat(
        [follow_up, follow_up[future].assign(week=lambda f: f["week"] + 20)], ignore_index=True
    )
    contracts = centre.contracts.copy()
    late = contracts["rupture_date"] >= contracts["contract_start"] + pd.Timedelta(weeks=WEEKS)
    contracts.loc[late, "rupture_date"] = contracts.loc[late, "planned_end"]
    never = contracts["rupture_date"].isna()
    contracts.loc[never, "rupture_date"] = contracts.loc[never, "planned_end"] - pd.Timedelta(days=1)
    contracts.loc[never, "rupture_initiator"] = "apprenti"
    after = build_dropout_dataset(centre.learners, contracts, follow_up, centre.companies, WEEKS)
    features = list(SNAPSHOT_COLUMNS)
    pd.testing.assert_frame_equal(before[features], after[features])
    assert not before[LABEL].equals(after[LABEL]), "the perturbation reaches the labels"


def test_oracle_is_recomputable_from_the_snapshot(centre: SimulatedTrainingCentre) -> None:
    ds = _dataset(centre).merge(centre.oracle, on="contract_id")
    effects = TrainingCentreParams().effects
    logit = effects.c_late + static_rupture_logit(ds, effects) + signal_logit(ds, WEEKS, effects)
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), ds["oracle_rupture"], rtol=1e-10)
    assert (ds["oracle_rupture_9m"] <= ds["oracle_rupture"] + 1e-12).all()


def test_censored_outcomes_have_no_label(centre: SimulatedTrainingCentre) -> None:
    as_of = date(2021, 6, 30)
    ds = _dataset(centre, as_of=as_of)
    assert (ds["prediction_date"] <= pd.Timestamp(as_of)).all()
    contracts = centre.contracts.set_index("contract_id").loc[ds["contract_id"]]
    open_at_cut = (contracts["planned_end"] >= pd.Timestamp(as_of)) & (
        contracts["rupture_date"].isna() | (contracts["rupture_date"] > pd.Timestamp(as_of))
    )
    assert ds[LABEL].isna().to_numpy().tolist() == open_at_cut.to_numpy().tolist()
    known_9m = ds[LABEL_9M].notna()
    assert known_9m.sum() > ds[LABEL].notna().sum()


def test_timing_draws_follow_their_cdf() -> None:
    rng = np.random.default_rng(1)
    n = 200_000
    length = np.full(n, 730)
    start = np.full(n, 42)
    days = draw_rupture_day(rng, start, length)
    assert days.min() >= 42 and days.max() < 730
    for cut in (91, 182, 274, 365, 600):
        expected = rupture_day_cdf(np.array([cut]), np.array([42]), np.array([730]))[0]
        assert abs((days < cut).mean() - expected) < 0.005
