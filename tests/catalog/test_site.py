"""The site store: where it lives, read as `build_store` writes it, a clear error when none is built."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from catalog.reference import load_territory
from catalog.site import (
    ACTIVITY_COMMUNE,
    ACTIVITY_SURVIVAL,
    STORE_META,
    StoreNotFoundError,
    load_store,
    site_dir,
)


def test_the_store_lives_in_the_project_folder(tmp_path: Path) -> None:
    assert site_dir(tmp_path) == tmp_path / "data" / "site_potential"


def test_a_missing_store_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError, match="train-site") as raised:
        load_store(site_dir(tmp_path))
    assert isinstance(raised.value, FileNotFoundError) and raised.value.store_dir == site_dir(tmp_path)


def test_a_built_store_is_read_on_the_shipped_territory(tmp_path: Path) -> None:
    folder = site_dir(tmp_path)
    folder.mkdir(parents=True)
    counts = pd.DataFrame(
        {
            "naf_code": ["96.02A"],
            "commune_code": ["69384"],
            "active": [3],
            "created_12m": [1],
            "closed_12m": [0],
        }
    )
    survival = pd.DataFrame(
        {
            "naf_code": ["96.02A"],
            "departement_code": ["69"],
            "cohort_3y": [10],
            "survived_3y": [7],
            "cohort_5y": [8],
            "survived_5y": [5],
        }
    )
    counts.to_parquet(folder / ACTIVITY_COMMUNE)
    survival.to_parquet(folder / ACTIVITY_SURVIVAL)
    (folder / STORE_META).write_text(json.dumps({"reference_date": "2025-01-01", "synthetic": True}))
    store = load_store(folder)
    assert store.territory is load_territory()
    assert store.reference_date == date(2025, 1, 1) and store.synthetic
    pd.testing.assert_frame_equal(store.activity_commune, counts)
    pd.testing.assert_frame_equal(store.activity_survival, survival)
    assert load_store(folder) is not store, "read afresh: a job may have rebuilt it"
