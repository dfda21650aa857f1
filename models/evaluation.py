"""Metrics of a probabilistic classifier, computed for the model and for the oracle on the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

TOP_FRACTIONS: tuple[float, ...] = (0.05, 0.10, 0.20)


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, n_bins: int = 15) -> float:
    """ECE over equal-count bins: mean |observed rate - mean score| weighted by bin size.

    Equal-count bins (not equal-width) so that the many low scores of a rare event are not pooled in one bin.
    """
    order = np.argsort(scores, kind="stable")
    bins = np.array_split(order, n_bins)
    n = len(scores)
    return float(sum(len(b) / n * abs(labels[b].mean() - scores[b].mean()) for b in bins if len(b)))


def top_fraction_precision(labels: np.ndarray, scores: np.ndarray, fraction: float) -> float:
    """Share of positives among the `fraction` highest scores (ties broken by row order)."""
    k = max(1, int(np.ceil(fraction * len(scores))))
    top = np.argsort(-scores, kind="stable")[:k]
    return float(labels[top].mean())


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier, ECE, precision and lift at the top 5/10/20 %."""
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    base_rate = float(y.mean())
    out = {
        "roc_auc": float(roc_auc_score(y, s)),
        "pr_auc": float(average_precision_score(y, s)),
        "brier": float(brier_score_loss(y, s)),
        "ece": expected_calibration_error(y, s),
        "mean_score": float(s.mean()),
        "base_rate": base_rate,
    }
    for fraction in TOP_FRACTIONS:
        pct = round(fraction * 100)
        precision = top_fraction_precision(y, s, fraction)
        out[f"precision_at_{pct}pct"] = precision
        out[f"lift_at_{pct}pct"] = precision / base_rate if base_rate > 0 else float("nan")
    return out


def evaluate_against_oracle(
    labels: np.ndarray, scores: np.ndarray, oracle: np.ndarray | None = None
) -> dict[str, float]:
    """Model metrics, plus `oracle_<metric>` on the same rows and `<metric>_vs_oracle` ratios when known.

    The ratio for AUC is (AUC - 0.5) / (oracle AUC - 0.5): the share of the attainable gain over chance.
    """
    metrics = classification_metrics(labels, scores)
    metrics["n_rows"] = float(len(labels))
    if oracle is None:
        return metrics
    best = classification_metrics(labels, oracle)
    for name, value in best.items():
        if name != "base_rate":
            metrics[f"oracle_{name}"] = value
    metrics["roc_auc_vs_oracle"] = (metrics["roc_auc"] - 0.5) / (best["roc_auc"] - 0.5)
    metrics["lift_at_10pct_vs_oracle"] = metrics["lift_at_10pct"] / best["lift_at_10pct"]
    return metrics


def reliability_table(labels: np.ndarray, scores: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """Mean score and observed rate per equal-count bin (the points of a calibration plot)."""
    order = np.argsort(scores, kind="stable")
    rows = [
        {"mean_score": float(scores[b].mean()), "observed_rate": float(labels[b].mean()), "n": len(b)}
        for b in np.array_split(order, n_bins)
        if len(b)
    ]
    return pd.DataFrame(rows)


def gains_curve(labels: np.ndarray, scores: np.ndarray, points: int = 101) -> pd.DataFrame:
    """Cumulative share of positives captured when contacting the top x % of scores."""
    order = np.argsort(-scores, kind="stable")
    captured = np.cumsum(labels[order]) / max(labels.sum(), 1)
    fractions = np.linspace(0, 1, points)
    idx = np.clip((fractions * len(scores)).astype(int) - 1, 0, len(scores) - 1)
    gains = np.where(fractions == 0, 0.0, captured[idx])
    return pd.DataFrame({"fraction_contacted": fractions, "share_of_hosts_reached": gains})


def roc_points(labels: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """False/true positive rates of the ROC curve."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr})


def alert_metrics(labels: np.ndarray, scores: np.ndarray, capacity: float) -> dict[str, float]:
    """Precision and recall when alerting on the `capacity` share of highest scores."""
    y = np.asarray(labels, dtype=float)
    k = max(1, int(np.ceil(capacity * len(scores))))
    top = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]
    hits = float(y[top].sum())
    return {
        "precision_at_capacity": hits / k,
        "recall_at_capacity": hits / max(float(y.sum()), 1.0),
    }


def evaluate_alerts_against_oracle(
    labels: np.ndarray, scores: np.ndarray, oracle: np.ndarray | None, capacity: float
) -> dict[str, float]:
    """`evaluate_against_oracle` plus precision and recall at the alert capacity (and their oracle ratio)."""
    metrics = evaluate_against_oracle(labels, scores, oracle)
    metrics["alert_capacity"] = capacity
    metrics.update(alert_metrics(labels, scores, capacity))
    if oracle is not None:
        best = alert_metrics(labels, oracle, capacity)
        metrics.update({f"oracle_{k}": v for k, v in best.items()})
        metrics["recall_at_capacity_vs_oracle"] = metrics["recall_at_capacity"] / best["recall_at_capacity"]
    return metrics
