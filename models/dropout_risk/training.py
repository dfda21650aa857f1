"""Fit the `dropout_risk` model on contract snapshots (pure: frames in, model out)."""

from __future__ import annotations

import pandas as pd

from models.dropout_risk.dataset import LABEL
from models.dropout_risk.features import (
    CATEGORICAL_FEATURES,
    FEATURE_LABELS_FR,
    FEATURES,
    NUMERIC_FEATURES,
    DropoutFeatureBuilder,
)
from models.dropout_risk.model import DropoutModel, RiskBandPolicy, band_thresholds
from models.estimator import CalibrationParams, FitInfo, LightGBMParams, fit_calibrated_booster
from models.reference import Reference
from models.tabular import TabularEncoder


def split_by_cohort(dataset: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Time split on the year of contract_start: train on the earlier cohorts, validate on the one before
    last, test on the last."""
    cohort = pd.to_datetime(dataset["contract_start"]).dt.year
    years = sorted(cohort.unique())
    if len(years) < 3:
        raise ValueError(f"a time split needs at least 3 yearly cohorts, got {len(years)}")
    return (
        dataset[cohort.isin(years[:-2])].reset_index(drop=True),
        dataset[cohort == years[-2]].reset_index(drop=True),
        dataset[cohort == years[-1]].reset_index(drop=True),
    )


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
    """Fit features, encoder and calibrated booster; set the risk bands on the validation scores."""
    policy = policy or RiskBandPolicy()
    train = train[train[label].notna()]
    valid = valid[valid[label].notna()]
    builder = DropoutFeatureBuilder(reference, prediction_weeks)
    train_features = builder.build(train)
    encoder = TabularEncoder(CATEGORICAL_FEATURES, NUMERIC_FEATURES).fit(train_features)
    x_valid = encoder.transform(builder.build(valid))
    estimator, info = fit_calibrated_booster(
        encoder.transform(train_features),
        train[label].to_numpy(dtype=float),
        x_valid,
        valid[label].to_numpy(dtype=float),
        valid_ids=valid["contract_id"],
        feature_names=FEATURES,
        categorical=CATEGORICAL_FEATURES,
        params=params,
        calibration=calibration,
    )
    thresholds = band_thresholds(estimator.predict(x_valid), policy)
    model = DropoutModel(
        features=builder,
        encoder=encoder,
        estimator=estimator,
        thresholds=thresholds,
        policy=policy,
        label=label,
        feature_labels=dict(FEATURE_LABELS_FR),
    )
    return model, info
