"""Evaluation plots (matplotlib figures, no file I/O: the runner logs them to MLflow)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.evaluation import gains_curve, reliability_table, roc_points


def roc_figure(labels: np.ndarray, scores: np.ndarray, oracle: np.ndarray | None) -> Figure:
    """ROC curve of the model, and of the oracle when known."""
    fig, ax = plt.subplots(figsize=(5, 5))
    pts = roc_points(labels, scores)
    ax.plot(pts["fpr"], pts["tpr"], label="model")
    if oracle is not None:
        best = roc_points(labels, oracle)
        ax.plot(best["fpr"], best["tpr"], label="oracle", linestyle="--")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend()
    return fig


def calibration_figure(labels: np.ndarray, scores: np.ndarray, oracle: np.ndarray | None) -> Figure:
    """Reliability diagram (equal-count bins)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    table = reliability_table(labels, scores)
    ax.plot(table["mean_score"], table["observed_rate"], marker="o", label="model")
    if oracle is not None:
        best = reliability_table(labels, oracle)
        ax.plot(best["mean_score"], best["observed_rate"], marker="x", linestyle="--", label="oracle")
    top = float(max(table["mean_score"].max(), table["observed_rate"].max()))
    ax.plot([0, top], [0, top], color="grey", linewidth=0.8)
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title="Calibration")
    ax.legend()
    return fig


def gains_figure(labels: np.ndarray, scores: np.ndarray, oracle: np.ndarray | None) -> Figure:
    """Cumulative gains: share of next year's hosts reached when calling the top x % first."""
    fig, ax = plt.subplots(figsize=(5, 5))
    curve = gains_curve(labels, scores)
    ax.plot(curve["fraction_contacted"], curve["share_of_hosts_reached"], label="model")
    if oracle is not None:
        best = gains_curve(labels, oracle)
        ax.plot(best["fraction_contacted"], best["share_of_hosts_reached"], linestyle="--", label="oracle")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="random")
    ax.set(xlabel="share of companies contacted", ylabel="share of hosts reached", title="Cumulative gains")
    ax.legend()
    return fig


def importance_figure(importance: pd.Series) -> Figure:
    """Feature importance (total gain)."""
    fig, ax = plt.subplots(figsize=(6, 5))
    ordered = importance.sort_values()
    ax.barh(ordered.index, ordered.to_numpy())
    ax.set(xlabel="total gain", title="Feature importance")
    fig.tight_layout()
    return fig
