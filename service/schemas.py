"""Request and response schemas, checked against the models' data contracts (allowed codes and values)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, Literal

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, model_validator

NafCode = Field(pattern=r"^\d{2}\.?\d{2}[A-Za-z]$", examples=["43.22A"], description="NAF rev.2 sub-class")
# Dates a datetime64 column can hold (pandas: 1677-2262), wide enough for any company or contract.
DAY_MIN, DAY_MAX = date(1700, 1, 1), date(2199, 12, 31)
CommuneCode = Field(pattern=r"^(\d{5}|2[ABab]\d{3})$", examples=["69384"], description="INSEE commune code")
# Allowed values, checked against the data contracts of `models.contracts` by the tests.
HeadcountBand = Literal["NN", "00", "01", "02", "03", "11", "12", "21", "22"]
LegalCategory = Literal["1000", "5410", "5498", "5499", "5710", "5720", "6540", "5599"]
HeadQualification = Literal["aucune", "cap_bep", "bp_bac_pro", "brevet_maitrise", "superieur"]
Diploma = Literal["CAP", "MC", "BP", "BAC_PRO", "BTM", "TITRE_PRO", "BTS"]
PriorQualification = Literal["aucun", "brevet", "cap_bep", "bac", "superieur"]


class HostCompany(BaseModel):
    """A company as the chamber sees it on the scoring date (the model's input, `SNAPSHOT_COLUMNS`)."""

    model_config = ConfigDict(extra="forbid")

    siret: str = Field(pattern=r"^\d{14}$", examples=["73282932000074"])
    naf_code: str = NafCode
    commune_code: str = CommuneCode
    creation_date: date = Field(ge=DAY_MIN, le=DAY_MAX)
    legal_category: LegalCategory
    headcount_band: HeadcountBand
    head_qualification: HeadQualification
    cutoff_date: date | None = Field(
        default=None, ge=DAY_MIN, le=DAY_MAX, description="Scoring date (default: today)"
    )
    contracts_last_12m: int = Field(default=0, ge=0, le=1000)
    contracts_last_3y: int = Field(default=0, ge=0, le=1000)
    contracts_total: int = Field(default=0, ge=0, le=10_000)
    active_contracts: int = Field(default=0, ge=0, le=1000)
    ruptures_last_3y: int = Field(default=0, ge=0, le=1000)
    years_since_last_contract: float | None = Field(default=None, ge=0, le=100)


@dataclass(frozen=True)
class RecordColumns:
    """A batch given as one list of values per field, all of one length (pandas `to_dict("list")`): lighter
    than a list of objects for large batches. A null stands for a value not given (the field's default)."""

    values: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(next(iter(self.values.values())))

    def record(self, index: int) -> dict[str, Any]:
        """The record at `index`, as an object without its null values."""
        return {name: column[index] for name, column in self.values.items() if column[index] is not None}


class ScoresRequest(BaseModel):
    """A batch given either as a list of records or as a table (exactly one of the two).

    Records are validated one by one after this envelope: invalid ones are reported by index, the others
    scored.
    """

    model_config = ConfigDict(extra="forbid")
    records_field: ClassVar[str]

    columns: dict[str, Any] | None = Field(
        default=None,
        description="The same records as one list of values per field (all of one length, 1 to 10,000; "
        "null = not given)",
        examples=[{"siret": ["73282932000074"], "naf_code": ["43.22A"]}],
    )
    explain: bool = Field(default=True, description="Add the 3 main reasons (slower on large batches)")

    @model_validator(mode="after")
    def _one_form(self) -> ScoresRequest:
        if (getattr(self, self.records_field) is None) == (self.columns is None):
            raise ValueError(f"give either `{self.records_field}` or `columns`")
        if self.columns is not None:
            lengths = {len(v) if isinstance(v, list) else -1 for v in self.columns.values()}
            if not self.columns or len(lengths) != 1 or not 1 <= lengths.pop() <= 10_000:
                raise ValueError("`columns` must hold lists of one length, 1 to 10,000 values")
        return self

    @classmethod
    def max_records(cls) -> int:
        """The most records one request may hold (the records field's `max_length`)."""
        metadata = cls.model_fields[cls.records_field].metadata
        return int(next(item.max_length for item in metadata if isinstance(item, annotated_types.MaxLen)))

    def batch(self) -> list[Any] | RecordColumns:
        """The records, in whichever form they came."""
        records: list[Any] | None = getattr(self, self.records_field)
        return records if records is not None else RecordColumns(self.columns or {})


class HostScoresRequest(ScoresRequest):
    """1 to 10,000 companies to score."""

    records_field = "companies"
    companies: list[Any] | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        json_schema_extra={"items": HostCompany.model_json_schema()},
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "companies": [
                        {
                            "siret": "73282932000074",
                            "naf_code": "43.22A",
                            "commune_code": "69384",
                            "creation_date": "2012-03-01",
                            "legal_category": "5499",
                            "headcount_band": "02",
                            "head_qualification": "brevet_maitrise",
                            "contracts_last_12m": 1,
                            "contracts_last_3y": 2,
                            "contracts_total": 3,
                            "active_contracts": 1,
                            "ruptures_last_3y": 0,
                            "years_since_last_contract": 0.4,
                        }
                    ],
                    "explain": True,
                }
            ]
        }
    )


class RecordError(BaseModel):
    """Why one record of a batch was not scored (never its values)."""

    index: int
    field: str
    reason: str


class HostScore(BaseModel):
    """The score of one company."""

    index: int
    siret: str
    probability: float = Field(ge=0, le=1)
    percentile: float = Field(ge=0, le=100, description="Rank within the national training distribution")
    reasons: list[str] = []


class ScoresMeta(BaseModel):
    """Which model answered."""

    model: str
    version: str
    scored: int
    rejected: int


class HostScoresResponse(ScoresMeta):
    """Scores of the valid companies, errors of the others."""

    results: list[HostScore]
    errors: list[RecordError]


class DropoutContract(BaseModel):
    """A contract as the training centre sees it N weeks after its start (`dropout_risk` input)."""

    model_config = ConfigDict(extra="forbid")

    contract_id: str = Field(min_length=1, max_length=64, description="Pseudonymous contract id")
    contract_start: date = Field(ge=DAY_MIN, le=DAY_MAX)
    planned_end: date = Field(ge=DAY_MIN, le=DAY_MAX)
    prediction_date: date | None = Field(
        default=None, ge=DAY_MIN, le=DAY_MAX, description="Default: contract_start + 6 weeks"
    )
    diploma: Diploma
    naf_code: str = NafCode
    birth_year: int = Field(ge=1940, le=2015)
    sex: Literal["F", "M"]
    prior_qualification: PriorQualification
    qpv_resident: Literal["0", "1"] = "0"
    distance_home_centre_km: float = Field(ge=0, le=2000)
    distance_home_employer_km: float = Field(ge=0, le=2000)
    headcount_band: HeadcountBand | None = None
    legal_category: LegalCategory | None = None
    head_qualification: HeadQualification | None = None
    absence_half_days: float = Field(default=0, ge=0, le=500)
    late_arrivals: float = Field(default=0, ge=0, le=500)
    mentor_changes: float = Field(default=0, ge=0, le=50)
    assessment_score_mean: float | None = Field(default=None, ge=0, le=20)
    assessments: float = Field(default=0, ge=0, le=50)
    absence_half_days_last_2w: float = Field(default=0, ge=0, le=100)
    weeks_observed: float = Field(default=6, ge=0, le=520)


class DropoutScoresRequest(ScoresRequest):
    """1 to 10,000 contracts to score."""

    records_field = "contracts"
    contracts: list[Any] | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        json_schema_extra={"items": DropoutContract.model_json_schema()},
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contracts": [
                        {
                            "contract_id": "CTR-2024-0042",
                            "contract_start": "2024-09-02",
                            "planned_end": "2026-08-31",
                            "diploma": "CAP",
                            "naf_code": "96.02A",
                            "birth_year": 2008,
                            "sex": "F",
                            "prior_qualification": "brevet",
                            "qpv_resident": "0",
                            "distance_home_centre_km": 12.5,
                            "distance_home_employer_km": 4.0,
                            "headcount_band": "01",
                            "absence_half_days": 6,
                            "late_arrivals": 3,
                            "assessment_score_mean": 9.5,
                            "assessments": 1,
                            "absence_half_days_last_2w": 3,
                            "weeks_observed": 6,
                        }
                    ],
                    "explain": True,
                }
            ]
        }
    )


class DropoutScore(BaseModel):
    """The risk of one contract and the actions of its band."""

    index: int
    contract_id: str
    probability: float = Field(ge=0, le=1)
    risk_band: Literal["faible", "modéré", "élevé"]
    ppr_actions: list[str]
    reasons: list[str] = []


class DropoutScoresResponse(ScoresMeta):
    """Scores of the valid contracts, errors of the others."""

    results: list[DropoutScore]
    errors: list[RecordError]


class DiagnosticRequest(BaseModel):
    """A business project: an activity and a commune."""

    naf_code: str = Field(min_length=2, max_length=80, examples=["96.02A"])
    commune_code: str = Field(min_length=2, max_length=80, examples=["69384"])


class ModelInfo(BaseModel):
    """A served model."""

    name: str
    version: str | None
    loaded_at: str | None
    metrics: dict[str, float]
    model_card: str
    error: str | None = None


class ErrorBody(BaseModel):
    """The one error contract: a status, a message, and per-field details without submitted values."""

    status: int
    message: str
    details: list[dict[str, Any]] = []
