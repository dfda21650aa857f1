"""A fast check for large host batches: records already in canonical JSON form (strings matching their
pattern, allowed codes, ISO dates, integers in range) are accepted column by column; every other record
goes through the pydantic schema one by one. A record accepted here is one pydantic accepts with the same
values (a test checks both paths agree on random valid and invalid records).
"""

from __future__ import annotations

from typing import Any, get_args

import numpy as np
import pandas as pd

from service.schemas import HostCompany

_FIELDS = HostCompany.model_fields
_PATTERNS = {"siret": r"\d{14}", "naf_code": r"\d{2}\.?\d{2}[A-Za-z]", "commune_code": r"\d{5}|2[ABab]\d{3}"}
_ALLOWED = {
    name: set(get_args(_FIELDS[name].annotation))
    for name in ("legal_category", "headcount_band", "head_qualification")
}
_INT_LIMITS = {
    "contracts_last_12m": 1000,
    "contracts_last_3y": 1000,
    "contracts_total": 10_000,
    "active_contracts": 1000,
    "ruptures_last_3y": 1000,
}
_REQUIRED = [name for name, field in _FIELDS.items() if field.is_required()]


def canonical_host_records(records: list[dict[str, Any]]) -> np.ndarray:
    """Boolean mask of the records that are canonical and valid under `HostCompany`."""
    n = len(records)
    keys = [set(r) if isinstance(r, dict) else None for r in records]
    ok = np.array([k is not None and k <= _FIELDS.keys() and all(f in k for f in _REQUIRED) for k in keys])
    if not ok.any():
        return ok
    frame = pd.DataFrame.from_records(
        [r if good else {} for r, good in zip(records, ok, strict=True)], columns=list(_FIELDS)
    )
    for name, pattern in _PATTERNS.items():
        col = frame[name]
        is_str = col.map(lambda v: type(v) is str).to_numpy(dtype=bool)
        ok &= is_str & col.where(is_str, "").astype(str).str.fullmatch(pattern).to_numpy(dtype=bool)
    for name, allowed in _ALLOWED.items():
        ok &= frame[name].map(lambda v, a=allowed: type(v) is str and v in a).to_numpy(dtype=bool)
    for name in ("creation_date", "cutoff_date"):
        col = frame[name]
        missing = col.isna().to_numpy() if name == "cutoff_date" else np.zeros(n, dtype=bool)
        is_str = col.map(lambda v: type(v) is str).to_numpy(dtype=bool)
        text = col.where(is_str, "").astype(str)
        shaped = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").to_numpy(dtype=bool)
        parsed = (
            pd.to_datetime(text.where(shaped, None), format="%Y-%m-%d", errors="coerce").notna().to_numpy()
        )
        ok &= missing | (is_str & shaped & parsed)
    for name, limit in _INT_LIMITS.items():
        col = frame[name]
        missing = col.isna().to_numpy()
        is_int = col.map(lambda v: type(v) is int).to_numpy(dtype=bool)
        values = pd.to_numeric(col.where(is_int, 0), errors="coerce").to_numpy(dtype=float)
        ok &= missing | (is_int & (values >= 0) & (values <= limit))
    years = frame["years_since_last_contract"]
    missing = years.isna().to_numpy()
    is_num = years.map(lambda v: type(v) in (int, float)).to_numpy(dtype=bool)
    values = pd.to_numeric(years.where(is_num, 0), errors="coerce").to_numpy(dtype=float)
    ok &= missing | (is_num & np.isfinite(values) & (values >= 0) & (values <= 100))
    return ok
