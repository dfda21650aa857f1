"""Large batches: the column-wise check of canonical records and the schema path give the same answers."""

from __future__ import annotations

import numpy as np
import pytest

from service.model_registry import ModelRegistry
from service.schemas import HostCompany
from service.scoring import score_host, score_host_records, validate_records
from tests.service.conftest import Served, company_records

pytestmark = pytest.mark.slow


def _variants(records: list[dict[str, object]], seed: int) -> list[dict[str, object]]:
    """Canonical records, valid-but-not-canonical ones and invalid ones, mixed."""
    rng = np.random.default_rng(seed)
    out = []
    for record in records:
        r = dict(record)
        kind = rng.integers(0, 10)
        if kind == 0:
            r["contracts_last_12m"] = str(r["contracts_last_12m"])  # pydantic coerces "1" -> 1
        elif kind == 1:
            r["creation_date"] = f"{r['creation_date']}T00:00:00"  # a datetime string pydantic accepts
        elif kind == 2:
            r["naf_code"] = str(r["naf_code"]).replace(".", "").lower()
        elif kind == 3:
            r["headcount_band"] = "99"  # invalid
        elif kind == 4:
            r["creation_date"] = "2020-02-30"  # invalid date
        elif kind == 5:
            r.pop("cutoff_date")
        elif kind == 6:
            r["extra"] = 1  # invalid: extra field
        elif kind == 7:
            r["years_since_last_contract"] = 3
        out.append(r)
    return out


def test_canonical_and_schema_paths_agree(served: Served) -> None:
    registry = ModelRegistry(names=("apprenticeship_host",))
    import mlflow

    mlflow.set_tracking_uri(served.settings.resolved_tracking_uri())
    registry.reload()
    loaded = registry.get("apprenticeship_host")
    assert loaded is not None
    records = _variants(company_records(served.host_rows, 1500), seed=3)
    fast_results, fast_errors = score_host_records(loaded.model, records, explain=True)
    valid, errors = validate_records(records, HostCompany)
    slow_results = score_host(loaded.model, valid, explain=True)
    assert len(fast_results) + len({e.index for e in fast_errors}) == len(records)
    assert [r["index"] for r in fast_results] == [r["index"] for r in slow_results]
    for fast, slow in zip(fast_results, slow_results, strict=True):
        assert fast["probability"] == slow["probability"] and fast["reasons"] == slow["reasons"]
    assert sorted((e.index, e.field) for e in fast_errors) == sorted((e.index, e.field) for e in errors)
    assert len(errors) > 100, "the mix does contain invalid records"
