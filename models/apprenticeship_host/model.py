"""The fitted `apprenticeship_host` model: feature encoder + LightGBM booster + optional calibrator, and its
scoring face (what a record holds, what a score answers, `score`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS
from models.apprenticeship_host.features import (
    FEATURE_LABELS_FR,
    FEATURES,
    HostFeatureEncoder,
    describe_value,
    transform_records,
)
from models.apprenticeship_host.history import HISTORY_FEATURES, history_features
from models.estimator import CalibratedBooster
from models.explain import model_reasons
from models.interface import (
    DateOrder,
    InputContract,
    InputField,
    OutputField,
    Rows,
    date_field,
    empty_reasons,
    rows_frame,
    with_defaults,
)
from models.timeutils import days_of
from models.vocabulary import HEAD_QUALIFICATIONS, HEADCOUNT_BANDS, LEGAL_CATEGORIES

# ASCII digits only ([0-9]: `\d` also reads Arabic-Indic and other Unicode digits).
NAF_PATTERN = r"^[0-9]{2}\.?[0-9]{2}[A-Za-z]$"
COMMUNE_PATTERN = r"^([0-9]{5}|2[ABab][0-9]{3})$"
SIRET = InputField(
    "siret",
    "text",
    "SIRET of the establishment (14 digits, Luhn key)",
    pattern=r"^[0-9]{14}$",
    example="73282932000074",
    code="siret",
)

PAST_CONTRACTS = InputContract(
    fields=(
        SIRET,
        date_field("contract_start", "Start of the apprenticeship contract", example="2023-09-04"),
        date_field("planned_end", "Planned end of the contract", example="2025-08-31"),
        date_field(
            "rupture_date", "Date of the rupture, if broken", required=False, nullable=True, example=None
        ),
    ),
    id_field="siret",
    lenient=True,  # rows of the contracts file as they are: its other columns (contract_id, diploma) ignored
    description="Past apprenticeship contracts of the companies (the chamber's contracts file): when given, "
    "every company's history is computed from them, as in training, instead of being read from the counts.",
    order=(DateOrder("contract_start", "planned_end"),),
)


def _count(name: str, description: str, le: int, example: int) -> InputField:
    """A history count: a whole number, 0 when not given."""
    return InputField(name, "int", description, required=False, default=0, ge=0, le=le, example=example)


HOST_INPUT = InputContract(
    fields=(
        SIRET,
        InputField(
            "naf_code", "text", "NAF rev.2 sub-class", pattern=NAF_PATTERN, example="43.22A", code="naf"
        ),
        InputField(
            "commune_code",
            "text",
            "INSEE commune code (COG)",
            pattern=COMMUNE_PATTERN,
            example="69384",
            code="commune",
        ),
        date_field("creation_date", "Creation date of the establishment", example="2012-03-01"),
        # Null or absent when the chamber's source does not say (a SIRENE establishment file, an RNE
        # formality), as in the training files (`models.contracts.COMPANIES`): the model reads it as missing.
        InputField(
            "legal_category",
            "text",
            "INSEE legal category (null if unknown)",
            allowed=tuple(LEGAL_CATEGORIES),
            example="5499",
            required=False,
            nullable=True,
        ),
        InputField(
            "headcount_band",
            "text",
            "SIRENE headcount band (null if unknown)",
            allowed=tuple(HEADCOUNT_BANDS),
            example="02",
            required=False,
            nullable=True,
        ),
        InputField(
            "head_qualification",
            "text",
            "Qualification of the company head (null if unknown)",
            allowed=tuple(HEAD_QUALIFICATIONS),
            example="brevet_maitrise",
            required=False,
            nullable=True,
        ),
        date_field("cutoff_date", "Scoring date (default: today)", required=False, nullable=True),
        _count("contracts_last_12m", "Contracts started in the 12 months before", le=1_000, example=1),
        _count("contracts_last_3y", "Contracts started in the 3 years before", le=1_000, example=2),
        _count("contracts_total", "Contracts started before", le=10_000, example=3),
        _count("active_contracts", "Apprentices under contract", le=1_000, example=1),
        _count("ruptures_last_3y", "Ruptures in the 3 years before", le=1_000, example=0),
        InputField(
            "years_since_last_contract",
            "float",
            "Years since the last contract started (empty if none)",
            required=False,
            nullable=True,
            ge=0,
            le=100,
            example=0.4,
        ),
    ),
    id_field="siret",
    related={"contracts": PAST_CONTRACTS},
    description="A company as the chamber sees it on the scoring date.",
    order=(
        DateOrder(
            "creation_date", "cutoff_date", strict=False, later_default_today=True, blame="creation_date"
        ),
    ),
    as_of="cutoff_date",
)
HOST_OUTPUTS: tuple[OutputField, ...] = (
    OutputField(
        "percentile",
        "float",
        "Rank within the national training distribution",
        csv_name="percentile",
        ge=0,
        le=100,
    ),
)
TARGET_FR = "la probabilité d'accueil"


@dataclass
class HostModel:
    """Scores company snapshots with the probability of starting an apprenticeship within 12 months."""

    encoder: HostFeatureEncoder
    estimator: CalibratedBooster
    score_quantiles: np.ndarray  # 1001 quantiles of the training scores, for national percentiles

    @property
    def input_contract(self) -> InputContract:
        """A company snapshot (`SNAPSHOT_COLUMNS`), optionally with its past contracts."""
        return HOST_INPUT

    @property
    def output_fields(self) -> tuple[OutputField, ...]:
        """The national percentile."""
        return HOST_OUTPUTS

    def predict_proba(self, snapshots: pd.DataFrame) -> np.ndarray:
        """Calibrated probability for each snapshot row."""
        return self.estimator.predict(self.encoder.transform(snapshots))

    def percentile(self, probability: np.ndarray) -> np.ndarray:
        """Percentile (0-100) of each probability within the training score distribution."""
        return (
            np.searchsorted(self.score_quantiles, probability, side="right") / len(self.score_quantiles) * 100
        )

    def matrix(
        self, rows: Rows, related: Mapping[str, Rows] | None = None, today: date | None = None
    ) -> np.ndarray:
        """The model matrix of rows in any `Rows` form; a missing scoring date is `today`. With
        `related["contracts"]`, the history counts are computed from those contracts (`history.py`)."""
        cutoff = today or date.today()
        if related is not None and related.get("contracts") is not None:
            return self.encoder.transform(
                with_history(_frame(rows, cutoff), rows_frame(related["contracts"]))
            )
        if isinstance(rows, pd.DataFrame):
            return self.encoder.transform(_frame(rows, cutoff))
        if isinstance(rows, Mapping):  # columns (lists or Arrow arrays)
            return self.encoder.transform({**rows, "cutoff_date": _filled(rows["cutoff_date"], cutoff)})
        records = [{**r, "cutoff_date": r.get("cutoff_date") or cutoff} for r in rows]
        return transform_records(self.encoder, records)  # a few records: dict look-ups, no pandas

    def score(
        self, rows: Rows, explain: bool = False, related: Mapping[str, Rows] | None = None
    ) -> dict[str, Any]:
        """Probability, national percentile (one decimal) and, when `explain`, the 3 main reasons."""
        matrix = self.matrix(rows, related)
        probability = self.estimator.predict(matrix)
        reasons = empty_reasons(len(matrix))
        if explain:
            reasons = model_reasons(
                self.estimator,
                matrix,
                FEATURES,
                self.encoder.categories_,
                FEATURE_LABELS_FR,
                describe_value,
                TARGET_FR,
            )
        return {
            "probability": probability,
            "percentile": np.round(self.percentile(probability), 1),
            "reasons": reasons,
        }

    def feature_importance(self) -> pd.Series:
        """Total gain of each feature, largest first."""
        gain = self.estimator.booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=list(FEATURES)).sort_values(ascending=False)


def _frame(rows: Rows, cutoff: date) -> pd.DataFrame:
    """Snapshot rows as a frame, scoring date filled, absent optional columns at their default."""
    frame = with_defaults(rows_frame(rows), HOST_INPUT)
    dates = pd.to_datetime(frame["cutoff_date"])
    if dates.isna().any():
        frame = frame.assign(cutoff_date=dates.fillna(pd.Timestamp(cutoff)))
    return frame


def _filled(values: Any, cutoff: date) -> Any:
    if isinstance(values, pa.Array):
        return pc.fill_null(values.cast(pa.string()), cutoff.isoformat())
    return [value or cutoff.isoformat() for value in values]


def with_history(companies: pd.DataFrame, contracts: pd.DataFrame) -> pd.DataFrame:
    """Company snapshots whose history counts are computed from their past contracts as of each snapshot's
    cut-off date, by the definition training uses (`history_features`). Companies without a contract get
    no history."""
    out = companies.reset_index(drop=True)
    cutoffs = pd.to_datetime(out["cutoff_date"]).dt.date
    history = {name: np.zeros(len(out)) for name in HISTORY_FEATURES}
    deals = (
        contracts
        if "rupture_date" in contracts
        else contracts.assign(rupture_date=pd.Series(pd.NaT, index=contracts.index))
    )
    start, end, rupture = (days_of(deals[c]) for c in ("contract_start", "planned_end", "rupture_date"))
    for cutoff in cutoffs.unique():
        rows = np.flatnonzero((cutoffs == cutoff).to_numpy())
        sirets = out["siret"].iloc[rows].astype(str)
        firms = pd.Index(sirets.unique())
        position = firms.get_indexer(deals["siret"].astype(str))
        known = position >= 0
        counts = history_features(
            position[known], start[known], end[known], rupture[known], len(firms), cutoff
        )
        back = firms.get_indexer(sirets)
        for name in HISTORY_FEATURES:
            history[name][rows] = counts[name][back]
    return out.assign(**history)


assert set(SNAPSHOT_COLUMNS) == set(HOST_INPUT.names), "the input contract is the snapshot"
