"""Date helpers shared by simulators and point-in-time builders (day numbers, calendar offsets)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

EPOCH = date(1970, 1, 1)
NEVER = np.int64(2**40)  # day number standing for "no date" (e.g. a contract never broken)


def day_number(value: date) -> int:
    """Days since 1970-01-01 of a calendar date."""
    return (value - EPOCH).days


def days_of(values: pd.Series, missing: np.int64 = NEVER) -> np.ndarray:
    """Day numbers of a datetime64 series; missing dates become `missing`."""
    dt = pd.to_datetime(values)
    out = dt.to_numpy(dtype="datetime64[D]").astype(np.int64)
    return np.where(dt.isna().to_numpy(), missing, out)


def shift_years(value: date, years: int) -> date:
    """The same calendar day `years` later (29 February falls back to 28 February)."""
    try:
        return value.replace(year=value.year + years)
    except ValueError:
        return value.replace(year=value.year + years, day=28)


def to_date(value: date | str | pd.Timestamp) -> date:
    """Coerce an ISO string, Timestamp or date to a `datetime.date`."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value
