"""The training-centre simulator reproduces each figure it is calibrated on, within 2 points."""

from __future__ import annotations

import pytest

from models.reference import Reference
from models.simulation.training_centre import (
    TrainingCentreParams,
    rupture_calibration_report,
    simulate_training_centre,
)


@pytest.mark.slow
def test_break_rates_by_diploma_sector_size_and_timing(reference: Reference) -> None:
    centre = simulate_training_centre(reference, TrainingCentreParams(n_contracts=120_000, seed=2025))
    report = rupture_calibration_report(centre, national=True)
    calibrated = report[report["calibrated"]]
    assert len(calibrated) == 9
    off = calibrated[calibrated["gap_points"].abs() > 2.0]
    assert off.empty, off[["figure", "published", "simulated"]].to_string()
    assert len(report) == 14, "national comparison figures are reported too"
