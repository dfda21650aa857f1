"""The simulator reproduces every published figure it is calibrated on, within 2 points."""

from __future__ import annotations

import pytest

from models.reference import Reference
from models.simulation.chamber import (
    PUBLISHED_HOSTING_SHARE,
    ChamberSimulationParams,
    hosting_share_by_band,
    simulate_chamber,
)


@pytest.mark.slow
def test_hosting_share_by_size_matches_ism_barometer(reference: Reference) -> None:
    params = ChamberSimulationParams(n_companies=60_000, seed=2024)
    chamber = simulate_chamber(reference, params)
    shares = hosting_share_by_band(chamber, params.first_year, params.n_years).set_index("size_class")
    for size_class, published in PUBLISHED_HOSTING_SHARE.items():
        simulated = shares.loc[size_class, "simulated_share"]
        assert abs(simulated - published) <= 0.02, f"{size_class}: {simulated:.3f} vs {published:.3f}"
