"""Fit the `apprenticeship_host` model on point-in-time snapshots (pure: frames in, model out)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss

from models.apprenticeship_host.dataset import LABEL
from models.apprenticeship_host.features import (
    CATEGORICAL_FEATURES,
    FEATURES,
    MONOTONE_INCREASING,
    HostFeatureEncoder,
)
from models.apprenticeship_host.model import HostModel
from models.estimator import CalibrationParams, LightGBMParams
from models.reference import Reference

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitInfo:
    """What fitting decided: rounds kept, whether calibration was applied, and why."""

    best_iteration: int
    calibrated: bool
    brier_raw: float
    brier_calibrated: float
    details: dict[str, float] = field(default_factory=dict)


def split_by_cutoff(dataset: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Time split: train on the earlier cut-offs, validate on the one before last, test on the last."""
    cutoffs = sorted(dataset["cutoff_date"].unique())
    if len(cutoffs) < 3:
        raise ValueError(f"a time split needs at least 3 cut-off dates, got {len(cutoffs)}")
    train = dataset[dataset["cutoff_date"].isin(cutoffs[:-2])]
    valid = dataset[dataset["cutoff_date"] == cutoffs[-2]]
    test = dataset[dataset["cutoff_date"] == cutoffs[-1]]
    return train.reset_index(drop=True), valid.reset_index(drop=True), test.reset_index(drop=True)


def _halves(frame: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split rows in two halves by a hash of the company id (stable, no company in both)."""
    hashed = pd.util.hash_pandas_object(frame["siret"].astype(str), index=False, hash_key=f"{seed:016d}"[:16])
    first = (hashed.to_numpy() % 2) == 0
    return np.flatnonzero(first), np.flatnonzero(~first)


def fit_host_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    reference: Reference,
    params: LightGBMParams | None = None,
    calibration: CalibrationParams | None = None,
) -> tuple[HostModel, FitInfo]:
    """Fit encoder, booster (early stopping on half of `valid`) and, when it helps, an isotonic calibrator.

    The other half of `valid` fits the calibrator; the early-stopping half decides whether to keep it.
    """
    params = params or LightGBMParams()
    calibration = calibration or CalibrationParams()
    encoder = HostFeatureEncoder().fit(train, reference)
    x_train = encoder.transform(train)
    x_valid = encoder.transform(valid)
    y_train = train[LABEL].to_numpy()
    y_valid = valid[LABEL].to_numpy()
    stop_rows, calib_rows = _halves(valid, params.seed)

    booster_params = params.booster_params()
    if params.monotone_history:
        booster_params["monotone_constraints"] = [1 if f in MONOTONE_INCREASING else 0 for f in FEATURES]
        booster_params["monotone_constraints_method"] = "advanced"
    categorical = [FEATURES.index(c) for c in CATEGORICAL_FEATURES]
    dtrain = lgb.Dataset(x_train, y_train, feature_name=list(FEATURES), categorical_feature=categorical)
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
    booster = booster if best == booster.current_iteration() else _truncate(booster, best)

    raw_valid = np.asarray(booster.predict(x_valid), dtype=float)
    calibrator: IsotonicRegression | None = None
    brier_raw = float(brier_score_loss(y_valid[stop_rows], raw_valid[stop_rows]))
    brier_cal = brier_raw
    if calibration.method != "none":
        candidate = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        candidate.fit(raw_valid[calib_rows], y_valid[calib_rows])
        brier_cal = float(brier_score_loss(y_valid[stop_rows], candidate.predict(raw_valid[stop_rows])))
        if calibration.method == "isotonic" or brier_raw - brier_cal > calibration.min_brier_gain:
            calibrator = candidate
    logger.info("best iteration %d, brier raw %.5f, calibrated %.5f", best, brier_raw, brier_cal)

    raw_train = np.asarray(booster.predict(x_train), dtype=float)
    train_scores = raw_train if calibrator is None else calibrator.predict(raw_train)
    quantiles = np.quantile(train_scores, np.linspace(0, 1, 1001))
    model = HostModel(encoder=encoder, booster=booster, calibrator=calibrator, score_quantiles=quantiles)
    info = FitInfo(
        best_iteration=int(best),
        calibrated=calibrator is not None,
        brier_raw=brier_raw,
        brier_calibrated=brier_cal,
    )
    return model, info


def _truncate(booster: lgb.Booster, rounds: int) -> lgb.Booster:
    """A booster keeping only its first `rounds` trees (so serving never evaluates discarded trees)."""
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))
