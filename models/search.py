"""The optional hyperparameter search of a training job: an Optuna TPE study over its LightGBM parameters,
within a time budget, each trial fitted on the training rows and judged on the validation rows alone (the
trials get a split with no test row). The configured parameters are fitted first and stay unless a trial
beats them; the chosen ones then train the model exactly as configured ones would.

Off by default (`search.enabled: false`): the runner then fits the job as it is, the same code path and
scores as without this module. Optuna is imported only when a search runs: a served model never needs it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, runtime_checkable

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from models.estimator import FitInfo, LightGBMParams
from models.interface import Split, TrainingJob

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

SearchMetric = Literal["log_loss", "roc_auc"]
METRIC_LABELS: dict[str, str] = {"log_loss": "log loss", "roc_auc": "ROC AUC"}


@dataclass(frozen=True)
class Bounds:
    """The range a parameter is searched in (log scale for the ones that act by orders of magnitude)."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


SEARCH_SPACE: dict[str, Bounds] = {
    "learning_rate": Bounds(0.01, 0.3, log=True),
    "num_leaves": Bounds(7, 255, log=True, integer=True),
    "min_data_in_leaf": Bounds(5, 1000, log=True, integer=True),
    "feature_fraction": Bounds(0.5, 1.0),
    "bagging_fraction": Bounds(0.5, 1.0),
    "lambda_l2": Bounds(1e-3, 100.0, log=True),
    "cat_smooth": Bounds(1.0, 100.0, log=True),
}
"""The searched LightGBM parameters; the others (rounds, early stopping, monotone constraints, seed, threads)
stay as configured."""


class SearchParams(BaseModel):
    """Whether and how long to search the LightGBM parameters (off: the configured ones are used)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    time_budget_seconds: float = Field(
        default=120, gt=0, description="Wall time of the search; a trial started within it runs to its end"
    )
    n_trials: int | None = Field(
        default=None,
        ge=1,
        description="At most this many searched trials (besides the configured parameters); with the seed "
        "and a budget that does not cut it short, the search is reproducible",
    )
    metric: SearchMetric = Field(
        default="log_loss",
        description="What judges a trial on the validation rows: the log loss of its early-stopped booster "
        "(lower is better) or its ROC AUC",
    )
    seed: int = Field(default=42, description="Seed of the TPE sampler")


@dataclass(frozen=True)
class SearchTrial:
    """One fit of the search: number 0 is the configured parameters, then the study's trials."""

    number: int
    params: dict[str, float]
    value: float
    duration_seconds: float


@dataclass(frozen=True)
class SearchResult:
    """What the search tried and chose: `params` train the model."""

    settings: SearchParams
    trials: tuple[SearchTrial, ...]
    best: SearchTrial
    params: LightGBMParams
    elapsed_seconds: float

    @property
    def configured(self) -> SearchTrial:
        """The fit with the configured parameters (the baseline every trial is compared with)."""
        return self.trials[0]

    @property
    def n_searched(self) -> int:
        """Trials besides the configured parameters."""
        return len(self.trials) - 1

    def table(self) -> pd.DataFrame:
        """One row per trial: number, params, value, duration."""
        return pd.DataFrame(
            {
                "number": [t.number for t in self.trials],
                "params": [t.params for t in self.trials],
                "value": [t.value for t in self.trials],
                "duration_seconds": [t.duration_seconds for t in self.trials],
            }
        )


@runtime_checkable
class SearchableJob(TrainingJob, Protocol):
    """A training job whose LightGBM parameters the search may change."""

    @property
    def lightgbm(self) -> LightGBMParams:
        """The configured parameters."""
        ...

    @property
    def search(self) -> SearchParams:
        """The search settings of the config."""
        ...

    def with_lightgbm(self, params: LightGBMParams) -> SearchableJob:
        """The same job, fitting with `params`."""
        ...


class TunedByConfig:
    """The `SearchableJob` side of a training job (a dataclass) whose `config` holds `lightgbm` and
    `search`: what the search reads and the copy it fits with other parameters, written once for every
    family."""

    config: Any

    @property
    def lightgbm(self) -> LightGBMParams:
        """The configured booster parameters."""
        params: LightGBMParams = self.config.lightgbm
        return params

    @property
    def search(self) -> SearchParams:
        """The hyperparameter search settings of the config."""
        settings: SearchParams = self.config.search
        return settings

    def with_lightgbm(self, params: LightGBMParams) -> Self:
        """The same job fitting with `params` (the search's trials and choice)."""
        return replace(self, config=self.config.model_copy(update={"lightgbm": params}))  # type: ignore[type-var]


def searched(params: LightGBMParams) -> dict[str, float]:
    """The searched parameters' values in `params`."""
    return {name: getattr(params, name) for name in SEARCH_SPACE}


def validation_value(info: FitInfo, metric: SearchMetric) -> float:
    """The metric of a fit's early-stopped booster on its validation rows."""
    return info.valid_log_loss if metric == "log_loss" else info.valid_roc_auc


def _suggest(trial: optuna.Trial, name: str, bounds: Bounds) -> float:
    if bounds.integer:
        return trial.suggest_int(name, int(bounds.low), int(bounds.high), log=bounds.log)
    return trial.suggest_float(name, bounds.low, bounds.high, log=bounds.log)


def search_lightgbm(job: SearchableJob, split: Split) -> SearchResult:
    """Search the job's LightGBM parameters on `split`'s training and validation rows (never its test rows)
    within the job's budget; the configured parameters stay unless a trial strictly beats them."""
    import optuna

    settings, configured = job.search, job.lightgbm
    rows = Split(split.train, split.valid, split.test.iloc[:0], split.method, split.description)
    lower = settings.metric == "log_loss"
    started = time.monotonic()

    def fit(params: LightGBMParams) -> float:
        _, info = job.with_lightgbm(params).fit(rows)
        return validation_value(info, settings.metric)

    value = fit(configured)
    baseline = SearchTrial(0, searched(configured), value, time.monotonic() - started)
    if not math.isfinite(baseline.value):
        raise ValueError(f"search: the validation rows give no {METRIC_LABELS[settings.metric]}")

    def objective(trial: optuna.Trial) -> float:
        update = {name: _suggest(trial, name, bounds) for name, bounds in SEARCH_SPACE.items()}
        value = fit(configured.model_copy(update=update))
        logger.info("search trial %d: %s %.5f", trial.number + 1, settings.metric, value)
        return value

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its trial numbers are not ours: this logger's are
    try:
        study = optuna.create_study(
            direction="minimize" if lower else "maximize",
            sampler=optuna.samplers.TPESampler(seed=settings.seed),
        )
        remaining = settings.time_budget_seconds - (time.monotonic() - started)
        if remaining > 0:
            study.optimize(objective, n_trials=settings.n_trials, timeout=remaining)
    finally:
        optuna.logging.set_verbosity(verbosity)
    trials = [baseline] + [
        SearchTrial(t.number + 1, dict(t.params), float(t.value), t.duration.total_seconds())
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None and t.duration is not None
    ]
    best = baseline
    for trial in trials[1:]:
        if (trial.value < best.value) if lower else (trial.value > best.value):
            best = trial
    elapsed = time.monotonic() - started
    logger.info(
        "search: %d trials in %.0f s, best %s %.5f (trial %d) vs %.5f configured",
        len(trials) - 1,
        elapsed,
        settings.metric,
        best.value,
        best.number,
        baseline.value,
    )
    chosen = configured.model_copy(update=best.params)
    return SearchResult(settings, tuple(trials), best, chosen, elapsed)


def searched_job(job: TrainingJob, split: Split) -> tuple[TrainingJob, SearchResult | None]:
    """The job to fit: with the searched parameters when its config enables the search, else as it is."""
    if not isinstance(job, SearchableJob) or not job.search.enabled:
        return job, None
    result = search_lightgbm(job, split)
    return job.with_lightgbm(result.params), result
