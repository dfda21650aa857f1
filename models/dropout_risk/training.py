"""Fit the `dropout_risk` model on contract snapshots (pure: frames in, model out)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from models.dropout_risk.dataset import LABEL
from models.dropout_risk.features import (
    CATEGORICAL_FEATURES,
    FEATURE_LABELS_FR,
    NUMERIC_FEATURES,
    DropoutFeatureBuilder,
)
from models.dropout_risk.model import DropoutModel, FeatureBuilder, RiskBandPolicy, band_thresholds
from models.estimator import (
    CalibrationParams,
    FitInfo,
    LightGBMParams,
    fit_calibrated_booster,
    split_by_period,
)
from models.reference import Reference
from models.tabular import TabularEncoder


def split_by_cohort(dataset: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Time split on the year of contract_start: train on the earlier cohorts, validate on the one before
    last, test on the last."""
    return split_by_period(dataset, pd.to_datetime(dataset["contract_start"]).dt.year, "yearly cohorts")


def fit_risk_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    builder: FeatureBuilder,
    categorical: Sequence[str],
    numeric: Sequence[str],
    id_column: str,
    label: str,
    policy: RiskBandPolicy | None = None,
    params: LightGBMParams | None = None,
    calibration: CalibrationParams | None = None,
    feature_labels: dict[str, str] | None = None,
) -> tuple[DropoutModel, FitInfo]:
    """Fit features, encoder and calibrated booster; set the risk bands on the validation scores.

    Rows whose label is unknown (NaN: outcome not yet observable) are left out.
    """
    policy = policy or RiskBandPolicy()
    train = train[train[label].notna()]
    valid = valid[valid[label].notna()]
    train_features = builder.build(train)
    encoder = TabularEncoder(categorical, numeric).fit(train_features)
    x_valid = encoder.transform(builder.build(valid))
    estimator, info = fit_calibrated_booster(
        encoder.transform(train_features),
        train[label].to_numpy(dtype=float),
        x_valid,
        valid[label].to_numpy(dtype=float),
        valid_ids=valid[id_column],
        feature_names=encoder.feature_names,
        categorical=categorical,
        params=params,
        calibration=calibration,
    )
    model = DropoutModel(
        features=builder,
        encoder=encoder,
        estimator=estimator,
        thresholds=band_thresholds(estimator.predict(x_valid), policy),
        policy=policy,
        label=label,
        feature_labels=dict(feature_labels or {}),
    )
    return model, info


def fit_dropout_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    reference: Reference,
    prediction_weeks: int,
    policy: RiskBandPolicy | None = None,
    params: LightGBMParams | None = None,
    calibration: CalibrationParams | None = None,
    label: str = LABEL,
) -> tuple[DropoutModel, FitInfo]:
    """`fit_risk_model` with the training-centre features (`DropoutFeatureBuilder`)."""
    return fit_risk_model(
        train,
        valid,
        DropoutFeatureBuilder(reference, prediction_weeks),
        CATEGORICAL_FEATURES,
        NUMERIC_FEATURES,
        id_column="contract_id",
        label=label,
        policy=policy,
        params=params,
        calibration=calibration,
        feature_labels=FEATURE_LABELS_FR,
    )
