"""Retraining on a centre's extract: roles checked against the file, clear errors, splits."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from models.extract import TARGET, ColumnRoles, EvaluationSpec, ExtractError, prepare_extract, split_extract


def _raw(n: int = 200) -> pd.DataFrame:
    outcomes = ["Rupture", "Diplômé", "En cours", "Abandon"]
    return pd.DataFrame(
        {
            "\ufeffId ": [f"X{i}" for i in range(n)],
            " Issue": [outcomes[i % 4] for i in range(n)],
            "Début": [f"{1 + i % 28:02d}/0{1 + i % 9}/20{20 + i % 4}" for i in range(n)],
            "Diplôme": ["CAP" if i % 3 else "BP" for i in range(n)],
            "Âge ": [str(16 + i % 8) if i % 10 else "" for i in range(n)],
            "Note": [f"{10 + i % 7},5" if i % 5 else "abs" for i in range(n)],
            "Sexe": ["F" if i % 2 else "M" for i in range(n)],
        }
    )


def _roles(**changes: object) -> ColumnRoles:
    base: dict[str, object] = {
        "identifier": "Id",
        "target": {"column": "Issue", "positive": ["Rupture", "Abandon"], "negative": ["Diplômé"]},
        "date": "Début",
        "date_format": "%d/%m/%Y",
        "categorical": ["Diplôme"],
        "numeric": ["Âge", "Note"],
        "sensitive": ["Sexe"],
    }
    base.update(changes)
    return ColumnRoles.model_validate(base)


def test_multiclass_target_becomes_binary_and_unknown_outcomes_are_left_out() -> None:
    prepared = prepare_extract(_raw(), _roles(), "x.csv")
    assert prepared.n_rows == 200 and prepared.n_unknown_outcome == 50
    assert prepared.frame[TARGET].mean() == pytest.approx(100 / 150)
    assert any("'Note': 40 non-numeric value(s)" in n for n in prepared.notes)
    assert prepared.frame["Note"].dropna().iloc[0] == 11.5, "decimal commas are read"
    assert prepared.frame["Âge"].isna().sum() > 0, "empty cells are missing values"


def test_without_negative_list_everything_not_positive_is_zero() -> None:
    roles = _roles(target={"column": "Issue", "positive": ["Rupture"]})
    prepared = prepare_extract(_raw(), roles, "x.csv")
    assert prepared.n_unknown_outcome == 0 and prepared.frame[TARGET].sum() == 50


def test_missing_column_is_named_with_the_file_columns() -> None:
    with pytest.raises(ExtractError, match=r"x\.csv: column\(s\) 'Absences' named in the config are not"):
        prepare_extract(_raw(), _roles(numeric=["Âge", "Absences"]), "x.csv")


def test_numeric_column_of_text_is_refused() -> None:
    with pytest.raises(ExtractError, match="'Diplôme' is declared numeric"):
        prepare_extract(_raw(), _roles(numeric=["Diplôme"], categorical=["Note"]), "x.csv")


def test_target_without_positive_value() -> None:
    roles = _roles(target={"column": "Issue", "positive": ["rupture"]})
    with pytest.raises(ExtractError, match="no row has a positive value of 'Issue'"):
        prepare_extract(_raw(), roles, "x.csv")


def test_sensitive_attribute_cannot_be_a_feature() -> None:
    with pytest.raises(ValidationError, match="'Sexe' is sensitive"):
        _roles(categorical=["Diplôme", "Sexe"])


def test_time_split_when_a_date_exists_else_stratified() -> None:
    prepared = prepare_extract(_raw(), _roles(), "x.csv").frame
    split = split_extract(prepared, _roles(), EvaluationSpec())
    assert split.method == "time"
    assert split.train["Début"].max() <= split.test["Début"].min()
    no_date = _roles(date=None)
    prepared = prepare_extract(_raw(), no_date, "x.csv").frame
    split = split_extract(prepared, no_date, EvaluationSpec())
    assert split.method == "stratified" and "no date column" in split.description
    rates = [part[TARGET].mean() for part in (split.train, split.valid, split.test)]
    assert max(rates) - min(rates) < 0.05
