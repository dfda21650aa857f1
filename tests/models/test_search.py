"""The hyperparameter search (`models.search`) on a small booster job: trials within the bounds, reproducible
with its seed for a fixed number of trials, fitted on the training and validation rows of the split given
and never on its test rows; off, the job is left as it is; every family's job can be searched."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.estimator import FitInfo, LightGBMParams, fit_calibrated_booster
from models.interface import Split
from models.model_card import search_section
from models.search import SEARCH_SPACE, SearchParams, SearchResult, search_lightgbm, searched_job

FEATURES = ["x1", "x2", "x3"]


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 0] * x[:, 2]
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["id"] = [f"R{seed}-{i}" for i in range(rows)]
    frame["label"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(float)
    return frame


@pytest.fixture(scope="module")
def split() -> Split:
    return Split(_frame(1200, 1), _frame(600, 2), _frame(400, 3), "ordered", "three draws")


@dataclass
class BoosterJob:
    """The part of a training job the search uses: parameters, settings, a fit that records its split."""

    lightgbm: LightGBMParams
    search: SearchParams
    seen: list[Split] = field(default_factory=list)

    def with_lightgbm(self, params: LightGBMParams) -> BoosterJob:
        return replace(self, lightgbm=params)  # the same `seen` list

    def fit(self, split: Split) -> tuple[Any, FitInfo]:
        self.seen.append(split)
        train, valid = split.train, split.valid
        return fit_calibrated_booster(
            train[FEATURES].to_numpy(),
            train["label"].to_numpy(),
            valid[FEATURES].to_numpy(),
            valid["label"].to_numpy(),
            valid_ids=valid["id"],
            feature_names=FEATURES,
            categorical=[],
            params=self.lightgbm,
        )


PARAMS = LightGBMParams(max_rounds=150, early_stopping_rounds=10, min_data_in_leaf=20, num_leaves=15, seed=5)


def _search(split: Split, **settings: Any) -> tuple[SearchResult, BoosterJob]:
    job = BoosterJob(PARAMS, SearchParams(enabled=True, **settings))
    return search_lightgbm(job, split), job  # type: ignore[arg-type]


def _within(params: dict[str, float]) -> bool:
    return all(SEARCH_SPACE[k].low <= v <= SEARCH_SPACE[k].high for k, v in params.items())


def test_trials_stay_within_the_bounds_and_never_see_the_test_rows(split: Split) -> None:
    result, job = _search(split, n_trials=4, time_budget_seconds=60)
    assert result.n_searched == 4 and [t.number for t in result.trials] == [0, 1, 2, 3, 4]
    assert result.configured.params == {k: getattr(PARAMS, k) for k in SEARCH_SPACE}
    assert all(set(t.params) == set(SEARCH_SPACE) and _within(t.params) for t in result.trials)
    assert _within(result.best.params)
    assert result.best.value == min(t.value for t in result.trials), "log loss: lower is better"
    kept = {k: v for k, v in result.params.model_dump().items() if k not in SEARCH_SPACE}
    assert kept == {k: v for k, v in PARAMS.model_dump().items() if k not in SEARCH_SPACE}
    assert result.params.model_dump() == {**PARAMS.model_dump(), **result.best.params}
    assert len(job.seen) == 5
    for seen in job.seen:
        assert seen.train is split.train and seen.valid is split.valid
        assert len(seen.test) == 0, "a trial never gets a test row"


def test_the_same_seed_and_number_of_trials_give_the_same_search(split: Split) -> None:
    first, _ = _search(split, n_trials=3, time_budget_seconds=60, seed=7)
    again, _ = _search(split, n_trials=3, time_budget_seconds=60, seed=7)
    other, _ = _search(split, n_trials=3, time_budget_seconds=60, seed=8)
    assert [(t.params, t.value) for t in first.trials] == [(t.params, t.value) for t in again.trials]
    assert first.best == replace(again.best, duration_seconds=first.best.duration_seconds)
    assert [t.params for t in first.trials[1:]] != [t.params for t in other.trials[1:]]


def test_auc_is_maximised(split: Split) -> None:
    result, _ = _search(split, n_trials=3, time_budget_seconds=60, metric="roc_auc")
    assert result.best.value == max(t.value for t in result.trials)
    assert 0.5 < result.configured.value <= 1


def test_a_budget_spent_by_the_configured_fit_keeps_the_configured_parameters(split: Split) -> None:
    result, _ = _search(split, time_budget_seconds=1e-6)
    assert result.n_searched == 0 and result.best is result.configured and result.params == PARAMS
    table = result.table()
    assert list(table.columns) == ["number", "params", "value", "duration_seconds"] and len(table) == 1
    assert "0 trials" in search_section(result) and "config's parameters are kept" in search_section(result)


def test_the_card_says_when_the_search_did_not_run_and_what_it_chose(split: Split) -> None:
    assert search_section(None).startswith("Not run: the LightGBM parameters are the defaults from the")
    result, _ = _search(split, n_trials=2, time_budget_seconds=60)
    text = search_section(result)
    assert "budget of 60 s, at most 2 trials: 2 trials" in text and "never entered the search" in text
    assert f"{result.configured.value:.4f} with the config's parameters" in text
    assert all(f"| `{name}` |" in text for name in SEARCH_SPACE)


def _jobs() -> list[Any]:
    """One job of every family (not fitted: enough to check the search's face)."""
    from models.apprenticeship_host.config import HostPipelineConfig
    from models.apprenticeship_host.training import HostJob
    from models.dropout_risk.config import DropoutPipelineConfig
    from models.dropout_risk.extract import ExtractJob, ExtractPipelineConfig
    from models.dropout_risk.training import DropoutJob
    from models.site_potential.config import SitePipelineConfig
    from models.site_potential.training import SurvivalJob
    from pipelines.config import load_config

    samples = Path(__file__).resolve().parents[2] / "data_samples" / "dropout_risk"
    extract = load_config(ExtractPipelineConfig, samples / "extract_example.yaml")
    empty = pd.DataFrame()
    return [
        HostJob(HostPipelineConfig(), empty, reference=None),  # type: ignore[arg-type]
        DropoutJob(DropoutPipelineConfig(), empty, reference=None),  # type: ignore[arg-type]
        ExtractJob(extract, empty),
        SurvivalJob(SitePipelineConfig(), 3, empty, builder=None, reference=None),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("job", _jobs(), ids=lambda j: type(j).__name__)
def test_every_family_is_searchable_and_off_by_default(job: Any, split: Split) -> None:
    from models.search import SearchableJob

    assert isinstance(job, SearchableJob)
    assert not job.search.enabled, "off by default, in the example extract too"
    same, found = searched_job(job, split)
    assert same is job and found is None, "off: the job is left as it is"
    other = job.lightgbm.model_copy(update={"num_leaves": 7})
    changed = job.with_lightgbm(other)
    assert changed.lightgbm == other and job.lightgbm != other and changed.config.search == job.search
