"""Retraining on a training centre's own extract: a config maps the file's columns to roles, no code change.

Roles: an identifier, a target with its positive values (a multi-class outcome becomes binary), an
optional date to split on, categorical and numeric features, and sensitive attributes that are never
features but feed the report by group. Everything here is pure: the file is read through the `DataAccess` the
pipeline hands to the extract family (`models/dropout_risk/extract.py`).
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.model_selection import StratifiedKFold, train_test_split

from models.explain import plain_value
from models.interface import InputContract, InputField, Rows, Split, rows_frame
from models.vocabulary import age_band

TARGET = "__target__"
ROW = "__row__"  # the line of a row in its file, standing in for a missing identifier
ORACLE = "__oracle__"  # the simulator's true probability (SYNTHETIC extracts), never a feature


class ExtractError(ValueError):
    """The extract does not match its config: names the file, the column and what was expected."""


class TargetSpec(BaseModel):
    """The outcome column and how its values map to the binary label."""

    model_config = ConfigDict(extra="forbid")

    column: str
    positive: list[str] = Field(min_length=1, description="Values meaning 'broken / dropped out' (label 1)")
    negative: list[str] | None = Field(
        default=None,
        description="Values meaning 'not broken' (label 0); other values are unknown outcomes, left out. "
        "Without this list every non-positive value is 0.",
    )


class ColumnRoles(BaseModel):
    """Which column plays which role."""

    model_config = ConfigDict(extra="forbid")

    identifier: str | None = Field(
        default=None, description="Row identifier (optional: without one, the line number stands in)"
    )
    target: TargetSpec
    date: str | None = Field(default=None, description="Date to split on (e.g. contract start)")
    date_format: str | None = Field(default=None, description="strptime format, e.g. %d/%m/%Y (else guessed)")
    categorical: list[str] = []
    numeric: list[str] = []
    sensitive: list[str] = Field(default=[], description="Never features; used for the report by group")
    report_groups: list[str] = Field(default=[], description="Other columns to break performance down by")
    oracle: str | None = Field(
        default=None,
        description="SYNTHETIC extracts only: the simulator's true probability of the positive outcome, "
        "never a feature; the evaluation then reports each metric next to the oracle's",
    )
    group_bins: dict[str, list[float]] = Field(
        default={},
        description="Bands of a numeric sensitive or report column, e.g. {Âge: [18, 21, 26]} gives "
        "< 18, 18-20, 21-25, 26+ (default: DARES age bands for an age, else quartiles)",
    )

    @model_validator(mode="after")
    def _disjoint(self) -> ColumnRoles:
        features = [*self.categorical, *self.numeric]
        if not features:
            raise ValueError("columns: at least one categorical or numeric feature is needed")
        taken = {
            self.target.column,
            *([self.identifier] if self.identifier else []),
            *([self.date] if self.date else []),
            *([self.oracle] if self.oracle else []),
        }
        for name in features:
            if name in taken:
                raise ValueError(
                    f"columns: '{name}' is the identifier, target or date and cannot be a feature"
                )
            if name in self.sensitive:
                raise ValueError(f"columns: '{name}' is sensitive and cannot be a feature")
        duplicated = {n for n in features if features.count(n) > 1}
        if duplicated:
            raise ValueError(f"columns: {sorted(duplicated)} listed twice among the features")
        return self


class EvaluationSpec(BaseModel):
    """How to evaluate: by time when a date is given (`auto`), else a stratified held-out split or CV."""

    model_config = ConfigDict(extra="forbid")

    split: Literal["auto", "time", "stratified", "cv"] = "auto"
    test_share: float = Field(default=0.2, gt=0, lt=0.5)
    validation_share: float = Field(default=0.2, gt=0, lt=0.5)
    cv_folds: int = Field(default=5, ge=2, le=20)
    seed: int = 42


@dataclass(frozen=True)
class PreparedExtract:
    """The extract's rows with a known outcome, typed, plus what was left out and why."""

    frame: pd.DataFrame  # the role columns, typed, and TARGET
    n_rows: int
    n_unknown_outcome: int
    notes: tuple[str, ...]


def _normalize_headers(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=lambda c: str(c).strip().lstrip("\ufeff").strip())


def prepare_extract(raw: pd.DataFrame, roles: ColumnRoles, source: str) -> PreparedExtract:
    """Check the extract against its roles and type its columns.

    Raises `ExtractError` when a configured column is missing, when a numeric column holds mostly text,
    when a date column cannot be read, or when the target has no positive or no negative row. Unparseable
    cells of a numeric column become missing values and are counted in the notes.
    """
    frame = _normalize_headers(raw)
    wanted = [
        *([roles.identifier] if roles.identifier else []),
        roles.target.column,
        *([roles.date] if roles.date else []),
        *roles.categorical,
        *roles.numeric,
        *roles.sensitive,
        *roles.report_groups,
        *([roles.oracle] if roles.oracle else []),
    ]
    missing = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
    if missing:
        raise ExtractError(
            f"{source}: column(s) {', '.join(repr(c) for c in missing)} named in the config are not in "
            "the file "
            f"(its columns: {', '.join(repr(c) for c in frame.columns)})"
        )
    notes: list[str] = []
    out = pd.DataFrame(index=frame.index)
    out[ROW] = np.arange(2, len(frame) + 2)
    if roles.identifier:
        out[roles.identifier] = frame[roles.identifier].astype("string").str.strip()
    for name in dict.fromkeys([*roles.categorical, *roles.sensitive, *roles.report_groups]):
        text = frame[name].astype("string").str.strip()
        out[name] = text.mask(text == "")
    for name in roles.numeric:
        text = frame[name].astype("string").str.strip().str.replace(",", ".", regex=False)
        text = text.mask(text == "")
        number = pd.to_numeric(text, errors="coerce")
        bad = number.isna() & text.notna()
        if bad.mean() > 0.5:
            raise ExtractError(
                f"{source}: column '{name}' is declared numeric but {bad.mean():.0%} of its values are not "
                "numbers: declare it categorical or fix the mapping"
            )
        if bad.any():
            lines = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:5])
            notes.append(
                f"column '{name}': {int(bad.sum())} non-numeric value(s) treated as missing (lines {lines})"
            )
        out[name] = number.astype(float)
    if roles.oracle:
        oracle = pd.to_numeric(
            frame[roles.oracle].astype("string").str.replace(",", ".", regex=False), errors="coerce"
        )
        out[ORACLE] = oracle.astype(float)
    if roles.date:
        text = frame[roles.date].astype("string").str.strip()
        parsed = pd.to_datetime(
            text, format=roles.date_format, errors="coerce", dayfirst=roles.date_format is None
        )
        bad = parsed.isna() & text.notna() & (text != "")
        if bad.mean() > 0.5:
            raise ExtractError(
                f"{source}: column '{roles.date}' could not be read as dates for {bad.mean():.0%} of rows "
                "(set columns.date_format, e.g. %d/%m/%Y)"
            )
        if bad.any():
            notes.append(f"column '{roles.date}': {int(bad.sum())} unreadable date(s) treated as missing")
        out[roles.date] = parsed

    target = frame[roles.target.column].astype("string").str.strip()
    positive = target.isin(roles.target.positive)
    if roles.target.negative is not None:
        negative = target.isin(roles.target.negative)
        known = positive | negative
    else:
        known = target.notna() & (target != "")
    n_unknown = int((~known).sum())
    if n_unknown:
        notes.append(
            f"column '{roles.target.column}': {n_unknown} row(s) with an outcome neither positive nor "
            "negative (e.g. contract still running, or empty) left out"
        )
    out[TARGET] = positive.astype(float)
    out = out[known.to_numpy()]
    if out[TARGET].sum() == 0:
        raise ExtractError(
            f"{source}: no row has a positive value of '{roles.target.column}' "
            f"(expected one of {roles.target.positive}; "
            f"values found: {sorted(target.dropna().unique())[:10]})"
        )
    if out[TARGET].sum() == len(out):
        raise ExtractError(f"{source}: every row of '{roles.target.column}' is positive: nothing to learn")
    return PreparedExtract(
        frame=out.reset_index(drop=True), n_rows=len(frame), n_unknown_outcome=n_unknown, notes=tuple(notes)
    )


class ExtractFeatureBuilder:
    """The feature columns of an extract, by their configured names (sensitive columns never included).

    Rows are read the way the extract was: column names without stray spaces, text categories (a category
    coded as a number reads `3`, whether it comes as 3, 3.0 or "3"), numbers with a decimal point or comma.
    """

    def __init__(self, roles: ColumnRoles) -> None:
        self.categorical = list(roles.categorical)
        self.numeric = list(roles.numeric)
        self.identifier = roles.identifier
        self.labels = {name: name for name in [*self.categorical, *self.numeric]}
        self.group_columns = list(dict.fromkeys([*roles.sensitive, *roles.report_groups]))
        self.group_bins = dict(roles.group_bins)

    def report_groups(self, rows: Rows) -> dict[str, np.ndarray]:
        """The groups of the report by group (sensitive and report columns, banded by `group_values`) of the
        rows that hold them: a column absent from `rows` (the service never keeps them) gives no group. A
        builder saved before these columns were kept has none."""
        frame = _normalize_headers(rows_frame(rows))
        bins = getattr(self, "group_bins", {})
        names = [n for n in getattr(self, "group_columns", []) if n in frame]
        return {name: group_values(frame, name, bins.get(name)) for name in names}

    @property
    def input_contract(self) -> InputContract:
        """The extract's feature columns (and its identifier), every one optional, read leniently."""
        ident = (
            (InputField(self.identifier, "text", "Row identifier", required=False, nullable=True),)
            if self.identifier
            else ()
        )
        fields = (
            *ident,
            *(InputField(n, "text", "categorical", required=False, nullable=True) for n in self.categorical),
            *(InputField(n, "float", "numeric", required=False, nullable=True) for n in self.numeric),
        )
        return InputContract(
            fields, id_field=self.identifier, lenient=True, description="A row of the extract."
        )

    def prepare(self, rows: Rows) -> pd.DataFrame:
        """Rows of any `Rows` form, headers stripped; absent feature columns are missing values."""
        frame = _normalize_headers(rows_frame(rows))
        absent = {n: None for n in [*self.categorical, *self.numeric] if n not in frame}
        return frame.assign(**absent) if absent else frame

    def build(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Feature frame: categorical columns as stripped text, numeric columns as floats."""
        rows = _normalize_headers(rows)
        out = pd.DataFrame(index=rows.index)
        for name in self.categorical:
            out[name] = category_text(rows[name])
        for name in self.numeric:
            out[name] = pd.to_numeric(
                rows[name].astype("string").str.strip().str.replace(",", ".", regex=False), errors="coerce"
            )
        return out

    def describe(self, feature: str, value: object) -> str:
        """Values as they are (the extract's own units)."""
        return plain_value(value)


def category_text(values: pd.Series) -> pd.Series:
    """Categories as stripped text; a whole number given as a number (3 or 3.0) reads `3`."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.notna() & (values == values.round())
        text = values.astype("string").where(~whole, values.where(whole).astype("Int64").astype("string"))
    else:
        text = values.astype("string")
    return text.str.strip()


def split_extract(prepared: pd.DataFrame, roles: ColumnRoles, spec: EvaluationSpec) -> Split:
    """Split by time when the extract has a date (and `split` allows it), else stratified on the target.

    With `cv`, the test rows are held out by a stable hash of the identifier (or line) within each outcome:
    the same rows are held out by every retrain, so that a new model and the champion are compared on rows
    neither was trained on; the folds cover the other rows.
    """
    method = spec.split
    if method == "auto":
        method = "time" if roles.date else "stratified"
    if method == "time":
        if not roles.date:
            raise ExtractError("evaluation.split 'time' needs columns.date")
        dated = prepared[prepared[roles.date].notna()].sort_values(roles.date, kind="stable")
        n = len(dated)
        a = int(n * (1 - spec.test_share - spec.validation_share))
        b = int(n * (1 - spec.test_share))
        train, valid, test = dated.iloc[:a], dated.iloc[a:b], dated.iloc[b:]
        first: date = test[roles.date].min().date()
        description = (
            f"time split on '{roles.date}': trained on the earliest {a:,} rows, validated on the next "
            f"{b - a:,}, tested on the {n - b:,} rows from {first} on"
        )
        return Split(train, valid, test, "time", description)
    if method == "cv":
        return _cv_split(prepared, roles, spec)
    rest, test = train_test_split(
        prepared, test_size=spec.test_share, stratify=prepared[TARGET], random_state=spec.seed
    )
    train, valid = train_test_split(
        rest,
        test_size=spec.validation_share / (1 - spec.test_share),
        stratify=rest[TARGET],
        random_state=spec.seed,
    )
    why = "no date column in the config" if not roles.date else "split forced by the config"
    description = (
        f"stratified held-out split ({why}): {len(train):,} training, {len(valid):,} validation and "
        f"{len(test):,} test rows, same outcome rate in each"
    )
    return Split(train, valid, test, "stratified", description)


def _cv_split(prepared: pd.DataFrame, roles: ColumnRoles, spec: EvaluationSpec) -> Split:
    key = prepared[roles.identifier] if roles.identifier else prepared[ROW]
    hashed = pd.util.hash_pandas_object(key.astype(str), index=False, hash_key=f"{spec.seed:016d}"[:16])
    rank = (hashed.to_numpy() % 1_000_003) / 1_000_003
    held = np.zeros(len(prepared), dtype=bool)
    for outcome in (0.0, 1.0):  # stratified: the same share of each outcome
        rows = np.flatnonzero(prepared[TARGET].to_numpy() == outcome)
        order = rows[np.argsort(rank[rows], kind="stable")]
        held[order[: round(len(rows) * spec.test_share)]] = True
    rest, test = prepared[~held], prepared[held]
    train, valid = train_test_split(
        rest,
        test_size=spec.validation_share / (1 - spec.test_share),
        stratify=rest[TARGET],
        random_state=spec.seed,
    )
    fitted = pd.concat([train, valid], ignore_index=True)  # the folds index these rows, in this order
    folds = StratifiedKFold(n_splits=spec.cv_folds, shuffle=True, random_state=spec.seed)
    indices = list(folds.split(np.zeros(len(fitted)), fitted[TARGET].to_numpy()))
    description = (
        f"{spec.cv_folds}-fold stratified cross-validation over {len(rest):,} rows (metrics: mean over "
        f"folds; the group table uses out-of-fold scores); the registered model is fit on them, and "
        f"{len(test):,} rows held out by a stable hash of the {'identifier' if roles.identifier else 'line'} "
        "compare it with the champion"
    )
    return Split(
        train.reset_index(drop=True),
        valid.reset_index(drop=True),
        test.reset_index(drop=True),
        "cv",
        description,
        folds=[(a, b) for a, b in indices],
    )


def group_values(frame: pd.DataFrame, name: str, bins: list[float] | None = None) -> np.ndarray:
    """The groups of one column of the report by group: its values, or bands when it is numeric (the
    configured `bins`, the DARES age bands for an age, else quartiles), so that no group is one person."""
    text = frame[name].astype("string").str.strip()
    number = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
    given = text.notna() & (text != "")
    if not given.any() or (number.notna() & given).sum() < 0.9 * given.sum():
        return text.astype(object).where(text.notna(), None).to_numpy()
    if bins is None and plain_text_name(name) in ("age", "age au debut", "age debut"):
        banded = pd.Series(age_band(number.fillna(-1)), index=frame.index).where(number.notna())
        return banded.astype(object).to_numpy()
    edges = sorted(set(bins if bins is not None else np.nanquantile(number, [0.25, 0.5, 0.75]).tolist()))
    labels = [f"< {_num(edges[0])}"]
    labels += [f"{_num(lo)} - < {_num(hi)}" for lo, hi in itertools.pairwise(edges)]
    labels += [f">= {_num(edges[-1])}"]
    band = np.searchsorted(np.asarray(edges, dtype=float), number.to_numpy(dtype=float), side="right")
    out = np.array([labels[b] for b in band], dtype=object)
    out[number.isna().to_numpy()] = None
    return out


def _num(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def plain_text_name(name: str) -> str:
    """A column name lower-cased without accents (to recognise an age column)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join(folded.replace("_", " ").split())
