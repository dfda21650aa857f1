"""The shared time split."""

from __future__ import annotations

import pandas as pd
import pytest

from models.estimator import split_by_period


def test_train_on_earlier_periods_validate_and_test_on_the_last_two() -> None:
    frame = pd.DataFrame({"year": [2021, 2024, 2022, 2023, 2021, 2024], "x": range(6)})
    train, valid, test = split_by_period(frame, frame["year"], "years")
    assert sorted(train["year"]) == [2021, 2021, 2022]
    assert valid["year"].tolist() == [2023] and test["year"].tolist() == [2024, 2024]


def test_fewer_than_three_periods_is_an_error_naming_them() -> None:
    frame = pd.DataFrame({"year": [2021, 2022]})
    with pytest.raises(ValueError, match="at least 3 yearly cohorts, got 2"):
        split_by_period(frame, frame["year"], "yearly cohorts")
