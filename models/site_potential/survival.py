"""Survival of a new establishment of activity A in commune C at 3 and 5 years: dataset and model.

Features are those known at creation: the activity, the commune and its territory, the competition in
the commune on the creation date, the creation year. Labels exist only where the horizon is observed:
establishments created at least `horizon` years before the extract date (right-censored ones are left out,
not counted as survivors).

Cohorts. The survival of a creation year moves with the economy (in Lyon 4e, 60 % of the 2016 creations
were still active 3 years later, 71.5 % of the 2020 ones). The booster learns the levels of the cohorts it
is trained on, but a tree cannot extrapolate the creation year: a later cohort, every creation a diagnostic
is asked about among them, gets the level of the last training year. The calibrator is fitted on the
validation cohort alone, so its intercept is that one cohort's level; applied to every cohort, it moved all
of them by that cohort's gap (isotonic calibration under-predicted Lyon 4e's training cohorts 2008-2020 by
1.9 points on average, 5.3 for 2020). So the calibrator keeps the spread of the scores (Platt's logistic
on the log-odds, smooth) and the level is set apart (`CohortLevels`): the cohorts the booster was trained
on keep the mean survival it was trained on, a later cohort gets the mean survival of the last
`recent_cohorts` observed cohorts (training and validation; the test cohort is never used): less noisy
than one cohort, closer to today than all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from models.estimator import (
    CalibratedBooster,
    CalibrationParams,
    FitInfo,
    LightGBMParams,
    fit_calibrated_booster,
    log_odds,
    split_by_period,
)
from models.explain import is_missing, model_reasons
from models.interface import (
    InputContract,
    InputField,
    OutputField,
    Rows,
    date_field,
    empty_reasons,
    rows_frame,
)
from models.reference import Reference
from models.site_potential.sectors import SECTION_TO_SECTOR
from models.site_potential.territory import Territory
from models.tabular import TabularEncoder
from models.timeutils import shift_years

INPUT_COLUMNS: tuple[str, ...] = ("naf_code", "commune_code", "creation_date", "competitors_at_creation")
CATEGORICAL_FEATURES: tuple[str, ...] = ("naf_code", "naf_division", "naf_section", "departement_code")
NUMERIC_FEATURES: tuple[str, ...] = (
    "log_population",
    "log_density",
    "growth",
    "unemployment",
    "log_catchment_20km",
    "competitors_at_creation",
    "competitors_per_10k",
    "creation_year",
)
FEATURE_LABELS_FR: dict[str, str] = {
    "naf_code": "activité",
    "naf_division": "famille d'activité",
    "naf_section": "secteur",
    "departement_code": "département",
    "log_population": "taille de la commune",
    "log_density": "densité de population",
    "growth": "évolution de la population",
    "unemployment": "taux de chômage",
    "log_catchment_20km": "population à moins de 20 km",
    "competitors_at_creation": "concurrents dans la commune",
    "competitors_per_10k": "concurrents pour 10 000 habitants",
    "creation_year": "année de création",
}


SURVIVAL_INPUT = InputContract(
    fields=(
        InputField(
            "naf_code",
            "text",
            "NAF rev.2 sub-class (dotted)",
            pattern=r"^[0-9]{2}\.[0-9]{2}[A-Z]$",
            example="96.02A",
            code="naf",
        ),
        InputField(
            "commune_code",
            "text",
            "INSEE commune code (COG 2026)",
            pattern=r"^([0-9]{5}|2[AB][0-9]{3})$",
            example="69384",
            code="commune",
        ),
        date_field("creation_date", "Creation date of the new establishment", example="2025-01-01"),
        InputField(
            "competitors_at_creation",
            "float",
            "Establishments of the activity active in the commune",
            ge=0,
            example=12,
        ),
    ),
    description="A new establishment: its activity, its commune, its creation date and its competitors.",
)


def describe_value(feature: str, value: object) -> str:
    """A feature value as an advisor reads it (French numbers; logarithms read back)."""
    if isinstance(value, str):
        return value
    if is_missing(value):
        return "n.d."
    number = float(value)  # type: ignore[arg-type]
    if feature.startswith("log_"):
        number = float(10**number)
    digits = 0 if abs(number) >= 100 else 1
    return f"{number:,.{digits}f}".replace(",", " ").replace(".", ",")


def label_name(horizon: int) -> str:
    """Label column of a horizon (`survived_3y`)."""
    return f"survived_{horizon}y"


def competitors_at_creation(establishments: pd.DataFrame) -> np.ndarray:
    """For each establishment, the other establishments of its activity active in its commune the day it
    was created (created before, not closed by then)."""
    key = establishments["naf_code"].astype(str) + "|" + establishments["commune_code"].astype(str)
    group = pd.factorize(key)[0].astype(np.int64)
    span = np.int64(1_000_000)
    created = establishments["creation_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    closed = pd.to_datetime(establishments["closure_date"]).to_numpy(dtype="datetime64[D]")
    closed_days = np.where(np.isnat(closed), span - 1, closed.astype("datetime64[D]").astype(np.int64))
    offset = 200_000  # days are shifted to stay positive within a group's span
    starts = np.sort(group * span + created + offset)
    ends = np.sort(group * span + np.minimum(closed_days + offset, span - 1))
    probe = group * span + created + offset
    before = np.searchsorted(starts, probe, side="left") - np.searchsorted(starts, group * span, side="left")
    ended = np.searchsorted(ends, probe, side="right") - np.searchsorted(ends, group * span, side="left")
    return np.maximum(before - ended, 0).astype(float)


def survival_dataset(
    establishments: pd.DataFrame, horizon: int, extract_date: date, first_year: int = 1990
) -> pd.DataFrame:
    """Creations whose `horizon` is observed by `extract_date` (whole creation years), with their label and
    the model's inputs.

    Requires `naf_code`, `commune_code`, `creation_date`, `closure_date` and, for closures without a date
    (a stock file alone), `closed_without_date` (those are left out: their survival is unknown).
    """
    frame = establishments[establishments["naf_code"].notna()].copy()
    frame["competitors_at_creation"] = competitors_at_creation(frame)
    creation = pd.to_datetime(frame["creation_date"])
    horizon_end = creation + pd.DateOffset(years=horizon)
    # Whole yearly cohorts only: year Y is kept when its last creation's horizon is observed, so that the
    # time split never tests on a truncated cohort.
    last_year = shift_years(extract_date, -horizon).year - 1
    observed = (creation.dt.year <= last_year) & (creation.dt.year >= first_year)
    if "closed_without_date" in frame:
        observed &= ~frame["closed_without_date"].fillna(False).astype(bool)
    closure = pd.to_datetime(frame["closure_date"])
    frame[label_name(horizon)] = (closure.isna() | (closure >= horizon_end)).astype(float)
    frame = frame[observed.to_numpy()]
    return frame.reset_index(drop=True)


class SurvivalFeatureBuilder:
    """Features at creation, from the inputs (`INPUT_COLUMNS`) and the territory's commune table."""

    def __init__(self, reference: Reference, territory: Territory) -> None:
        com = territory.communes
        self.communes = pd.DataFrame(
            {
                "departement_code": com["departement_code"].astype(str),
                "population": com["population"].astype(float),
                "log_population": np.log10(np.maximum(com["population"].astype(float), 1.0)),
                "log_density": np.log10(np.maximum(com["density"].astype(float), 0.1)),
                "growth": com["growth"].astype(float),
                "unemployment": com["unemployment"].astype(float),
                "log_catchment_20km": np.log10(np.maximum(com["catchment_20km"].astype(float), 1.0)),
            },
            index=com.index,
        )
        naf = reference.naf.set_index("naf_code")
        self.naf_division = naf["division"].astype(str).to_dict()
        self.naf_section = naf["section"].astype(str).to_dict()

    def build(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Feature frame for input rows."""
        naf = rows["naf_code"].astype(str)
        commune = self.communes.reindex(rows["commune_code"].astype(str).to_numpy())
        competitors = pd.to_numeric(rows["competitors_at_creation"], errors="coerce").to_numpy(dtype=float)
        pop = commune["population"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_10k = np.where(pop > 0, competitors / pop * 10_000, np.nan)
        return pd.DataFrame(
            {
                "naf_code": naf.to_numpy(),
                "naf_division": naf.map(self.naf_division).to_numpy(),
                "naf_section": naf.map(self.naf_section).to_numpy(),
                "departement_code": commune["departement_code"].to_numpy(),
                "log_population": commune["log_population"].to_numpy(),
                "log_density": commune["log_density"].to_numpy(),
                "growth": commune["growth"].to_numpy(),
                "unemployment": commune["unemployment"].to_numpy(),
                "log_catchment_20km": commune["log_catchment_20km"].to_numpy(),
                "competitors_at_creation": competitors,
                "competitors_per_10k": per_10k,
                "creation_year": pd.to_datetime(rows["creation_date"]).dt.year.to_numpy(dtype=float),
            },
            index=rows.index,
        )


def level_shift(probability: np.ndarray, target: float) -> float:
    """The log-odds shift that brings the mean of `probability` to `target` (0 < target < 1)."""
    odds = log_odds(probability)
    return float(brentq(lambda shift: float(expit(odds + shift).mean()) - target, -20.0, 20.0))


@dataclass(frozen=True)
class CohortLevels:
    """Log-odds shifts of the calibrated scores by creation year (see the module docstring): creations up
    to `last_trained_year` are shifted by `trained` (their mean is the training mean), later ones by `later`
    (their mean is `later_level`, the mean survival of `recent_years`)."""

    last_trained_year: int
    trained: float
    later: float
    later_level: float
    recent_years: tuple[int, ...]

    @classmethod
    def fitted(
        cls,
        train_scores: np.ndarray,
        train: pd.DataFrame,
        valid_scores: np.ndarray,
        valid: pd.DataFrame,
        label: str,
        recent_cohorts: int,
    ) -> CohortLevels:
        """Shifts from the calibrated scores and labels of the training and validation rows: the training
        rows' mean brought back to their survival, the validation cohort's (the first one after training,
        scored as any later one) to the mean survival of the last `recent_cohorts` cohorts."""
        observed = pd.concat([train, valid])
        by_year = observed[label].groupby(pd.to_datetime(observed["creation_date"]).dt.year).mean()
        recent = by_year.iloc[-recent_cohorts:]
        level = float(recent.mean())
        return cls(
            last_trained_year=int(pd.to_datetime(train["creation_date"]).dt.year.max()),
            trained=level_shift(train_scores, float(train[label].mean())),
            later=level_shift(valid_scores, level),
            later_level=level,
            recent_years=tuple(int(y) for y in recent.index),
        )

    def apply(self, probability: np.ndarray, creation_year: np.ndarray) -> np.ndarray:
        """Shifted probabilities of creations of the given years."""
        shift = np.where(creation_year > self.last_trained_year, self.later, self.trained)
        return np.asarray(expit(log_odds(probability) + shift), dtype=float)


@dataclass
class SurvivalModel:
    """Probability that a new establishment is still active `horizon` years after its creation: the
    calibrated booster, at the level of its cohort (`levels`; None in models trained before it)."""

    horizon: int
    features: SurvivalFeatureBuilder
    encoder: TabularEncoder
    estimator: CalibratedBooster
    levels: CohortLevels | None = None

    @property
    def input_contract(self) -> InputContract:
        """A new establishment (`INPUT_COLUMNS`)."""
        return SURVIVAL_INPUT

    @property
    def output_fields(self) -> tuple[OutputField, ...]:
        """Nothing besides the probability of survival."""
        return ()

    def _scored(self, rows: Rows) -> tuple[np.ndarray, np.ndarray]:
        """The encoded matrix of input rows and their survival probability."""
        features = self.features.build(rows_frame(rows))
        matrix = self.encoder.transform(features)
        probability = self.estimator.predict(matrix)
        if self.levels is not None:
            probability = self.levels.apply(probability, features["creation_year"].to_numpy())
        return matrix, probability

    def predict_proba(self, rows: Rows) -> np.ndarray:
        """Survival probability per input row."""
        return self._scored(rows)[1]

    def score(
        self, rows: Rows, explain: bool = False, related: Mapping[str, Rows] | None = None
    ) -> dict[str, Any]:
        """Probability of survival at the horizon and, when `explain`, the 3 main reasons."""
        matrix, probability = self._scored(rows)
        reasons = empty_reasons(len(matrix))
        if explain:
            names = self.encoder.feature_names
            reasons = model_reasons(
                self.estimator,
                matrix,
                names,
                self.encoder.categories_,
                FEATURE_LABELS_FR,
                describe_value,
                "les chances de survie",
            )
        return {"probability": probability, "reasons": reasons}

    def contributions(self, rows: pd.DataFrame) -> pd.DataFrame:
        """LightGBM's per-feature contributions to the log-odds of survival (bias column dropped)."""
        raw = self.estimator.contributions(self.encoder.transform(self.features.build(rows)))
        return pd.DataFrame(raw[:, :-1], columns=self.encoder.feature_names, index=rows.index)

    def feature_importance(self) -> pd.Series:
        """Total gain per feature."""
        gain = self.estimator.booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.encoder.feature_names).sort_values(ascending=False)


def sector_of_section(section: pd.Series) -> pd.Series:
    """INSEE survival sector of NAF sections."""
    return section.map(SECTION_TO_SECTOR).fillna("Autres activités de services")


def split_by_creation_year(dataset: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Time split on the creation year: train on earlier cohorts, validate on the one before last, test on
    the last observed cohort."""
    return split_by_period(dataset, pd.to_datetime(dataset["creation_date"]).dt.year, "creation years")


def fit_survival_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    horizon: int,
    builder: SurvivalFeatureBuilder,
    params: LightGBMParams | None = None,
    calibration: CalibrationParams | None = None,
    recent_cohorts: int = 5,
) -> tuple[SurvivalModel, FitInfo]:
    """Fit the encoder and the calibrated booster on establishments whose horizon is observed, then the
    cohort levels (`CohortLevels`, from the training and validation rows)."""
    label = label_name(horizon)
    features = builder.build(train)
    encoder = TabularEncoder(CATEGORICAL_FEATURES, NUMERIC_FEATURES).fit(features)
    x_train, x_valid = encoder.transform(features), encoder.transform(builder.build(valid))
    estimator, info = fit_calibrated_booster(
        x_train,
        train[label].to_numpy(dtype=float),
        x_valid,
        valid[label].to_numpy(dtype=float),
        valid_ids=valid["siret"],
        feature_names=encoder.feature_names,
        categorical=CATEGORICAL_FEATURES,
        params=params,
        calibration=calibration,
    )
    levels = CohortLevels.fitted(
        estimator.predict(x_train), train, estimator.predict(x_valid), valid, label, recent_cohorts
    )
    return SurvivalModel(horizon, builder, encoder, estimator, levels), info
