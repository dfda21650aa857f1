"""Data contracts for what a chamber holds: column names, types, allowed values and meaning.

A contract validates a raw table (all columns read as strings, as from a CSV export) and splits it into
typed valid rows and a quarantine of invalid rows, each error naming the source, the line, the column and
the reason. Valid rows are never dropped because another row is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from models.reference import Reference, normalize_commune_code, normalize_naf_code
from models.vocabulary import (
    DIPLOMAS,
    EMPLOYER_TYPES,
    HEAD_QUALIFICATIONS,
    HEADCOUNT_BANDS,
    LAST_CLASSES,
    LEGAL_CATEGORIES,
    PRIOR_QUALIFICATIONS,
    PRIOR_SITUATIONS,
    RUPTURE_CAUSES,
    RUPTURE_INITIATORS,
    SOURCE_FORMATS,
)

ColumnKind = Literal["siret", "naf_code", "commune_code", "date", "category", "count", "number", "identifier"]


@dataclass(frozen=True)
class Column:
    """One column of a table contract."""

    name: str
    kind: ColumnKind
    description: str
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


RowRule = Callable[[pd.DataFrame], tuple[pd.Series, str, str]]
"""A cross-column rule: takes the typed frame, returns (mask of bad rows, column blamed, reason)."""


@dataclass(frozen=True)
class TableContract:
    """A table's contract: its columns, its key and its cross-column rules."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    rules: tuple[RowRule, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        """Contract column names in contract order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The contract column called `name`."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


class ContractError(ValueError):
    """A whole input cannot be read under its contract (missing columns, empty file)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


@dataclass(frozen=True)
class ValidationReport:
    """What validation kept and what it quarantined, with one row per error."""

    source: str
    n_rows: int
    n_valid: int
    errors: pd.DataFrame  # columns: source, line, column, reason, value

    @property
    def n_invalid(self) -> int:
        """Number of rows quarantined (a row with several errors counts once)."""
        return self.n_rows - self.n_valid

    def summary(self, max_lines: int = 10) -> str:
        """Human-readable summary: counts, then the first errors as `file:line: column: reason`."""
        head = f"{self.source}: {self.n_rows} rows read, {self.n_valid} valid, {self.n_invalid} quarantined"
        lines = [head]
        for err in self.errors.head(max_lines).itertuples(index=False):
            lines.append(f"  {err.source}:{err.line}: column '{err.column}': {err.reason}")
        if len(self.errors) > max_lines:
            lines.append(f"  ... and {len(self.errors) - max_lines} more errors")
        return "\n".join(lines)


ERROR_COLUMNS = ["source", "line", "column", "reason", "value"]


LA_POSTE = np.array([3, 5, 6, 0, 0, 0, 0, 0, 0])  # La Poste's SIREN, whose establishments have their own rule


def siret_keys_valid(digits: np.ndarray) -> np.ndarray:
    """The key check of SIRETs given as a (rows, 14) matrix of their digits: Luhn (from the left, every
    other digit doubled); La Poste's establishments (SIREN 356000000) pass by INSEE's own rule (digits
    summing to a multiple of 5) or by Luhn (its head office). The one check of chamber files and the API."""
    digits = np.asarray(digits, dtype=np.int64)
    doubled = digits[:, 0::2] * 2
    total = digits[:, 1::2].sum(axis=1) + np.where(doubled > 9, doubled - 9, doubled).sum(axis=1)
    la_poste = (digits[:, :9] == LA_POSTE).all(axis=1)
    return np.asarray((total % 10 == 0) | (la_poste & (digits.sum(axis=1) % 5 == 0)))


def luhn_valid(digits: pd.Series) -> pd.Series:
    """`siret_keys_valid` of a Series of 14-ASCII-digit SIRET strings."""
    matrix = np.frombuffer("".join(digits.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 14) - 48
    return pd.Series(siret_keys_valid(matrix), index=digits.index)


def _parse_dates(text: pd.Series) -> pd.Series:
    iso = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    french = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    parsed = iso.fillna(french)
    in_range = (parsed.dt.year >= 1900) & (parsed.dt.year <= 2100)
    return parsed.where(in_range)


def validate_table(
    raw: pd.DataFrame,
    contract: TableContract,
    reference: Reference,
    source: str,
    first_line: int = 2,
    lines: pd.Series | np.ndarray | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate a raw string table against its contract.

    Returns the valid rows, typed (codes as strings, dates as datetime64, counts as int64) and restricted
    to the contract's columns, plus a report listing every error with its file line (`first_line` is the
    line of the first data row: 2 for a CSV with a header; `lines` gives each row's own, for a file read by
    a format reader, where a row is an NDJSON line or a record of a JSON array). Raises `ContractError`
    when required columns are missing, since no row can then be read.
    """
    headers = {str(c).strip().lstrip("\ufeff"): c for c in raw.columns}
    missing = [c.name for c in contract.columns if c.name not in headers]
    if missing:
        raise ContractError(
            source,
            f"missing column(s) {', '.join(repr(m) for m in missing)} for table '{contract.name}' "
            f"(expected: {', '.join(contract.column_names)})",
        )
    n = len(raw)
    if lines is None:
        lines = pd.Series(np.arange(first_line, first_line + n), index=raw.index)
    else:
        lines = pd.Series(np.asarray(lines, dtype=np.int64), index=raw.index)
    typed: dict[str, pd.Series] = {}
    problems: list[pd.DataFrame] = []

    def flag(mask: pd.Series, column: str, reason: str, values: pd.Series) -> None:
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            problems.append(
                pd.DataFrame(
                    {
                        "source": source,
                        "line": lines[mask].to_numpy(),
                        "column": column,
                        "reason": reason,
                        "value": values[mask].astype("string").str.slice(0, 40).to_numpy(),
                        "_index": lines[mask].index.to_numpy(),
                    }
                )
            )

    for col in contract.columns:
        text = raw[headers[col.name]].astype("string").str.strip()
        text = text.mask(text == "")
        empty = text.isna()
        if not col.nullable:
            flag(empty, col.name, "missing value", text.fillna(""))
        present = ~empty
        if col.kind == "siret":
            shape_ok = text.str.fullmatch(r"[0-9]{14}").fillna(False).astype(bool)  # ASCII digits only
            flag(present & ~shape_ok, col.name, "not a SIRET (expected 14 digits)", text)
            checked = pd.Series(False, index=text.index)
            if shape_ok.any():
                checked[shape_ok] = luhn_valid(text[shape_ok].astype(str))
            flag(shape_ok & ~checked, col.name, "SIRET checksum (Luhn) fails", text)
            typed[col.name] = text
        elif col.kind == "naf_code":
            code = normalize_naf_code(text)
            known = code.isin(reference.naf_codes)
            flag(present & ~known, col.name, "unknown NAF rev.2 sub-class (expected e.g. 43.22A)", text)
            typed[col.name] = code
        elif col.kind == "commune_code":
            code = reference.current_commune_codes(normalize_commune_code(text))
            known = code.isin(reference.commune_codes)
            flag(present & ~known, col.name, "unknown INSEE commune code (COG 2026, e.g. 69384)", text)
            typed[col.name] = code
        elif col.kind == "date":
            parsed = _parse_dates(text)
            flag(present & parsed.isna(), col.name, "not a date (expected YYYY-MM-DD or DD/MM/YYYY)", text)
            typed[col.name] = parsed
        elif col.kind == "category":
            allowed = col.allowed or ()
            ok = text.isin(allowed)
            flag(present & ~ok, col.name, f"not an allowed value ({', '.join(allowed)})", text)
            typed[col.name] = text
        elif col.kind in ("count", "number"):
            number = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
            if col.kind == "count":
                ok = number.notna() & (number >= 0) & (number == number.round())
                flag(present & ~ok, col.name, "not a non-negative integer", text)
            else:
                ok = number.notna()
                flag(present & ~ok, col.name, "not a number", text)
            lo, hi = col.minimum, col.maximum
            if lo is not None or hi is not None:
                outside = ok & (
                    (number < (lo if lo is not None else -np.inf))
                    | (number > (hi if hi is not None else np.inf))
                )
                flag(present & outside, col.name, f"outside the allowed range [{lo}, {hi}]", text)
            typed[col.name] = number
        else:
            typed[col.name] = text

    frame = pd.DataFrame(typed, index=raw.index)
    base_bad = (
        pd.Index(np.concatenate([p["_index"].to_numpy() for p in problems])) if problems else pd.Index([])
    )
    clean = ~frame.index.isin(base_bad)
    for rule in contract.rules:
        bad, column, reason = rule(frame)
        flag(bad & clean, column, reason, raw[headers[column]].astype("string"))
    if contract.key:
        key_cols = list(contract.key)
        dup = frame.duplicated(subset=key_cols, keep="first") & frame[key_cols].notna().all(axis=1)
        flag(
            dup,
            contract.key[0],
            f"duplicate key ({', '.join(key_cols)}): first occurrence kept",
            frame[key_cols[0]],
        )

    errors = (
        pd.concat(problems, ignore_index=True)
        if problems
        else pd.DataFrame(columns=[*ERROR_COLUMNS, "_index"])
    )
    bad_index = pd.Index(errors["_index"].unique())
    valid = frame[~frame.index.isin(bad_index)].reset_index(drop=True)
    for col in contract.columns:
        if col.kind == "count":
            valid[col.name] = valid[col.name].astype("int64") if not col.nullable else valid[col.name]
        elif col.kind == "number":
            valid[col.name] = valid[col.name].astype("float64")
        elif col.kind in ("siret", "naf_code", "commune_code", "category", "identifier"):
            valid[col.name] = valid[col.name].astype(object).where(valid[col.name].notna(), None)
    errors = (
        errors.drop(columns="_index").sort_values(["line", "column"], kind="stable").reset_index(drop=True)
    )
    report = ValidationReport(source=source, n_rows=n, n_valid=len(valid), errors=errors)
    return valid, report


def _contract_dates_rule(frame: pd.DataFrame) -> tuple[pd.Series, str, str]:
    bad = frame["planned_end"] <= frame["contract_start"]
    return bad, "planned_end", "planned_end must be after contract_start"


def _rupture_rule(frame: pd.DataFrame) -> tuple[pd.Series, str, str]:
    rupture = frame["rupture_date"]
    bad = rupture.notna() & ((rupture < frame["contract_start"]) | (rupture > frame["planned_end"]))
    return bad, "rupture_date", "rupture_date must fall between contract_start and planned_end"


def _closure_rule(frame: pd.DataFrame) -> tuple[pd.Series, str, str]:
    closure = frame["closure_date"]
    bad = closure.notna() & (closure < frame["creation_date"])
    return bad, "closure_date", "closure_date must not be before creation_date"


COMPANIES = TableContract(
    name="companies",
    description=(
        "Artisan companies registered at the chamber (one row per establishment), as the chamber's "
        "register (répertoire des métiers) exports them."
    ),
    columns=(
        Column("siret", "siret", "SIRET of the establishment (14 digits, Luhn-valid)"),
        Column(
            "naf_code", "naf_code", "Main activity, NAF rev.2 sub-class (APE), dotted SIRENE form e.g. 43.22A"
        ),
        Column("commune_code", "commune_code", "INSEE commune code (COG 2026) of the establishment"),
        Column("creation_date", "date", "Date the establishment was created (dateCreationEtablissement)"),
        Column(
            "legal_category",
            "category",
            "INSEE legal category (catégorie juridique, 4 digits); empty when the source does not say "
            "(a SIRENE establishment file)",
            nullable=True,
            allowed=tuple(LEGAL_CATEGORIES),
        ),
        Column(
            "headcount_band",
            "category",
            "SIRENE headcount band (trancheEffectifsEtablissement); empty when the source does not say (an "
            "RNE formality without effectifSalarie)",
            nullable=True,
            allowed=tuple(HEADCOUNT_BANDS),
        ),
        Column(
            "head_qualification",
            "category",
            "Highest qualification of the company head; empty when the source does not say (SIRENE, or an "
            "RNE formality without the head's qualité d'artisan)",
            nullable=True,
            allowed=tuple(HEAD_QUALIFICATIONS),
        ),
        Column(
            "closure_date",
            "date",
            "Date the establishment was struck off (radiation), empty if active",
            nullable=True,
        ),
    ),
    key=("siret",),
    rules=(_closure_rule,),
)

APPRENTICESHIP_CONTRACTS = TableContract(
    name="apprenticeship_contracts",
    description="Apprenticeship contracts registered by the chamber (one row per contract).",
    columns=(
        Column("contract_id", "identifier", "Chamber's contract number (pseudonymous identifier)"),
        Column("siret", "siret", "SIRET of the employer establishment"),
        Column("contract_start", "date", "First day of the contract"),
        Column("planned_end", "date", "Planned last day of the contract"),
        Column(
            "rupture_date",
            "date",
            "Date the contract was broken (rupture), empty if not broken",
            nullable=True,
        ),
        Column("diploma", "category", "Diploma prepared", allowed=tuple(DIPLOMAS)),
    ),
    key=("contract_id",),
    rules=(_contract_dates_rule, _rupture_rule),
)


def contract_markdown(contract: TableContract) -> str:
    """The contract as a Markdown table (for datasheets and model cards)."""
    rows = [
        f"### `{contract.name}`",
        "",
        contract.description,
        "",
        "| column | type | required | meaning |",
        "|---|---|---|---|",
    ]
    for col in contract.columns:
        kind = col.kind if not col.allowed else f"{col.kind}: {', '.join(col.allowed)}"
        rows.append(f"| `{col.name}` | {kind} | {'no' if col.nullable else 'yes'} | {col.description} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------------------
# A training centre's records (CFA), for dropout_risk. Employers are the `COMPANIES` of the chamber.


def _initiator_rule(frame: pd.DataFrame) -> tuple[pd.Series, str, str]:
    bad = frame["rupture_date"].isna() != frame["rupture_initiator"].isna()
    return bad, "rupture_initiator", "rupture_initiator is required with a rupture_date and only then"


LEARNERS = TableContract(
    name="learners",
    description="Apprentices of the training centre (one row per learner, pseudonymous: no name).",
    columns=(
        Column("learner_id", "identifier", "Pseudonymous learner identifier (never a name or INE number)"),
        Column("birth_year", "count", "Year of birth", minimum=1940, maximum=2015),
        Column("sex", "category", "Sex as recorded (sensitive: group reports only)", allowed=("F", "M")),
        Column(
            "prior_qualification",
            "category",
            "Highest qualification before the contract",
            allowed=tuple(PRIOR_QUALIFICATIONS),
        ),
        Column(
            "qpv_resident",
            "category",
            "Lives in a priority neighbourhood (QPV; sensitive)",
            allowed=("0", "1"),
        ),
        Column(
            "distance_home_centre_km",
            "number",
            "Distance home - training centre (km)",
            minimum=0,
            maximum=2000,
        ),
        Column(
            "distance_home_employer_km", "number", "Distance home - employer (km)", minimum=0, maximum=2000
        ),
    ),
    key=("learner_id",),
)

TRAINING_CONTRACTS = TableContract(
    name="training_contracts",
    description="Apprenticeship contracts followed by the training centre (one row per contract).",
    columns=(
        Column("contract_id", "identifier", "Contract identifier (pseudonymous)"),
        Column("learner_id", "identifier", "Learner (see `learners`)"),
        Column("siret", "siret", "SIRET of the employer (see `companies`)"),
        Column("naf_code", "naf_code", "Employer's main activity, NAF rev.2 sub-class"),
        Column("diploma", "category", "Diploma prepared", allowed=tuple(DIPLOMAS)),
        Column("contract_start", "date", "First day of the contract"),
        Column("planned_end", "date", "Planned last day of the contract"),
        Column("rupture_date", "date", "Date the contract was broken, empty if not broken", nullable=True),
        Column(
            "rupture_initiator",
            "category",
            "Who broke the contract",
            nullable=True,
            allowed=tuple(RUPTURE_INITIATORS),
        ),
    ),
    key=("contract_id",),
    rules=(_contract_dates_rule, _rupture_rule, _initiator_rule),
)

FOLLOW_UP = TableContract(
    name="follow_up",
    description=(
        "Weekly follow-up at the training centre in the first weeks of each contract (one row per contract "
        "and week since contract_start, week 0 = the first 7 days)."
    ),
    columns=(
        Column("contract_id", "identifier", "Contract (see `training_contracts`)"),
        Column("week", "count", "Week since contract_start (0 = days 0-6)", maximum=520),
        Column("absence_half_days", "count", "Unjustified absences at the centre (half-days)", maximum=14),
        Column("late_arrivals", "count", "Late arrivals at the centre", maximum=50),
        Column(
            "assessment_score",
            "number",
            "Assessment result out of 20, if one took place",
            nullable=True,
            minimum=0,
            maximum=20,
        ),
        Column(
            "mentor_change",
            "category",
            "The employer changed the apprentice's mentor (maître)",
            allowed=("0", "1"),
        ),
    ),
    key=("contract_id", "week"),
)


# ---------------------------------------------------------------------------------------------------------
# What the national apprenticeship systems hold (SIFA, the dashboard's ERP API v3, DECA), read by
# `catalog.formats`: one row per (learner, contract), pseudonymous, minimised at read time.


def _national_dates_rule(frame: pd.DataFrame) -> tuple[pd.Series, str, str]:
    bad = frame["planned_end"].notna() & (frame["planned_end"] <= frame["contract_start"])
    return bad, "planned_end", "planned_end must be after contract_start"


def _national_rupture_rule(frame: pd.DataFrame) -> tuple[pd.Series, str, str]:
    rupture = frame["rupture_date"]
    bad = rupture.notna() & (rupture < frame["contract_start"])
    return bad, "rupture_date", "rupture_date must not be before contract_start"


APPRENTICE_CONTRACTS = TableContract(
    name="apprentice_contracts",
    description=(
        "Apprenticeship contracts as the national systems know them (SIFA, ERP API v3, DECA): one row per "
        "learner and contract, keyed by pseudonyms (a keyed hash of the learner's identity), with no name, "
        "address, contact, birth date or national identifier."
    ),
    columns=(
        Column(
            "learner_id",
            "identifier",
            "Pseudonymous learner key (keyed hash of name, first name, birth date)",
        ),
        Column(
            "contract_id", "identifier", "Pseudonymous contract key (keyed hash of the learner and the start)"
        ),
        Column("source", "category", "Format the row was read from", allowed=tuple(SOURCE_FORMATS)),
        Column("siret", "siret", "SIRET of the employer", nullable=True),
        Column("naf_code", "naf_code", "Employer's main activity, NAF rev.2 sub-class", nullable=True),
        Column(
            "employer_headcount", "count", "Employer's headcount (employees)", nullable=True, maximum=500000
        ),
        Column(
            "employer_type",
            "category",
            "Kind of employer (SIFA TYPE_EMP)",
            nullable=True,
            allowed=tuple(EMPLOYER_TYPES),
        ),
        Column("diploma", "category", "Diploma prepared", nullable=True, allowed=tuple(DIPLOMAS)),
        Column("diploma_code", "identifier", "Diploma code (CFD, 8 characters) or RNCP code", nullable=True),
        Column(
            "theoretical_months",
            "count",
            "Theoretical length of the training (months)",
            nullable=True,
            minimum=1,
            maximum=60,
        ),
        Column(
            "training_year",
            "count",
            "Year of the training the learner is in (1 = first)",
            nullable=True,
            minimum=0,
            maximum=6,
        ),
        Column("contract_start", "date", "First day of the contract"),
        Column("planned_end", "date", "Planned last day of the contract", nullable=True),
        Column("rupture_date", "date", "Date the contract was broken, empty if not broken", nullable=True),
        Column(
            "rupture_cause",
            "category",
            "Cause of the rupture, coarsened from the export's text",
            nullable=True,
            allowed=tuple(RUPTURE_CAUSES),
        ),
        Column(
            "age",
            "number",
            "Age in completed years at the prediction date (contract start + N weeks), "
            "derived from the birth date, which is dropped",
            nullable=True,
            minimum=13,
            maximum=70,
        ),
        Column(
            "sex",
            "category",
            "Sex as recorded (sensitive: group reports only)",
            nullable=True,
            allowed=("F", "M"),
        ),
        Column(
            "rqth",
            "category",
            "Recognised disabled worker (RQTH; sensitive: group reports only)",
            nullable=True,
            allowed=("0", "1"),
        ),
        Column(
            "prior_situation",
            "category",
            "Situation before the contract, coarsened",
            nullable=True,
            allowed=tuple(PRIOR_SITUATIONS),
        ),
        Column(
            "last_class",
            "category",
            "Last class followed before the contract, as the contract form says (CERFA derniereClasse)",
            nullable=True,
            allowed=tuple(LAST_CLASSES),
        ),
        Column(
            "observed_on",
            "date",
            "When the source knew the row: a SIFA snapshot's 31 December; empty when known from the "
            "contract's start (ERP, DECA). A snapshot after the prediction date gives the model nothing.",
            nullable=True,
        ),
        Column(
            "prior_qualification",
            "category",
            "Highest diploma obtained before the contract",
            nullable=True,
            allowed=tuple(PRIOR_QUALIFICATIONS),
        ),
    ),
    key=("contract_id", "source"),
    rules=(_national_dates_rule, _national_rupture_rule),
)
