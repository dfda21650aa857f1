"""Fit the `apprenticeship_host` model on point-in-time snapshots (pure: frames in, model out)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.apprenticeship_host.dataset import LABEL
from models.apprenticeship_host.features import (
    CATEGORICAL_FEATURES,
    FEATURES,
    MONOTONE_INCREASING,
    HostFeatureEncoder,
)
from models.apprenticeship_host.model import HostModel
from models.estimator import (
    CalibrationParams,
    FitInfo,
    LightGBMParams,
    fit_calibrated_booster,
    split_by_period,
)
from models.reference import Reference


def split_by_cutoff(dataset: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Time split: train on the earlier cut-offs, validate on the one before last, test on the last."""
    return split_by_period(dataset, dataset["cutoff_date"], "cut-off dates")


def fit_host_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    reference: Reference,
    params: LightGBMParams | None = None,
    calibration: CalibrationParams | None = None,
) -> tuple[HostModel, FitInfo]:
    """Fit the feature encoder, then the calibrated booster (see `fit_calibrated_booster`)."""
    encoder = HostFeatureEncoder().fit(train, reference)
    x_train = encoder.transform(train)
    estimator, info = fit_calibrated_booster(
        x_train,
        train[LABEL].to_numpy(),
        encoder.transform(valid),
        valid[LABEL].to_numpy(),
        valid_ids=valid["siret"],
        feature_names=FEATURES,
        categorical=CATEGORICAL_FEATURES,
        monotone_increasing=MONOTONE_INCREASING,
        params=params,
        calibration=calibration,
    )
    quantiles = np.quantile(estimator.predict(x_train), np.linspace(0, 1, 1001))
    model = HostModel(encoder=encoder, estimator=estimator, score_quantiles=quantiles)
    return model, info
