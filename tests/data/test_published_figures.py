"""The simulator reproduces every published figure it is calibrated on, within 2 points."""

from __future__ import annotations

import pytest

from models.reference import Reference
from models.simulation.chamber import ChamberSimulationParams, calibration_report, simulate_chamber


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2024, 7])
def test_every_calibrated_figure_is_within_two_points(reference: Reference, seed: int) -> None:
    params = ChamberSimulationParams(n_companies=60_000, seed=seed)
    report = calibration_report(simulate_chamber(reference, params), reference, params)
    assert len(report) == 12
    off = report[report["gap_points"].abs() > 2.0]
    assert off.empty, off[["figure", "published", "simulated"]].to_string()
