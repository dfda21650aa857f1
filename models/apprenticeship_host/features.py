"""The one feature definition of `apprenticeship_host`: from a company snapshot to the model matrix.

Fitted once at training (it keeps the reference lookups and the category lists it saw) and shipped inside
the logged model, so serving computes exactly the training features.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.apprenticeship_host.history import HISTORY_FEATURES
from models.explain import is_missing, plain_value
from models.reference import NAF_COMPACT, Reference, normalize_commune_code, normalize_naf_code
from models.timeutils import iso_day_numbers
from models.vocabulary import HEADCOUNT_RANK, headcount_label

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


def describe_value(feature: str, value: object) -> str:
    """A feature value of this model as an agent reads it (in the reasons of a score)."""
    if is_missing(value):
        return "non renseigné"
    number = float(value) if isinstance(value, int | float) else None
    if feature == "headcount_rank" and number is not None:
        return headcount_label(number)
    if feature in ("company_age_years", "years_since_last_contract") and number is not None:
        return f"{number:.0f} ans"
    if feature == "commune_population_log10" and number is not None:
        return f"{10**number:,.0f} habitants".replace(",", " ")
    return plain_value(value)


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

    def lookup_tables(self) -> _Lookups:
        """Plain-dict views of the fitted lookups, built once per process (not pickled with the model)."""
        cached: _Lookups | None = self.__dict__.get("_lookups_cache")
        return cached if cached is not None else self.__dict__.setdefault("_lookups_cache", _Lookups(self))

    def __getstate__(self) -> dict[str, Any]:
        return {
            key: value for key, value in self.__dict__.items() if key not in ("_lookups", "_lookups_cache")
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Built when the model is loaded (about 60 ms), not on the first request that scores with it.
        self.__dict__.update(state)
        self.lookup_tables()

    def transform(self, snapshots: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """The model matrix, columns in `FEATURES` order, of snapshots given as a frame or as columns
        (a mapping of equal-length sequences; dates as datetime64, `date` or ISO strings).

        Codes repeat a lot within a batch (a few hundred activities and communes): the codes are encoded
        once per distinct value, by the same scalar encoders as `transform_records`, and spread back.
        """
        lookups = self.lookup_tables()
        out = np.empty((len(snapshots["naf_code"]), len(FEATURES)), dtype=np.float64)
        out[:, 0:3] = _per_distinct(snapshots["naf_code"], partial(_naf_row, lookups), lookups.naf_known)
        commune = _per_distinct(
            snapshots["commune_code"], partial(_commune_row, lookups), lookups.commune_known
        )
        out[:, 3] = commune[:, 0]
        for j in (4, 5):
            name = CATEGORICAL_FEATURES[j]
            out[:, j : j + 1] = _per_distinct(snapshots[name], partial(_category_row, lookups, name))
        k = len(CATEGORICAL_FEATURES)
        out[:, k : k + 1] = _per_distinct(snapshots["headcount_band"], lambda v: (_headcount_rank(v),))
        days = _days_array(snapshots["cutoff_date"]) - _days_array(snapshots["creation_date"])
        out[:, k + 1] = days / 365.25
        out[:, k + 2] = commune[:, 1]
        for offset, name in enumerate(HISTORY_FEATURES, start=k + 3):
            out[:, offset] = _numbers(snapshots[name])
        return out


def _numbers(values: Any) -> np.ndarray:
    """Floats (NaN when missing or not a number) of a column: a sequence, a Series or an Arrow array."""
    if isinstance(values, pa.Array) and (
        pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
    ):
        return np.asarray(values.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if isinstance(values, pa.Array):
        values = values.to_pylist()
    return np.asarray(pd.to_numeric(np.asarray(values, dtype=object), errors="coerce"), dtype=np.float64)


def _days_array(values: Any) -> np.ndarray:
    """Day numbers (float, NaN when missing) of datetime64 values, `date` objects or ISO date strings (in a
    sequence, a Series or an Arrow array)."""
    if isinstance(values, pa.Array):
        if pa.types.is_string(values.type):
            days, ok = iso_day_numbers(values)
            if np.array_equal(ok, np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)):
                return np.where(ok, days, np.nan)  # every value given is a plain ISO day: read in bulk
            values = pc.strptime(values, format="%Y-%m-%d", unit="s")
        values = values.cast(pa.date32()).to_numpy(zero_copy_only=False) if len(values) else []
    elif isinstance(values, pd.Series) and not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values)
    days = np.asarray(values, dtype="datetime64[D]")
    return np.where(np.isnat(days), np.nan, days.astype(np.int64).astype(np.float64))


def _per_distinct(
    values: Any, encode: Callable[[Any], Sequence[float]], known: _KnownRows | None = None
) -> np.ndarray:
    """`encode` (one value -> its features) applied once per distinct value and spread back to the rows;
    NaN for missing values. Distinct values found in `known` (the rows `encode` gives them, precomputed)
    are looked up in bulk."""
    codes: np.ndarray
    distinct: np.ndarray
    if isinstance(values, pa.Array):  # Arrow: no Python object per row
        encoded = values.dictionary_encode() if not pa.types.is_null(values.type) else None
        if encoded is None:
            codes, distinct = np.full(len(values), -1, dtype=np.int64), np.array([], dtype=object)
        else:
            codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
    else:
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        distinct = np.asarray(uniques, dtype=object)
    width = len(encode(None))
    table = np.full((len(distinct) + 1, width), np.nan)  # the last row, index -1: missing values
    if len(distinct):
        todo = np.arange(len(distinct))
        if known is not None:
            positions = known.index.get_indexer(pd.Index(distinct, dtype=object))
            found = positions >= 0
            table[:-1][found] = known.rows[positions[found]]
            todo = todo[~found]
        if len(todo):
            table[todo] = [encode(distinct[i]) for i in todo]
    return table[codes]


@dataclass(frozen=True)
class _KnownRows:
    """The encoded rows of the reference codes written in canonical form, for look-ups in bulk."""

    index: pd.Index
    rows: np.ndarray

    @classmethod
    def of(cls, rows: Mapping[str, Sequence[float]], width: int) -> _KnownRows:
        table = np.array(list(rows.values()), dtype=np.float64).reshape(len(rows), width)
        return cls(pd.Index(list(rows), dtype=object), table)


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
    """Plain-dict views of a fitted encoder, for encoding one value at a time.

    `naf_rows` and `commune_rows` hold the encoded features of every reference code already in its
    canonical form (what the normalization gives), so the usual value is one dict look-up; any other value
    is normalized first. Both ways give the same row by construction.
    """

    def __init__(self, encoder: HostFeatureEncoder) -> None:
        self.encoder = encoder
        self.naf = {code: i for i, code in enumerate(encoder.naf_index_)}
        self.commune = {code: i for i, code in enumerate(encoder.commune_index_)}
        self.categories = {
            name: {value: float(i) for i, value in enumerate(index)}
            for name, index in encoder.categories_.items()
        }
        self.naf_rows = {code: _naf_features(self, code) for code in self.naf if _naf_scalar(code) == code}
        self.commune_rows = {
            code: _commune_features(self, code) for code in self.commune if _commune_scalar(code) == code
        }
        self.naf_known = _KnownRows.of(self.naf_rows, 3)
        self.commune_known = _KnownRows.of(self.commune_rows, 2)

    def code(self, name: str, value: Any) -> float:
        """The category code of a value of a categorical feature (NaN when unseen or missing)."""
        return self.categories[name].get(str(value), _NAN) if value is not None else _NAN


_NAN = float("nan")


def _naf_row(lookups: _Lookups, value: Any) -> tuple[float, float, float]:
    """naf_code, naf_division, artisan_sector codes of a NAF code as given."""
    if value is None:
        return (_NAN, _NAN, _NAN)
    row = lookups.naf_rows.get(value)
    return row if row is not None else _naf_features(lookups, _naf_scalar(value))


def _naf_features(lookups: _Lookups, naf: str) -> tuple[float, float, float]:
    pos = lookups.naf.get(naf, -1)
    found = pos >= 0
    division = lookups.encoder.naf_division_[pos] if found else None
    sector = lookups.encoder.naf_sector_[pos] if found else None
    return (
        lookups.code("naf_code", naf),
        lookups.code("naf_division", division),
        lookups.code("artisan_sector", sector),
    )


def _commune_row(lookups: _Lookups, value: Any) -> tuple[float, float]:
    """departement_code code and log10 population of a commune code as given."""
    if value is None:
        return (_NAN, _NAN)
    row = lookups.commune_rows.get(value)
    return row if row is not None else _commune_features(lookups, _commune_scalar(value))


def _commune_features(lookups: _Lookups, commune: str) -> tuple[float, float]:
    pos = lookups.commune.get(commune, -1)
    if pos < 0:
        return (_NAN, _NAN)
    encoder = lookups.encoder
    return (
        lookups.code("departement_code", encoder.commune_departement_[pos]),
        float(encoder.commune_population_log10_[pos]),
    )


def _category_row(lookups: _Lookups, name: str, value: Any) -> tuple[float]:
    return (lookups.code(name, value),)


def _headcount_rank(value: Any) -> float:
    return HEADCOUNT_RANK.get(str(value), _NAN) if value is not None else _NAN


def transform_records(encoder: HostFeatureEncoder, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The model matrix of a few snapshot records given as mappings: the same features as
    `HostFeatureEncoder.transform`, with the same scalar encoders and no pandas (for single requests).

    Dates may be `date`, `datetime` or ISO strings; missing history values are NaN.
    """
    lookups = encoder.lookup_tables()
    out = np.empty((len(records), len(FEATURES)), dtype=np.float64)
    k = len(CATEGORICAL_FEATURES)
    for r, record in enumerate(records):
        department, population = _commune_row(lookups, record["commune_code"])
        out[r, 0:3] = _naf_row(lookups, record["naf_code"])
        out[r, 3] = department
        out[r, 4] = lookups.code("legal_category", record["legal_category"])
        out[r, 5] = lookups.code("head_qualification", record["head_qualification"])
        out[r, k] = _headcount_rank(record["headcount_band"])
        out[r, k + 1] = (_days(record["cutoff_date"]) - _days(record["creation_date"])) / 365.25
        out[r, k + 2] = population
        for offset, name in enumerate(HISTORY_FEATURES, start=k + 3):
            value = record.get(name)
            out[r, offset] = _NAN if value is None else float(value)
    return out
