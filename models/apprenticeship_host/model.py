"""The fitted `apprenticeship_host` model: feature encoder + LightGBM booster + optional calibrator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.apprenticeship_host.features import FEATURES, HostFeatureEncoder
from models.estimator import CalibratedBooster


@dataclass
class HostModel:
    """Scores company snapshots with the probability of starting an apprenticeship within 12 months."""

    encoder: HostFeatureEncoder
    estimator: CalibratedBooster
    score_quantiles: np.ndarray  # 1001 quantiles of the training scores, for national percentiles

    def predict_proba(self, snapshots: pd.DataFrame) -> np.ndarray:
        """Calibrated probability for each snapshot row."""
        return self.estimator.predict(self.encoder.transform(snapshots))

    def percentile(self, probability: np.ndarray) -> np.ndarray:
        """Percentile (0-100) of each probability within the training score distribution."""
        return (
            np.searchsorted(self.score_quantiles, probability, side="right") / len(self.score_quantiles) * 100
        )

    def feature_importance(self) -> pd.Series:
        """Total gain of each feature, largest first."""
        gain = self.estimator.booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=list(FEATURES)).sort_values(ascending=False)
