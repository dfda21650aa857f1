"""The fitted `dropout_risk` model: features, calibrated booster, risk bands and their PPR actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.estimator import CalibratedBooster
from models.tabular import TabularEncoder

BANDS: tuple[str, ...] = ("faible", "modéré", "élevé")


class RiskBandPolicy(BaseModel):
    """How many contracts the centre can follow up: the shares of the highest scores put in each band,
    and the "Pack Prévention Rupture" actions each band triggers."""

    model_config = ConfigDict(extra="forbid")

    alert_capacity: float = Field(default=0.15, gt=0, lt=1, description="Share of contracts rated 'élevé'")
    watch_capacity: float = Field(default=0.25, ge=0, lt=1, description="Next share rated 'modéré'")
    actions: dict[str, list[str]] = Field(
        default={
            "faible": ["Suivi habituel par le référent du CFA"],
            "modéré": [
                "Appel du maître d'apprentissage par le référent du CFA",
                "Point d'étape avec l'apprenti dans le mois",
            ],
            "élevé": [
                "Entretien tripartite apprenti - maître d'apprentissage - CFA sous 15 jours",
                "Proposition de médiation par le médiateur de l'apprentissage de la CMA",
                "Orientation vers un accompagnement social (logement, transport, santé) si besoin",
            ],
        }
    )

    @model_validator(mode="after")
    def _check(self) -> RiskBandPolicy:
        if self.alert_capacity + self.watch_capacity >= 1:
            raise ValueError("alert_capacity + watch_capacity must stay below 1")
        missing = set(BANDS) - set(self.actions)
        if missing:
            raise ValueError(f"actions missing for band(s): {', '.join(sorted(missing))}")
        return self


class FeatureBuilder(Protocol):
    """Turns input rows into the feature frame the encoder expects."""

    def build(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Feature frame for the input rows."""
        ...


@dataclass
class DropoutModel:
    """Scores contracts with the probability of a rupture (or of the extract's own positive outcome).

    The feature builder is the simulator-schema one (`DropoutFeatureBuilder`) or, for a centre's own
    extract, the column mapping of its config (`models.extract.ExtractFeatureBuilder`).
    """

    features: FeatureBuilder
    encoder: TabularEncoder
    estimator: CalibratedBooster
    thresholds: tuple[float, float]  # (modéré from, élevé from), set on the validation scores
    policy: RiskBandPolicy
    label: str = "rupture"
    feature_labels: dict[str, str] = field(default_factory=dict)

    def matrix(self, snapshots: pd.DataFrame) -> np.ndarray:
        """Encoded model matrix of snapshot rows."""
        return self.encoder.transform(self.features.build(snapshots))

    def predict_proba(self, snapshots: pd.DataFrame) -> np.ndarray:
        """Calibrated rupture probability per snapshot row."""
        return self.estimator.predict(self.matrix(snapshots))

    def bands(self, probability: np.ndarray) -> np.ndarray:
        """Risk band of each probability (`faible`, `modéré`, `élevé`)."""
        watch, alert = self.thresholds
        return np.select([probability >= alert, probability >= watch], ["élevé", "modéré"], "faible")

    def score(self, snapshots: pd.DataFrame) -> pd.DataFrame:
        """Probability, risk band and the PPR actions of the band, per snapshot row."""
        probability = self.predict_proba(snapshots)
        bands = self.bands(probability)
        actions = [" | ".join(self.policy.actions[b]) for b in bands]
        return pd.DataFrame({"probability": probability, "risk_band": bands, "ppr_actions": actions})

    def feature_importance(self) -> pd.Series:
        """Total gain of each feature, largest first."""
        gain = self.estimator.booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.encoder.feature_names).sort_values(ascending=False)


def band_thresholds(validation_scores: np.ndarray, policy: RiskBandPolicy) -> tuple[float, float]:
    """Score thresholds putting `alert_capacity` of contracts in 'élevé' and `watch_capacity` next in
    'modéré', on the validation distribution (so the centre's workload is what it planned)."""
    alert = float(np.quantile(validation_scores, 1 - policy.alert_capacity))
    watch = float(np.quantile(validation_scores, 1 - policy.alert_capacity - policy.watch_capacity))
    return watch, alert
