"""The report by group flags the gaps it is meant to flag, and only those."""

from __future__ import annotations

import numpy as np

from models.fairness import group_report, group_report_markdown


def test_a_miscalibrated_group_is_flagged() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    group = np.where(rng.random(n) < 0.5, "A", "B")
    truth = rng.uniform(0.05, 0.6, n)
    labels = (rng.random(n) < truth).astype(float)
    scores = np.where(group == "B", truth * 0.6, truth)  # B under-predicted
    report = group_report(labels, scores, {"groupe": group}, threshold=0.4).set_index("group")
    assert "calibration gap" not in report.loc["A", "flags"]
    assert "calibration gap" in report.loc["B", "flags"]
    assert "recall" in report.loc["B", "flags"], "B gets fewer alerts than its risk warrants"
    assert "⚠" in group_report_markdown(report.reset_index())


def test_a_well_served_population_has_no_flag() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    group = np.where(rng.random(n) < 0.5, "A", "B")
    truth = rng.uniform(0.05, 0.6, n)
    labels = (rng.random(n) < truth).astype(float)
    report = group_report(labels, truth, {"groupe": group}, threshold=0.4)
    assert (report["flags"] == "").all(), report


def test_small_groups_are_reported_but_not_flagged() -> None:
    labels = np.array([0, 1] * 20, dtype=float)
    scores = np.full(40, 0.9)
    report = group_report(labels, scores, {"g": np.array(["x"] * 40)}, threshold=0.5)
    assert report.loc[0, "n"] == 40 and report.loc[0, "flags"] == ""
