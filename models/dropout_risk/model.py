"""The fitted `dropout_risk` model: features, calibrated booster, risk bands and their PPR actions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.estimator import CalibratedBooster
from models.explain import model_reasons
from models.interface import InputContract, OutputField, Rows, empty_reasons
from models.tabular import TabularEncoder

BANDS: tuple[str, ...] = ("faible", "modéré", "élevé")


class RiskBandPolicy(BaseModel):
    """How many contracts the centre can follow up: the shares of the highest scores put in each band,
    and the "Pack Prévention Rupture" actions each band triggers."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["capacity", "probability", "both"] = Field(
        default="capacity",
        description="capacity: the shares below, on the validation scores; probability: the fixed "
        "thresholds below; both: a contract is rated by whichever of the two rates it higher",
    )
    alert_capacity: float = Field(default=0.15, gt=0, lt=1, description="Share of contracts rated 'élevé'")
    watch_capacity: float = Field(default=0.25, ge=0, lt=1, description="Next share rated 'modéré'")
    probability_thresholds: dict[str, float] = Field(
        default={"modéré": 0.3, "élevé": 0.5},
        description="Probability from which a contract is 'modéré', 'élevé' (methods probability, both)",
    )
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
        fixed = self.probability_thresholds
        if set(fixed) != {"modéré", "élevé"} or not 0 < fixed["modéré"] <= fixed["élevé"] < 1:
            raise ValueError("probability_thresholds: 'modéré' and 'élevé', with 0 < modéré <= élevé < 1")
        missing = set(BANDS) - set(self.actions)
        if missing:
            raise ValueError(f"actions missing for band(s): {', '.join(sorted(missing))}")
        return self


class FeatureBuilder(Protocol):
    """Turns input rows into the feature frame the encoder expects, and says what a record holds."""

    labels: dict[str, str]

    @property
    def input_contract(self) -> InputContract:
        """The records the model scores."""
        ...

    def prepare(self, rows: Rows) -> pd.DataFrame:
        """Rows of any `Rows` form as the frame `build` reads."""
        ...

    def build(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Feature frame for the input rows."""
        ...

    def describe(self, feature: str, value: object) -> str:
        """A feature value as the centre reads it."""
        ...


DROPOUT_OUTPUTS: tuple[OutputField, ...] = (
    OutputField("risk_band", "text", "faible, modéré or élevé", csv_name="niveau", allowed=BANDS),
    OutputField(
        "ppr_actions", "texts", "« Pack Prévention Rupture » actions of the band", csv_name="actions"
    ),
)


@dataclass
class DropoutModel:
    """Scores contracts with the probability of a rupture (or of the extract's own positive outcome).

    The feature builder is the simulator-schema one (`DropoutFeatureBuilder`) or, for a centre's own
    extract, the column mapping of its config (`models.extract.ExtractFeatureBuilder`).
    """

    features: FeatureBuilder
    encoder: TabularEncoder
    estimator: CalibratedBooster
    thresholds: tuple[float, float]  # (modéré from, élevé from), from the policy and the validation scores
    policy: RiskBandPolicy
    label: str = "rupture"
    feature_labels: dict[str, str] = field(default_factory=dict)

    @property
    def input_contract(self) -> InputContract:
        """What one contract holds (the feature builder's contract)."""
        return self.features.input_contract

    @property
    def output_fields(self) -> tuple[OutputField, ...]:
        """Risk band and its actions."""
        return DROPOUT_OUTPUTS

    @property
    def alert_threshold(self) -> float:
        """The probability from which a contract is rated 'élevé' (an alert, for monitoring)."""
        return self.thresholds[1]

    def report_groups(self, rows: Rows) -> dict[str, np.ndarray]:
        """The groups of the model card's report by group, per row: the extract's sensitive and report
        columns (those present in `rows`) for a model trained on a centre's extract, else sex, age band,
        diploma level and QPV residence of the simulator schema."""
        own = getattr(self.features, "report_groups", None)
        if callable(own):
            groups: dict[str, np.ndarray] = own(rows)
            return groups
        from models.dropout_risk.training import group_attributes  # training imports this module

        return group_attributes(self.features.prepare(rows))

    def matrix(self, snapshots: Rows) -> np.ndarray:
        """Encoded model matrix of snapshot rows."""
        return self.encoder.transform(self.features.build(self.features.prepare(snapshots)))

    def predict_proba(self, snapshots: Rows) -> np.ndarray:
        """Calibrated rupture probability per snapshot row."""
        return self.estimator.predict(self.matrix(snapshots))

    def bands(self, probability: np.ndarray) -> np.ndarray:
        """Risk band of each probability (`faible`, `modéré`, `élevé`)."""
        watch, alert = self.thresholds
        return np.select([probability >= alert, probability >= watch], ["élevé", "modéré"], "faible")

    def score(
        self, rows: Rows, explain: bool = False, related: Mapping[str, Rows] | None = None
    ) -> dict[str, Any]:
        """Probability, risk band, the band's PPR actions and, when `explain`, the 3 main reasons."""
        matrix = self.matrix(rows)
        probability = self.estimator.predict(matrix)
        bands = [str(band) for band in self.bands(probability)]
        actions = {band: list(self.policy.actions[band]) for band in set(bands)}
        reasons = empty_reasons(len(matrix))
        if explain:
            reasons = model_reasons(
                self.estimator,
                matrix,
                self.encoder.feature_names,
                self.encoder.categories_,
                self.feature_labels,
                self.features.describe,
                TARGET_FR.get(self.label, "le risque"),
            )
        return {
            "probability": probability,
            "risk_band": bands,
            "ppr_actions": [actions[band] for band in bands],
            "reasons": reasons,
        }

    def feature_importance(self) -> pd.Series:
        """Total gain of each feature, largest first."""
        gain = self.estimator.booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.encoder.feature_names).sort_values(ascending=False)


TARGET_FR = {
    "rupture": "le risque de rupture",
    "rupture_9m": "le risque de rupture",
    "__target__": "le risque",
}


def band_thresholds(validation_scores: np.ndarray, policy: RiskBandPolicy) -> tuple[float, float]:
    """Probability thresholds of 'modéré' and 'élevé'.

    By capacity: `alert_capacity` of the validation contracts in 'élevé' and `watch_capacity` next in
    'modéré' (the centre's workload is what it planned). By probability: the fixed thresholds. Both: the
    lower of the two, so that a high probability is never rated below its fixed band.
    """
    alert = float(np.quantile(validation_scores, 1 - policy.alert_capacity))
    watch = float(np.quantile(validation_scores, 1 - policy.alert_capacity - policy.watch_capacity))
    fixed = policy.probability_thresholds
    if policy.method == "probability":
        return fixed["modéré"], fixed["élevé"]
    if policy.method == "both":
        return min(watch, fixed["modéré"]), min(alert, fixed["élevé"])
    return watch, alert


def bands_note(policy: RiskBandPolicy, thresholds: tuple[float, float]) -> str:
    """How the bands were set, for the model card."""
    watch, alert = thresholds
    fixed = policy.probability_thresholds
    how = {
        "capacity": f"by capacity: about {policy.alert_capacity:.0%} of the validation contracts rated "
        f"`élevé` and the next {policy.watch_capacity:.0%} `modéré`",
        "probability": f"by probability: `modéré` from {fixed['modéré']:.2f}, "
        f"`élevé` from {fixed['élevé']:.2f}",
        "both": f"by capacity ({policy.alert_capacity:.0%} `élevé`, next "
        f"{policy.watch_capacity:.0%} `modéré` on the validation contracts) and by probability "
        f"(`modéré` from {fixed['modéré']:.2f}, `élevé` from {fixed['élevé']:.2f}), "
        "whichever rates a contract higher",
    }[policy.method]
    return f"Bands set {how}: probability from {watch:.3f} `modéré`, from {alert:.3f} `élevé`."
