"""Survival dataset (censoring, competition at creation) and the territory's neighbourhoods (the indicators:
`test_indicators.py`)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from models.reference import Reference
from models.site_potential.survival import competitors_at_creation, label_name, survival_dataset
from models.site_potential.territory import Territory, build_territory


def _establishments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "siret": ["a", "b", "c", "d", "e"],
            "naf_code": ["96.02A", "96.02A", "96.02A", "10.71C", "96.02A"],
            "commune_code": ["69384", "69384", "69384", "69384", "69384"],
            "creation_date": pd.to_datetime(
                ["2010-01-01", "2012-05-01", "2015-01-01", "2011-01-01", "2022-06-01"]
            ),
            "closure_date": pd.to_datetime([None, "2013-01-01", None, None, "2023-01-01"]),
        }
    )


def test_competitors_at_creation() -> None:
    counts = competitors_at_creation(_establishments())
    # b: a is active; c: a active, b closed in 2013; d: another activity; e: a and c.
    assert counts.tolist() == [0.0, 1.0, 1.0, 0.0, 2.0]


def test_only_observed_horizons_are_labelled() -> None:
    ds = survival_dataset(_establishments(), horizon=3, extract_date=date(2025, 1, 1))
    assert "e" not in set(ds["siret"]), (
        "created in 2022: its cohort is not fully observed, so it is left out even though it closed"
    )
    labels = ds.set_index("siret")[label_name(3)]
    assert labels.to_dict() == {"a": 1.0, "b": 0.0, "c": 1.0, "d": 1.0}


@pytest.fixture(scope="module")
def territory(reference: Reference) -> Territory:
    return build_territory(reference, None)


def test_neighbourhoods_are_symmetric_and_nested(territory: Territory) -> None:
    near, far = territory.within[10], territory.within[20]
    assert (near != near.T).nnz == 0
    assert sparse.csr_matrix(near.multiply(far) != near).nnz == 0, "10 km neighbours are 20 km neighbours"
    assert np.all(territory.communes["catchment_20km"] >= territory.communes["population"])
