"""Path attribution (`models.attribution`): exact on the raw score, close to LightGBM's SHAP on the main
reason, and not pickled with the model."""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pytest

from models.attribution import SMALL_GATHER, path_table
from models.estimator import CalibratedBooster


@pytest.fixture(scope="module")
def booster() -> tuple[lgb.Booster, np.ndarray]:
    """A booster with a categorical feature, missing values and one feature that matters most."""
    rng = np.random.default_rng(3)
    n = 4000
    x = np.column_stack(
        [rng.normal(size=n), rng.normal(size=n), rng.integers(0, 6, n).astype(float), rng.normal(size=n)]
    )
    x[rng.random(n) < 0.1, 1] = np.nan
    logit = 2.0 * x[:, 0] + 0.7 * np.nan_to_num(x[:, 1]) + np.where(x[:, 2] == 3, 1.0, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    data = lgb.Dataset(x, y, categorical_feature=[2])
    params = {"objective": "binary", "num_leaves": 15, "verbosity": -1, "seed": 1, "deterministic": True}
    return lgb.train(params, data, num_boost_round=60), x


def test_contributions_add_up_to_the_raw_score(booster: tuple[lgb.Booster, np.ndarray]) -> None:
    model, x = booster
    contributions = path_table(model).contributions(model.predict(x, pred_leaf=True))
    assert contributions.shape == (len(x), x.shape[1] + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), model.predict(x, raw_score=True), atol=1e-9)


def test_the_main_reason_mostly_agrees_with_shap(booster: tuple[lgb.Booster, np.ndarray]) -> None:
    model, x = booster
    ours = path_table(model).contributions(model.predict(x, pred_leaf=True))[:, :-1]
    shap = np.asarray(model.predict(x, pred_contrib=True))[:, :-1]
    agree = np.mean(np.argmax(np.abs(ours), axis=1) == np.argmax(np.abs(shap), axis=1))
    assert agree > 0.85
    # The signs of the main feature's credit agree too (it raises or lowers the score alike).
    main = np.argmax(np.abs(shap), axis=1)
    rows = np.arange(len(x))
    assert np.mean(np.sign(ours[rows, main]) == np.sign(shap[rows, main])) > 0.95


def test_a_tree_of_one_leaf_is_only_bias() -> None:
    x = np.zeros((50, 2))
    model = lgb.train(
        {"objective": "binary", "verbosity": -1, "min_data_in_leaf": 1},
        lgb.Dataset(x, np.r_[np.zeros(25), np.ones(25)]),
        num_boost_round=3,
    )
    contributions = path_table(model).contributions(model.predict(x, pred_leaf=True))
    np.testing.assert_allclose(contributions[:, :-1], 0.0)
    np.testing.assert_allclose(contributions[:, -1], model.predict(x, raw_score=True))


def test_the_table_is_rebuilt_on_load_not_pickled(booster: tuple[lgb.Booster, np.ndarray]) -> None:
    model, x = booster
    estimator = CalibratedBooster(model, None)
    before = estimator.contributions(x[:100])
    state = pickle.dumps(estimator)
    assert len(state) < len(pickle.dumps(model)) + 10_000  # the table (trees x leaves x features) left out
    loaded = pickle.loads(state)
    assert "paths" in loaded.__dict__  # built at load, before the first request
    np.testing.assert_array_equal(loaded.contributions(x[:100]), before)


def test_small_and_large_batches_are_gathered_alike(booster: tuple[lgb.Booster, np.ndarray]) -> None:
    model, x = booster
    table = path_table(model)
    leaves = model.predict(x, pred_leaf=True)
    assert len(x) * table.credits.shape[0] * table.credits.shape[2] > SMALL_GATHER  # the per-tree loop
    whole = table.contributions(leaves)
    by_row = np.vstack([table.contributions(leaves[i : i + 1]) for i in range(50)])  # one gather each
    np.testing.assert_allclose(by_row, whole[:50], rtol=0, atol=1e-12)
