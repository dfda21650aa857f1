"""Metrics: known values on small hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from models.evaluation import (
    classification_metrics,
    evaluate_against_oracle,
    expected_calibration_error,
    gains_curve,
    top_fraction_precision,
)


def test_ece_is_zero_when_scores_match_rates_and_positive_otherwise() -> None:
    labels = np.array([0, 1] * 50)
    assert expected_calibration_error(labels, np.full(100, 0.5), n_bins=5) == pytest.approx(0.0)
    assert expected_calibration_error(labels, np.full(100, 0.8), n_bins=5) == pytest.approx(0.3)


def test_precision_and_lift_at_top() -> None:
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    scores = np.linspace(1, 0, 10)
    assert top_fraction_precision(labels, scores, 0.2) == 1.0
    metrics = classification_metrics(labels, scores)
    assert metrics["lift_at_20pct"] == pytest.approx(5.0)
    assert metrics["roc_auc"] == pytest.approx(1.0)


def test_oracle_ratios() -> None:
    rng = np.random.default_rng(0)
    oracle = rng.random(5000)
    labels = (rng.random(5000) < oracle).astype(int)
    noisy = np.clip(oracle + rng.normal(0, 0.3, 5000), 0, 1)
    metrics = evaluate_against_oracle(labels, noisy, oracle)
    assert metrics["oracle_roc_auc"] > metrics["roc_auc"]
    assert 0 < metrics["roc_auc_vs_oracle"] < 1
    same = evaluate_against_oracle(labels, oracle, oracle)
    assert same["roc_auc_vs_oracle"] == pytest.approx(1.0)


def test_gains_curve_ends_at_one() -> None:
    labels = np.array([0, 1, 0, 1])
    curve = gains_curve(labels, np.array([0.1, 0.9, 0.2, 0.8]), points=5)
    assert curve["share_of_hosts_reached"].iloc[0] == 0.0
    assert curve["share_of_hosts_reached"].iloc[2] == 1.0
