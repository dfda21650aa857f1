"""Behaviour of a trained apprenticeship_host model: directional and invariance checks."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.apprenticeship_host.dataset import build_host_datasets
from models.apprenticeship_host.model import HostModel
from models.apprenticeship_host.training import fit_host_model, split_by_cutoff
from models.estimator import LightGBMParams
from models.reference import Reference
from models.simulation.chamber import SimulatedChamber


@pytest.fixture(scope="module")
def fitted(small_chamber: SimulatedChamber, reference: Reference) -> tuple[HostModel, pd.DataFrame]:
    ds = build_host_datasets(
        small_chamber.companies, small_chamber.contracts, [date(y, 1, 1) for y in range(2020, 2025)]
    )
    train, valid, test = split_by_cutoff(ds)
    model, _ = fit_host_model(train, valid, reference, LightGBMParams(min_data_in_leaf=20, num_leaves=15))
    return model, test


@pytest.mark.parametrize("feature", ["contracts_last_12m", "contracts_last_3y", "contracts_total"])
def test_more_past_contracts_never_lowers_the_score(
    fitted: tuple[HostModel, pd.DataFrame], feature: str
) -> None:
    model, test = fitted
    more = test.assign(**{feature: test[feature] + 1})
    assert np.all(model.predict_proba(more) >= model.predict_proba(test) - 1e-12)


def test_past_hosts_score_higher_on_average(fitted: tuple[HostModel, pd.DataFrame]) -> None:
    model, test = fitted
    scores = model.predict_proba(test)
    hosted = test["contracts_last_12m"].to_numpy() > 0
    assert scores[hosted].mean() > 2 * scores[~hosted].mean()


def test_score_ignores_the_siret(fitted: tuple[HostModel, pd.DataFrame]) -> None:
    model, test = fitted
    renamed = test.assign(siret=test["siret"].iloc[::-1].to_numpy())
    np.testing.assert_array_equal(model.predict_proba(renamed), model.predict_proba(test))


def test_unknown_codes_still_score_as_missing(fitted: tuple[HostModel, pd.DataFrame]) -> None:
    model, test = fitted
    rows = test.head(200)
    unknown = rows.assign(commune_code="00000", naf_code="99.99Z", legal_category="9999")
    missing = rows.assign(commune_code=None, naf_code=None, legal_category=None)
    scores = model.predict_proba(unknown)
    np.testing.assert_array_equal(scores, model.predict_proba(missing))
    assert not np.array_equal(scores, model.predict_proba(rows)), "the codes carried information"


def test_percentiles_are_monotone(fitted: tuple[HostModel, pd.DataFrame]) -> None:
    model, _ = fitted
    pct = model.percentile(np.array([0.0, 0.05, 0.2, 0.9, 1.0]))
    assert np.all(np.diff(pct) >= 0) and pct[0] <= 1 and pct[-1] == 100
