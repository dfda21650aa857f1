"""Point-in-time dataset for `dropout_risk`: one row per contract still running N weeks after its start.

Features use the learner, contract and employer records and the follow-up of the weeks before the
prediction date (contract_start + N weeks); labels are the rupture before planned_end and the rupture
within the first 9 months. With an extraction date (`as_of`), a label is known only once its outcome can
be observed (right-censored contracts get no label rather than a false "not broken").
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

LEARNER_FIELDS: tuple[str, ...] = (
    "birth_year",
    "sex",
    "prior_qualification",
    "qpv_resident",
    "distance_home_centre_km",
    "distance_home_employer_km",
)
EMPLOYER_FIELDS: tuple[str, ...] = ("headcount_band", "legal_category", "head_qualification")
FOLLOW_UP_FEATURES: tuple[str, ...] = (
    "absence_half_days",
    "late_arrivals",
    "mentor_changes",
    "assessment_score_mean",
    "assessments",
    "absence_half_days_last_2w",
    "weeks_observed",
)
SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "contract_id",
    "prediction_date",
    "contract_start",
    "planned_end",
    "diploma",
    "naf_code",
    *LEARNER_FIELDS,
    *EMPLOYER_FIELDS,
    *FOLLOW_UP_FEATURES,
)
"""What the model scores: a contract as the training centre sees it at the prediction date."""

LABEL = "rupture"
LABEL_9M = "rupture_9m"
LABELS: tuple[str, ...] = (LABEL, LABEL_9M)


def follow_up_features(follow_up: pd.DataFrame, prediction_weeks: int) -> pd.DataFrame:
    """Follow-up aggregated over weeks 0 .. N-1 of each contract (indexed by contract_id)."""
    seen = follow_up[follow_up["week"] < prediction_weeks]
    recent = seen["week"] >= prediction_weeks - 2
    score = pd.to_numeric(seen["assessment_score"], errors="coerce")
    frame = pd.DataFrame(
        {
            "contract_id": seen["contract_id"],
            "absence_half_days": seen["absence_half_days"].astype(float),
            "late_arrivals": seen["late_arrivals"].astype(float),
            "mentor_changes": seen["mentor_change"].astype(str).eq("1").astype(float),
            "score": score,
            "scored": score.notna().astype(float),
            "recent_absences": seen["absence_half_days"].astype(float).where(recent, 0.0),
        }
    )
    grouped = frame.groupby("contract_id", sort=False)
    out = grouped[["absence_half_days", "late_arrivals", "mentor_changes"]].sum()
    out["assessments"] = grouped["scored"].sum()
    out["assessment_score_mean"] = grouped["score"].sum() / out["assessments"].replace(0, np.nan)
    out["absence_half_days_last_2w"] = grouped["recent_absences"].sum()
    out["weeks_observed"] = grouped.size().astype(float)
    return out


def build_dropout_dataset(
    learners: pd.DataFrame,
    contracts: pd.DataFrame,
    follow_up: pd.DataFrame,
    companies: pd.DataFrame | None,
    prediction_weeks: int = 6,
    as_of: date | None = None,
) -> pd.DataFrame:
    """Snapshot of every contract still running at its prediction date, with its two labels.

    A contract with no follow-up row before the prediction date gets zero counts and no assessment (a
    centre that recorded nothing recorded no absence). With `as_of`, contracts whose prediction date is
    after it are left out and labels whose outcome is not yet observable are missing (NaN).
    """
    prediction = contracts["contract_start"] + pd.Timedelta(weeks=prediction_weeks)
    rupture = contracts["rupture_date"]
    running = rupture.isna() | (rupture >= prediction)
    if as_of is not None:
        running &= prediction <= pd.Timestamp(as_of)
    base = contracts.loc[
        running,
        [
            "contract_id",
            "learner_id",
            "siret",
            "contract_start",
            "planned_end",
            "diploma",
            "naf_code",
            "rupture_date",
        ],
    ]
    base = base.assign(prediction_date=prediction[running])
    base = base.merge(learners[["learner_id", *LEARNER_FIELDS]], on="learner_id", how="left")
    if companies is not None:
        employer = companies[["siret", *EMPLOYER_FIELDS]].drop_duplicates("siret")
        base = base.merge(employer, on="siret", how="left")
    else:
        base = base.assign(**dict.fromkeys(EMPLOYER_FIELDS, None))
    signals = follow_up_features(follow_up, prediction_weeks)
    base = base.merge(signals, left_on="contract_id", right_index=True, how="left")
    counts = [
        "absence_half_days",
        "late_arrivals",
        "mentor_changes",
        "assessments",
        "absence_half_days_last_2w",
        "weeks_observed",
    ]
    base[counts] = base[counts].fillna(0.0)

    broken = base["rupture_date"].notna()
    nine_months = base["contract_start"] + pd.DateOffset(months=9)
    label = broken.astype(float)
    label_9m = (base["rupture_date"] < nine_months).astype(float)
    if as_of is not None:
        cut = pd.Timestamp(as_of)
        observed = (broken & (base["rupture_date"] <= cut)) | (base["planned_end"] < cut)
        broken_by_cut = broken & (base["rupture_date"] <= cut)
        label = broken_by_cut.astype(float).where(observed)
        observed_9m = (broken_by_cut & (base["rupture_date"] < nine_months)) | (nine_months <= cut)
        label_9m = (broken_by_cut & (base["rupture_date"] < nine_months)).astype(float).where(observed_9m)
    out = base[list(SNAPSHOT_COLUMNS)].assign(**{LABEL: label.to_numpy(), LABEL_9M: label_9m.to_numpy()})
    return out.reset_index(drop=True)
