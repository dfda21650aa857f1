"""The one feature definition of `dropout_risk`: from a contract snapshot to the model's columns.

Sensitive attributes (sex, QPV residence) are never features: they are kept in the snapshot for the
report by group only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.explain import is_missing, plain_value
from models.interface import (
    DateOrder,
    InputContract,
    InputField,
    Rows,
    date_field,
    rows_frame,
    with_defaults,
)
from models.reference import Reference, normalize_naf_code
from models.vocabulary import (
    DIPLOMAS,
    HEAD_QUALIFICATIONS,
    HEADCOUNT_BANDS,
    HEADCOUNT_RANK,
    LEGAL_CATEGORIES,
    PRIOR_QUALIFICATIONS,
    activity_group,
    headcount_label,
)

CATEGORICAL_FEATURES: tuple[str, ...] = (
    "diploma",
    "activity_group",
    "naf_division",
    "prior_qualification",
    "legal_category",
    "head_qualification",
)
NUMERIC_FEATURES: tuple[str, ...] = (
    "age_at_start",
    "contract_months",
    "start_month",
    "headcount_rank",
    "distance_home_centre_km",
    "distance_home_employer_km",
    "absences_per_week",
    "late_per_week",
    "mentor_changes",
    "assessment_score_mean",
    "assessments",
    "absence_half_days_last_2w",
)
FEATURES: tuple[str, ...] = (*CATEGORICAL_FEATURES, *NUMERIC_FEATURES)
SENSITIVE_ATTRIBUTES: tuple[str, ...] = ("sex", "qpv_resident")

FEATURE_LABELS_FR: dict[str, str] = {
    "diploma": "diplôme préparé",
    "activity_group": "métier",
    "naf_division": "secteur d'activité de l'employeur",
    "prior_qualification": "diplôme avant le contrat",
    "legal_category": "forme juridique de l'employeur",
    "head_qualification": "qualification du maître d'apprentissage",
    "age_at_start": "âge au début du contrat",
    "contract_months": "durée prévue du contrat",
    "start_month": "mois de début du contrat",
    "headcount_rank": "taille de l'entreprise",
    "distance_home_centre_km": "distance domicile - CFA",
    "distance_home_employer_km": "distance domicile - entreprise",
    "absences_per_week": "absences au CFA par semaine (demi-journées)",
    "late_per_week": "retards au CFA par semaine",
    "mentor_changes": "changements de maître d'apprentissage",
    "assessment_score_mean": "résultats des premières évaluations",
    "assessments": "nombre d'évaluations passées",
    "absence_half_days_last_2w": "absences des deux dernières semaines",
}


def dropout_input(prediction_weeks: int) -> InputContract:
    """A contract as the training centre sees it N weeks after its start."""
    return InputContract(
        fields=(
            InputField(
                "contract_id",
                "text",
                "Pseudonymous contract id",
                min_length=1,
                max_length=64,
                example="CTR-2024-0042",
            ),
            date_field("contract_start", "Start of the contract", example="2024-09-02"),
            date_field("planned_end", "Planned end of the contract", example="2026-08-31"),
            date_field(
                "prediction_date",
                f"Default: contract_start + {prediction_weeks} weeks",
                required=False,
                nullable=True,
            ),
            InputField("diploma", "text", "Diploma prepared", allowed=tuple(DIPLOMAS), example="CAP"),
            InputField(
                "naf_code",
                "text",
                "NAF rev.2 sub-class of the employer",
                pattern=r"^[0-9]{2}\.?[0-9]{2}[A-Za-z]$",
                example="96.02A",
                code="naf",
            ),
            InputField(
                "birth_year", "int", "Year of birth of the apprentice", ge=1940, le=2015, example=2008
            ),
            InputField(
                "sex", "text", "Sex (report by group only, never a feature)", allowed=("F", "M"), example="F"
            ),
            InputField(
                "prior_qualification",
                "text",
                "Diploma before the contract",
                allowed=tuple(PRIOR_QUALIFICATIONS),
                example="brevet",
            ),
            InputField(
                "qpv_resident",
                "text",
                "Lives in a QPV (report by group only)",
                required=False,
                default="0",
                allowed=("0", "1"),
                example="0",
            ),
            InputField(
                "distance_home_centre_km",
                "float",
                "Home - training centre distance",
                ge=0,
                le=2000,
                example=12.5,
            ),
            InputField(
                "distance_home_employer_km", "float", "Home - employer distance", ge=0, le=2000, example=4.0
            ),
            InputField(
                "headcount_band",
                "text",
                "Employer headcount band",
                required=False,
                nullable=True,
                allowed=tuple(HEADCOUNT_BANDS),
                example="01",
            ),
            InputField(
                "legal_category",
                "text",
                "Employer legal category",
                required=False,
                nullable=True,
                allowed=tuple(LEGAL_CATEGORIES),
            ),
            InputField(
                "head_qualification",
                "text",
                "Mentor's qualification",
                required=False,
                nullable=True,
                allowed=tuple(HEAD_QUALIFICATIONS),
            ),
            InputField(
                "absence_half_days",
                "float",
                "Absences (half days) so far",
                required=False,
                default=0,
                ge=0,
                le=500,
                example=6,
            ),
            InputField(
                "late_arrivals",
                "float",
                "Late arrivals so far",
                required=False,
                default=0,
                ge=0,
                le=500,
                example=3,
            ),
            InputField(
                "mentor_changes", "float", "Mentor changes so far", required=False, default=0, ge=0, le=50
            ),
            InputField(
                "assessment_score_mean",
                "float",
                "Mean of the first assessments (/20)",
                required=False,
                nullable=True,
                ge=0,
                le=20,
                example=9.5,
            ),
            InputField(
                "assessments", "float", "Assessments taken", required=False, default=0, ge=0, le=50, example=1
            ),
            InputField(
                "absence_half_days_last_2w",
                "float",
                "Absences of the last 2 weeks",
                required=False,
                default=0,
                ge=0,
                le=100,
                example=3,
            ),
            InputField(
                "weeks_observed",
                "float",
                "Weeks of follow-up observed",
                required=False,
                default=6,
                ge=0,
                le=520,
                example=6,
            ),
        ),
        id_field="contract_id",
        description="An apprenticeship contract N weeks after its start.",
        order=(DateOrder("contract_start", "planned_end"),),
        as_of="prediction_date",
    )


def describe_value(feature: str, value: object) -> str:
    """A feature value of this model as a training centre reads it (in the reasons of a score)."""
    if is_missing(value):
        return "non renseigné"
    number = float(value) if isinstance(value, int | float) else None
    if feature == "headcount_rank" and number is not None:
        return headcount_label(number)
    if feature == "age_at_start" and number is not None:
        return f"{number:.0f} ans"
    if feature.startswith("distance_") and number is not None:
        return f"{number:.0f} km"
    return plain_value(value)


class DropoutFeatureBuilder:
    """Derive the model columns from contract snapshots (keeps the NAF lookup it needs)."""

    def __init__(self, reference: Reference, prediction_weeks: int) -> None:
        self.naf_division = dict(zip(reference.naf["naf_code"], reference.naf["division"], strict=True))
        self.prediction_weeks = prediction_weeks

    @property
    def input_contract(self) -> InputContract:
        """The records this builder reads."""
        return dropout_input(self.prediction_weeks)

    labels = FEATURE_LABELS_FR
    describe = staticmethod(describe_value)

    def prepare(self, rows: Rows) -> pd.DataFrame:
        """Snapshot rows of any `Rows` form as a typed frame: defaults filled, dates as datetime64, the
        prediction date at contract_start + N weeks when not given."""
        frame = with_defaults(rows_frame(rows), self.input_contract)
        start = pd.to_datetime(frame["contract_start"])
        prediction = pd.to_datetime(frame["prediction_date"]).fillna(
            start + pd.Timedelta(weeks=self.prediction_weeks)
        )
        return frame.assign(
            contract_start=start,
            planned_end=pd.to_datetime(frame["planned_end"]),
            prediction_date=prediction.astype("datetime64[ns]"),
        )

    def build(self, snapshots: pd.DataFrame) -> pd.DataFrame:
        """Feature frame (columns `FEATURES`) for snapshot rows (columns `SNAPSHOT_COLUMNS`)."""
        start = pd.to_datetime(snapshots["contract_start"])
        end = pd.to_datetime(snapshots["planned_end"])
        naf = normalize_naf_code(snapshots["naf_code"])
        weeks = np.maximum(pd.to_numeric(snapshots["weeks_observed"], errors="coerce").fillna(0), 1)
        return pd.DataFrame(
            {
                "diploma": snapshots["diploma"],
                "activity_group": activity_group(naf),
                "naf_division": naf.map(self.naf_division),
                "prior_qualification": snapshots["prior_qualification"],
                "legal_category": snapshots["legal_category"],
                "head_qualification": snapshots["head_qualification"],
                "age_at_start": start.dt.year - pd.to_numeric(snapshots["birth_year"], errors="coerce"),
                "contract_months": ((end - start).dt.days + 1) / 30.4375,
                "start_month": start.dt.month,
                "headcount_rank": snapshots["headcount_band"].map(HEADCOUNT_RANK),
                "distance_home_centre_km": snapshots["distance_home_centre_km"],
                "distance_home_employer_km": snapshots["distance_home_employer_km"],
                "absences_per_week": pd.to_numeric(snapshots["absence_half_days"], errors="coerce") / weeks,
                "late_per_week": pd.to_numeric(snapshots["late_arrivals"], errors="coerce") / weeks,
                "mentor_changes": snapshots["mentor_changes"],
                "assessment_score_mean": snapshots["assessment_score_mean"],
                "assessments": snapshots["assessments"],
                "absence_half_days_last_2w": snapshots["absence_half_days_last_2w"],
            },
            index=snapshots.index,
        )
