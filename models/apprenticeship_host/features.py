"""The one feature definition of `apprenticeship_host`: from a company snapshot to the model matrix.

Fitted once at training (it keeps the reference lookups and the category lists it saw) and shipped inside
the logged model, so serving computes exactly the training features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from models.apprenticeship_host.history import HISTORY_FEATURES
from models.reference import NAF_COMPACT, Reference, normalize_commune_code, normalize_naf_code

HEADCOUNT_RANK: dict[str, float] = {
    "NN": 0,
    "00": 1,
    "01": 2,
    "02": 3,
    "03": 4,
    "11": 5,
    "12": 6,
    "21": 7,
    "22": 8,
}
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "naf_code",
    "naf_division",
    "artisan_sector",
    "departement_code",
    "legal_category",
    "head_qualification",
)
NUMERIC_FEATURES: tuple[str, ...] = (
    "headcount_rank",
    "company_age_years",
    "commune_population_log10",
    *HISTORY_FEATURES,
)
FEATURES: tuple[str, ...] = (*CATEGORICAL_FEATURES, *NUMERIC_FEATURES)
MONOTONE_INCREASING: tuple[str, ...] = ("contracts_last_12m", "contracts_last_3y", "contracts_total")
"""Features the hosting probability can only grow with, everything else equal (a domain constraint)."""

FEATURE_LABELS_FR: dict[str, str] = {
    "naf_code": "activité (code NAF)",
    "naf_division": "division d'activité NAF",
    "artisan_sector": "secteur de l'artisanat",
    "departement_code": "département",
    "legal_category": "forme juridique",
    "head_qualification": "qualification du chef d'entreprise",
    "headcount_rank": "tranche d'effectif",
    "company_age_years": "ancienneté de l'entreprise",
    "commune_population_log10": "taille de la commune",
    "contracts_last_12m": "contrats commencés dans les 12 derniers mois",
    "contracts_last_3y": "contrats commencés dans les 3 dernières années",
    "contracts_total": "contrats dans l'historique de la chambre",
    "active_contracts": "apprentis actuellement sous contrat",
    "ruptures_last_3y": "ruptures de contrat dans les 3 dernières années",
    "years_since_last_contract": "années depuis le dernier contrat",
}


class HostFeatureEncoder:
    """Encode company snapshots (`SNAPSHOT_COLUMNS`) as a float matrix for LightGBM.

    Categorical features become integer codes over the categories seen at fit time (unknown -> NaN, which
    LightGBM treats as missing); numeric features are passed through.
    """

    def fit(self, snapshots: pd.DataFrame, reference: Reference) -> HostFeatureEncoder:
        """Keep the reference lookups and the categories present in the training snapshots."""
        communes = reference.communes
        self.commune_index_ = pd.Index(communes["commune_code"].astype(str))
        self.commune_departement_ = communes["departement_code"].astype(str).to_numpy(dtype=object)
        self.commune_population_log10_ = np.log10(np.maximum(communes["population"].to_numpy(float), 1.0))
        naf = reference.naf
        self.naf_index_ = pd.Index(naf["naf_code"].astype(str))
        self.naf_division_ = naf["division"].astype(str).to_numpy(dtype=object)
        self.naf_sector_ = naf["secteur_artisanat"].astype(str).to_numpy(dtype=object)
        derived = self._categorical_columns(snapshots)
        self.categories_: dict[str, pd.Index] = {
            name: pd.Index(sorted(pd.Series(values).dropna().astype(str).unique()))
            for name, values in derived.items()
        }
        return self

    def _commune_positions(self, snapshots: pd.DataFrame) -> np.ndarray:
        commune = normalize_commune_code(snapshots["commune_code"]).to_numpy(dtype=object)
        return self.commune_index_.get_indexer(pd.Index(commune))

    def _categorical_columns(
        self, snapshots: pd.DataFrame, com_pos: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        naf = normalize_naf_code(snapshots["naf_code"]).to_numpy(dtype=object)
        naf_pos = self.naf_index_.get_indexer(pd.Index(naf))
        com_pos = self._commune_positions(snapshots) if com_pos is None else com_pos
        return {
            "naf_code": naf,
            "naf_division": _lookup(self.naf_division_, naf_pos),
            "artisan_sector": _lookup(self.naf_sector_, naf_pos),
            "departement_code": _lookup(self.commune_departement_, com_pos),
            "legal_category": snapshots["legal_category"].astype(object).to_numpy(),
            "head_qualification": snapshots["head_qualification"].astype(object).to_numpy(),
        }

    def transform(self, snapshots: pd.DataFrame) -> np.ndarray:
        """The model matrix, columns in `FEATURES` order."""
        n = len(snapshots)
        out = np.empty((n, len(FEATURES)), dtype=np.float64)
        com_pos = self._commune_positions(snapshots)
        for j, (name, values) in enumerate(self._categorical_columns(snapshots, com_pos).items()):
            codes = self.categories_[name].get_indexer(pd.Index(values, dtype=object).astype(str))
            out[:, j] = np.where(codes >= 0, codes, np.nan)
        k = len(CATEGORICAL_FEATURES)
        cutoff = pd.to_datetime(snapshots["cutoff_date"])
        creation = pd.to_datetime(snapshots["creation_date"])
        out[:, k] = snapshots["headcount_band"].astype(object).map(HEADCOUNT_RANK).to_numpy(dtype=float)
        out[:, k + 1] = ((cutoff - creation).dt.days / 365.25).to_numpy(dtype=float)
        out[:, k + 2] = np.where(com_pos >= 0, self.commune_population_log10_[com_pos], np.nan)
        for offset, name in enumerate(HISTORY_FEATURES, start=k + 3):
            out[:, offset] = pd.to_numeric(snapshots[name], errors="coerce").to_numpy(dtype=float)
        return out


def _lookup(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """`values[positions]` with None where the position is -1 (not found)."""
    out = np.full(len(positions), None, dtype=object)
    found = positions >= 0
    out[found] = values[positions[found]]
    return out


def _naf_scalar(value: Any) -> str:
    text = str(value).strip().upper()
    return f"{text[:2]}.{text[2:]}" if NAF_COMPACT.fullmatch(text) else text


def _commune_scalar(value: Any) -> str:
    text = str(value).strip().upper()
    return "0" + text if len(text) == 4 and text.isdigit() else text


def _days(value: Any) -> int:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return int(value.toordinal())


class _Lookups:
    """Plain-dict views of a fitted encoder, built once for the record path."""

    def __init__(self, encoder: HostFeatureEncoder) -> None:
        self.naf = {code: i for i, code in enumerate(encoder.naf_index_)}
        self.commune = {code: i for i, code in enumerate(encoder.commune_index_)}
        self.categories = {
            name: {value: float(i) for i, value in enumerate(index)}
            for name, index in encoder.categories_.items()
        }


def transform_records(encoder: HostFeatureEncoder, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The model matrix of a few snapshot records given as mappings: the same features as
    `HostFeatureEncoder.transform`, computed with dict look-ups instead of pandas (for single requests).

    Dates may be `date`, `datetime` or ISO strings; missing history values are NaN.
    """
    lookups: _Lookups = encoder.__dict__.get("_lookups") or encoder.__dict__.setdefault(
        "_lookups", _Lookups(encoder)
    )
    nan = float("nan")
    out = np.empty((len(records), len(FEATURES)), dtype=np.float64)
    k = len(CATEGORICAL_FEATURES)
    for r, record in enumerate(records):
        naf = _naf_scalar(record["naf_code"])
        commune = _commune_scalar(record["commune_code"])
        naf_pos = lookups.naf.get(naf, -1)
        com_pos = lookups.commune.get(commune, -1)
        values = {
            "naf_code": naf,
            "naf_division": encoder.naf_division_[naf_pos] if naf_pos >= 0 else None,
            "artisan_sector": encoder.naf_sector_[naf_pos] if naf_pos >= 0 else None,
            "departement_code": encoder.commune_departement_[com_pos] if com_pos >= 0 else None,
            "legal_category": record["legal_category"],
            "head_qualification": record["head_qualification"],
        }
        for j, name in enumerate(CATEGORICAL_FEATURES):
            value = values[name]
            out[r, j] = lookups.categories[name].get(str(value), nan) if value is not None else nan
        out[r, k] = HEADCOUNT_RANK.get(str(record["headcount_band"]), nan)
        out[r, k + 1] = (_days(record["cutoff_date"]) - _days(record["creation_date"])) / 365.25
        out[r, k + 2] = encoder.commune_population_log10_[com_pos] if com_pos >= 0 else nan
        for offset, name in enumerate(HISTORY_FEATURES, start=k + 3):
            value = record.get(name)
            out[r, offset] = nan if value is None else float(value)
    return out
