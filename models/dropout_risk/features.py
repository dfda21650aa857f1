"""The one feature definition of `dropout_risk`: from a contract snapshot to the model's columns.

Sensitive attributes (sex, QPV residence) are never features: they are kept in the snapshot for the
report by group only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.reference import Reference, normalize_naf_code
from models.vocabulary import HEADCOUNT_RANK, activity_group

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


class DropoutFeatureBuilder:
    """Derive the model columns from contract snapshots (keeps the NAF lookup it needs)."""

    def __init__(self, reference: Reference, prediction_weeks: int) -> None:
        self.naf_division = dict(zip(reference.naf["naf_code"], reference.naf["division"], strict=True))
        self.prediction_weeks = prediction_weeks

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
