"""The estimator shared by the models: LightGBM settings (defaults defined once, here), a binary booster
with early stopping and optional calibration (isotonic, or Platt's logistic on the log-odds). The optional
search of the settings is `models.search`; what it judges a fit by (the early-stopped booster on the
validation rows) is in `FitInfo`."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from models.attribution import PathTable, path_table

if TYPE_CHECKING:
    from models.search import SearchResult

logger = logging.getLogger(__name__)


class LightGBMParams(BaseModel):
    """Booster parameters; early stopping picks the number of rounds on the validation cut-off."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=63, ge=2)
    min_data_in_leaf: int = Field(default=200, ge=1)
    feature_fraction: float = Field(default=0.9, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=1.0, ge=0)
    cat_smooth: float = Field(default=10.0, ge=0)
    max_rounds: int = Field(default=2000, ge=1)
    early_stopping_rounds: int = Field(default=50, ge=1)
    monotone_history: bool = Field(default=True, description="Hosting can only grow with past contracts")
    num_threads: int = Field(default=0, ge=0, description="0 = all cores")
    seed: int = 42

    def booster_params(self) -> dict[str, Any]:
        """Parameters in LightGBM's own names."""
        return {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "cat_smooth": self.cat_smooth,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "verbosity": -1,
        }


class CalibrationParams(BaseModel):
    """Post-hoc calibration: `auto` keeps isotonic calibration only if it lowers the Brier score, `isotonic`
    always applies it; `platt` keeps Platt's logistic regression on the booster's log-odds only if it lowers
    the Brier score (smooth and increasing: every distinct booster score stays distinct, where isotonic
    calibration maps ranges of scores to one plateau)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "isotonic", "platt", "none"] = "auto"
    min_brier_gain: float = Field(default=1e-5, ge=0)


@dataclass(frozen=True)
class FitInfo:
    """What fitting decided: rounds kept, whether calibration was applied, and why; how the early-stopped
    booster (raw) does on the early-stopping half of the validation rows; the search that chose its
    parameters, when one ran (set by the runner)."""

    best_iteration: int
    calibrated: bool
    brier_raw: float
    brier_calibrated: float
    valid_log_loss: float = math.nan
    valid_roc_auc: float = math.nan
    search: SearchResult | None = None
    calibration_method: str = "isotonic"


PROBABILITY_FLOOR = 1e-6
"""Probabilities are kept within [floor, 1 - floor] before taking their log-odds."""


def log_odds(probability: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, bounded away from 0 and 1 by `PROBABILITY_FLOOR`."""
    return np.asarray(logit(np.clip(probability, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)), dtype=float)


@dataclass(frozen=True)
class PlattCalibrator:
    """Platt scaling on the log-odds: p = sigmoid(intercept + slope * logit(raw)). Two parameters, so it
    needs few rows, and smooth: it corrects the level and the spread of the scores without merging any."""

    intercept: float
    slope: float

    @classmethod
    def fitted(cls, raw: np.ndarray, labels: np.ndarray) -> PlattCalibrator:
        """The maximum-likelihood intercept and slope (no penalty) on raw probabilities and 0/1 labels."""
        regression = LogisticRegression(C=np.inf).fit(log_odds(raw).reshape(-1, 1), labels)
        return cls(intercept=float(regression.intercept_[0]), slope=float(regression.coef_[0, 0]))

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw ones."""
        return np.asarray(expit(self.intercept + self.slope * log_odds(raw)), dtype=float)


@dataclass(frozen=True)
class CalibratedBooster:
    """A LightGBM booster and, when it helped (or was asked for), the calibrator applied to its raw scores."""

    booster: lgb.Booster
    calibrator: IsotonicRegression | PlattCalibrator | None

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for an encoded matrix."""
        raw = np.asarray(self.booster.predict(matrix), dtype=float)
        return raw if self.calibrator is None else np.asarray(self.calibrator.predict(raw), dtype=float)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per-feature contributions to the raw log-odds (last column: the bias), by path attribution
        (`models.attribution`): the cost of one prediction, where LightGBM's SHAP costs about 100."""
        return self.paths.contributions(np.asarray(self.booster.predict(matrix, pred_leaf=True)))

    @cached_property
    def paths(self) -> PathTable:
        """The booster's path-attribution table, built on first use (not pickled: see `__getstate__`)."""
        return path_table(self.booster)

    def __getstate__(self) -> dict[str, Any]:
        """The pickled state: the booster and calibrator, not the table derived from them."""
        return {k: v for k, v in self.__dict__.items() if k != "paths"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled (a model loaded from the registry): the table is built now, not by the first request."""
        self.__dict__.update(state)
        _ = self.paths


def split_halves(ids: pd.Series, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split rows in two halves by a hash of an identifier (stable; one id never in both halves)."""
    hashed = pd.util.hash_pandas_object(ids.astype(str), index=False, hash_key=f"{seed:016d}"[:16])
    first = (hashed.to_numpy() % 2) == 0
    return np.flatnonzero(first), np.flatnonzero(~first)


def fit_calibrated_booster(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    valid_ids: pd.Series,
    feature_names: Sequence[str],
    categorical: Sequence[str],
    monotone_increasing: Sequence[str] = (),
    params: LightGBMParams | None = None,
    calibration: CalibrationParams | None = None,
) -> tuple[CalibratedBooster, FitInfo]:
    """Fit a binary LightGBM booster with early stopping, then an isotonic calibrator if it helps (or as
    `calibration.method` says: always isotonic, Platt if it helps, none).

    `valid` is split in two halves by `valid_ids`: one for early stopping (and for judging calibration),
    the other to fit the calibrator, so that no row both fits and judges the calibrator.
    """
    params = params or LightGBMParams()
    calibration = calibration or CalibrationParams()
    names = list(feature_names)
    stop_rows, calib_rows = split_halves(valid_ids, params.seed)
    booster_params = params.booster_params()
    if params.monotone_history and monotone_increasing:
        booster_params["monotone_constraints"] = [1 if f in monotone_increasing else 0 for f in names]
        booster_params["monotone_constraints_method"] = "advanced"
    dtrain = lgb.Dataset(
        x_train, y_train, feature_name=names, categorical_feature=[names.index(c) for c in categorical]
    )
    dstop = lgb.Dataset(x_valid[stop_rows], y_valid[stop_rows], reference=dtrain)
    booster = lgb.train(
        booster_params,
        dtrain,
        num_boost_round=params.max_rounds,
        valid_sets=[dstop],
        valid_names=["validation"],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    best = booster.best_iteration or params.max_rounds
    if best != booster.current_iteration():
        # Keep only the trees early stopping chose, so serving never evaluates discarded trees.
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))

    raw_valid = np.asarray(booster.predict(x_valid), dtype=float)
    calibrator: IsotonicRegression | PlattCalibrator | None = None
    stop_labels, stop_raw = y_valid[stop_rows], raw_valid[stop_rows]
    brier_raw = float(brier_score_loss(stop_labels, stop_raw))
    brier_cal = brier_raw
    if calibration.method == "platt":
        platt = PlattCalibrator.fitted(raw_valid[calib_rows], y_valid[calib_rows])
        brier_cal = float(brier_score_loss(stop_labels, platt.predict(stop_raw)))
        if brier_raw - brier_cal > calibration.min_brier_gain:
            calibrator = platt
    elif calibration.method != "none":
        candidate = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        candidate.fit(raw_valid[calib_rows], y_valid[calib_rows])
        brier_cal = float(brier_score_loss(y_valid[stop_rows], candidate.predict(raw_valid[stop_rows])))
        if calibration.method == "isotonic" or brier_raw - brier_cal > calibration.min_brier_gain:
            calibrator = candidate
    logger.info("best iteration %d, brier raw %.5f, calibrated %.5f", best, brier_raw, brier_cal)
    info = FitInfo(
        best_iteration=int(best),
        calibrated=calibrator is not None,
        brier_raw=brier_raw,
        brier_calibrated=brier_cal,
        valid_log_loss=float(log_loss(stop_labels, stop_raw, labels=[0, 1])),
        valid_roc_auc=(
            float(roc_auc_score(stop_labels, stop_raw)) if len(np.unique(stop_labels)) == 2 else math.nan
        ),
        calibration_method="Platt" if calibration.method == "platt" else "isotonic",
    )
    return CalibratedBooster(booster=booster, calibrator=calibrator), info


def split_by_period(
    dataset: pd.DataFrame, period: pd.Series, what: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Time split on a period per row (cut-off date, cohort year...): train on every period but the last
    two, validate on the one before last, test on the last. `what` names the periods in the error."""
    periods = sorted(period.unique())
    if len(periods) < 3:
        raise ValueError(f"a time split needs at least 3 {what}, got {len(periods)}")
    return (
        dataset[period.isin(periods[:-2]).to_numpy()].reset_index(drop=True),
        dataset[(period == periods[-2]).to_numpy()].reset_index(drop=True),
        dataset[(period == periods[-1]).to_numpy()].reset_index(drop=True),
    )


def fit_note(info: FitInfo) -> str:
    """One sentence for the model card on trees kept and calibration."""
    applied = "applied" if info.calibrated else "not applied (it did not lower the Brier score)"
    return (
        f"Booster kept {info.best_iteration} trees; {info.calibration_method} calibration {applied}: "
        "validation Brier "
        f"{info.brier_raw:.5f} raw vs {info.brier_calibrated:.5f} calibrated."
    )
