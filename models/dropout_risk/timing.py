"""When, in a contract, a rupture happens after the prediction time: the one definition used to draw
rupture dates in the simulator and to compute the 9-month oracle exactly.

A piecewise-uniform distribution over days since contract_start, on the segments
[prediction day, 91), [91, 182), [182, 365), [365, contract length), with fixed weights (renormalized over
the segments that exist for a given contract): it reproduces the published timing of ruptures (OPCO Atlas:
about 30 % in the first 3 months, 40 % between months 6 and 12).
"""

from __future__ import annotations

import numpy as np

SEGMENT_BOUNDS: tuple[int, ...] = (91, 182, 365)
SEGMENT_WEIGHTS: tuple[float, ...] = (0.176, 0.154, 0.47, 0.20)


def _segments(
    prediction_day: np.ndarray, length_days: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower bounds, upper bounds and normalized weights (n x 4) of each contract's segments."""
    n = len(length_days)
    edges = np.column_stack([prediction_day, *[np.full(n, b) for b in SEGMENT_BOUNDS], length_days]).astype(
        float
    )
    lo = np.maximum(edges[:, :-1], prediction_day[:, None])
    hi = np.minimum(edges[:, 1:], length_days[:, None].astype(float))
    weights = np.where(hi > lo, np.array(SEGMENT_WEIGHTS)[None, :], 0.0)
    total = weights.sum(axis=1, keepdims=True)
    fallback = total[:, 0] == 0
    if fallback.any():  # prediction time at or past the last segment: uniform on what remains
        lo[fallback, 0] = prediction_day[fallback]
        hi[fallback, 0] = np.maximum(length_days[fallback], prediction_day[fallback] + 1)
        weights[fallback] = [1.0, 0.0, 0.0, 0.0]
        total = weights.sum(axis=1, keepdims=True)
    return lo, hi, weights / total


def rupture_day_cdf(day: np.ndarray, prediction_day: np.ndarray, length_days: np.ndarray) -> np.ndarray:
    """P(rupture day < `day` | rupture after `prediction_day`), per contract."""
    lo, hi, weights = _segments(prediction_day, length_days)
    span = np.maximum(hi - lo, 1e-9)
    covered = np.clip((day[:, None] - lo) / span, 0.0, 1.0)
    return np.asarray((weights * covered).sum(axis=1))


def draw_rupture_day(
    rng: np.random.Generator, prediction_day: np.ndarray, length_days: np.ndarray
) -> np.ndarray:
    """Rupture day (since contract_start) for contracts broken after `prediction_day`."""
    lo, hi, weights = _segments(prediction_day, length_days)
    cumulative = np.cumsum(weights, axis=1)
    segment = (rng.random(len(length_days))[:, None] > cumulative).sum(axis=1)
    segment = np.minimum(segment, weights.shape[1] - 1)
    rows = np.arange(len(length_days))
    start, stop = lo[rows, segment], hi[rows, segment]
    return np.floor(start + rng.random(len(length_days)) * (stop - start)).astype(np.int64)
