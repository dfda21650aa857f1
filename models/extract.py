"""Retraining on a training centre's own extract: a config maps the file's columns to roles, no code change.

Roles: an identifier, a target with its positive values (a multi-class outcome becomes binary), an
optional date to split on, categorical and numeric features, and sensitive attributes that are never
features but feed the report by group. Everything here is pure: the file is read by `pipelines.extract`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.model_selection import StratifiedKFold, train_test_split

TARGET = "__target__"


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

    identifier: str
    target: TargetSpec
    date: str | None = Field(default=None, description="Date to split on (e.g. contract start)")
    date_format: str | None = Field(default=None, description="strptime format, e.g. %d/%m/%Y (else guessed)")
    categorical: list[str] = []
    numeric: list[str] = []
    sensitive: list[str] = Field(default=[], description="Never features; used for the report by group")
    report_groups: list[str] = Field(default=[], description="Other columns to break performance down by")

    @model_validator(mode="after")
    def _disjoint(self) -> ColumnRoles:
        features = [*self.categorical, *self.numeric]
        if not features:
            raise ValueError("columns: at least one categorical or numeric feature is needed")
        taken = {self.identifier, self.target.column, *([self.date] if self.date else [])}
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
        roles.identifier,
        roles.target.column,
        *([roles.date] if roles.date else []),
        *roles.categorical,
        *roles.numeric,
        *roles.sensitive,
        *roles.report_groups,
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
    """The feature columns of an extract, by their configured names (sensitive columns never included)."""

    def __init__(self, roles: ColumnRoles) -> None:
        self.categorical = list(roles.categorical)
        self.numeric = list(roles.numeric)

    def build(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Feature frame: categorical columns as stripped text, numeric columns as floats."""
        rows = _normalize_headers(rows)
        out = pd.DataFrame(index=rows.index)
        for name in self.categorical:
            out[name] = rows[name].astype("string").str.strip()
        for name in self.numeric:
            out[name] = pd.to_numeric(
                rows[name].astype("string").str.replace(",", ".", regex=False), errors="coerce"
            )
        return out


@dataclass(frozen=True)
class Split:
    """Train, validation and test rows, and the sentence saying how they were made."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    method: str
    description: str


def split_extract(prepared: pd.DataFrame, roles: ColumnRoles, spec: EvaluationSpec) -> Split:
    """Split by time when the extract has a date (and `split` allows it), else stratified on the target."""
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
    return Split(train, valid, test, "stratified" if method != "cv" else "cv", description)


def cv_folds(prepared: pd.DataFrame, spec: EvaluationSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold indices (train, test) over the prepared extract."""
    folds = StratifiedKFold(n_splits=spec.cv_folds, shuffle=True, random_state=spec.seed)
    return list(folds.split(np.zeros(len(prepared)), prepared[TARGET].to_numpy()))
