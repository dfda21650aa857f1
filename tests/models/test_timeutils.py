"""ISO dates read in bulk from Arrow strings agree with Python's own calendar."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pyarrow as pa

from models.timeutils import day_number, iso_day_numbers


def _python_day(value: str | None) -> int | None:
    """The reference reading: a plain `YYYY-MM-DD` of ASCII digits that `date.fromisoformat` accepts."""
    if value is None or len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None
    digits = value[:4] + value[5:7] + value[8:]
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return day_number(date.fromisoformat(value))
    except ValueError:
        return None


def _random_texts(n: int, seed: int = 7) -> list[str | None]:
    rng = random.Random(seed)
    tricky = [
        "", "2020-1-01", "2020/01/01", "2020-01-01T", "２020-01-01", "2020-01-0a",
        " 2020-01-01", "2020-01-01 ",
        "2020-02-29", "2019-02-29", "2000-02-29", "1900-02-29", "0000-01-01", "0001-01-01", "9999-12-31",
        "2023-04-31", "2023-13-01", "2023-00-10", "2023-01-00", "20230101", "2023-01-01\n",
    ]  # fmt: skip
    texts: list[str | None] = []
    for _ in range(n):
        draw = rng.random()
        if draw < 0.5:  # digits in place, months 00-13 and days 00-32: many impossible days
            texts.append(f"{rng.randint(0, 9999):04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}")
        elif draw < 0.6:
            texts.append(None)
        elif draw < 0.75:
            texts.append(rng.choice(tricky))
        else:
            texts.append(date.fromordinal(rng.randint(1, date.max.toordinal())).isoformat())
    return texts


def test_iso_day_numbers_match_python_dates_on_random_and_tricky_texts() -> None:
    texts = _random_texts(30_000)
    values = pa.array(texts, type=pa.string())
    for array in (values, values.slice(1234, 20_000)):  # a slice starts inside the buffers
        days, ok = iso_day_numbers(array)
        expected = [_python_day(text) for text in array.to_pylist()]
        assert ok.tolist() == [day is not None for day in expected]
        assert days[ok].tolist() == [day for day in expected if day is not None]
    assert ok.sum() > 5_000 and (~ok).sum() > 5_000  # both kinds are exercised


def test_iso_day_numbers_edge_cases() -> None:
    days, ok = iso_day_numbers(pa.array(["1970-01-01", "2024-02-29", None, "2023-02-29"]))
    assert ok.tolist() == [True, True, False, False]
    assert days[:2].tolist() == [0, day_number(date(2024, 2, 29))]
    empty_days, empty_ok = iso_day_numbers(pa.array([], type=pa.string()))
    assert len(empty_days) == 0 and len(empty_ok) == 0
    large = iso_day_numbers(pa.array(["2001-09-11"], type=pa.large_string()))
    assert large[1].tolist() == [True] and large[0].tolist() == [day_number(date(2001, 9, 11))]
    all_null_days, all_null_ok = iso_day_numbers(pa.array([None, None], type=pa.string()))
    assert not all_null_ok.any() and np.all(all_null_days == 0)


def test_iso_day_numbers_on_a_column_of_ten_character_texts() -> None:
    """The usual column (every value ten characters, no null) is read without gathering: same answers."""
    rng = random.Random(5)
    texts = [
        f"{rng.randint(0, 9999):04d}-{rng.randint(0, 13):02d}-{rng.randint(0, 32):02d}" for _ in range(5000)
    ]
    texts += ["abcdefghij", "2023-02-29", "2024-02-29", "2023x01-01"]
    values = pa.array(texts, type=pa.string())
    for array in (values, values.slice(777, 3000)):
        days, ok = iso_day_numbers(array)
        expected = [_python_day(text) for text in array.to_pylist()]
        assert ok.tolist() == [day is not None for day in expected]
        assert days[ok].tolist() == [day for day in expected if day is not None]
