"""The fitted `apprenticeship_host` model: feature encoder + LightGBM booster + optional calibrator."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from models.apprenticeship_host.features import FEATURES, HostFeatureEncoder


@dataclass
class HostModel:
    """Scores company snapshots with the probability of starting an apprenticeship within 12 months."""

    encoder: HostFeatureEncoder
    booster: lgb.Booster
    calibrator: IsotonicRegression | None
    score_quantiles: np.ndarray  # 1001 quantiles of the training scores, for national percentiles

    def predict_proba(self, snapshots: pd.DataFrame) -> np.ndarray:
        """Calibrated probability for each snapshot row."""
        raw = self.booster.predict(self.encoder.transform(snapshots))
        return self._calibrate(np.asarray(raw, dtype=float))

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.calibrator is None:
            return raw
        return np.asarray(self.calibrator.predict(raw), dtype=float)

    def percentile(self, probability: np.ndarray) -> np.ndarray:
        """Percentile (0-100) of each probability within the training score distribution."""
        return (
            np.searchsorted(self.score_quantiles, probability, side="right") / len(self.score_quantiles) * 100
        )

    def feature_importance(self) -> pd.Series:
        """Total gain of each feature, largest first."""
        gain = self.booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=list(FEATURES)).sort_values(ascending=False)
