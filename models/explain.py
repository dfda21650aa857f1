"""The main reasons of a score, in French, from LightGBM's own per-feature contributions.

Generic: each model hands in its feature labels and how its feature values read (`describe`), which live
with its features.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

Describe = Callable[[str, object], str]


def plain_value(value: object) -> str:
    """A value as an agent reads it when its feature has no unit of its own."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "non renseigné"
    if isinstance(value, float) and value.is_integer():
        return f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    return str(value)


def is_missing(value: object) -> bool:
    """None or NaN."""
    return value is None or (isinstance(value, float) and np.isnan(value))


def top_reasons(
    contributions: np.ndarray,
    names: Sequence[str],
    values: Mapping[str, object],
    labels: Mapping[str, str],
    describe: Describe,
    target: str,
    limit: int = 3,
) -> list[str]:
    """The `limit` features that move the score most, as « Libellé (valeur) : augmente/diminue `target` »."""
    order = np.argsort(-np.abs(contributions))[:limit]
    out = []
    for j in order:
        name = names[j]
        verb = "augmente" if contributions[j] > 0 else "diminue"
        label = labels.get(name, name)
        out.append(f"{label[:1].upper()}{label[1:]} ({describe(name, values.get(name))}) : {verb} {target}")
    return out


class Contributing(Protocol):
    """An estimator that gives per-feature contributions (last column: the bias)."""

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Contributions to the raw score, one row per matrix row."""
        ...


def model_reasons(
    estimator: Contributing,
    matrix: np.ndarray,
    names: Sequence[str],
    categories: Mapping[str, pd.Index],
    labels: Mapping[str, str],
    describe: Describe,
    target: str,
) -> list[list[str]]:
    """The main reasons of every row of an encoded matrix, from the estimator's own contributions."""
    contributions = estimator.contributions(matrix)[:, :-1]
    return matrix_reasons(contributions, matrix, names, categories, labels, describe, target)


def matrix_reasons(
    contributions: np.ndarray,
    matrix: np.ndarray,
    names: Sequence[str],
    categories: Mapping[str, pd.Index],
    labels: Mapping[str, str],
    describe: Describe,
    target: str,
    limit: int = 3,
) -> list[list[str]]:
    """`top_reasons` of every row of an encoded matrix (the same sentences): categorical codes read back
    through `categories` (the encoder's fitted categories), numbers as they are. `contributions` has no
    bias column. The top features of all rows are found at once; only those are read back."""
    order = np.argsort(-np.abs(contributions), axis=1)[:, :limit]
    heads = [labels.get(name, name) for name in names]
    heads = [f"{head[:1].upper()}{head[1:]}" for head in heads]
    levels = [categories.get(name) for name in names]
    reasons = []
    for i, top in enumerate(order.tolist()):
        row = []
        for j in top:
            value = matrix[i, j]
            index = levels[j]
            shown: object = (
                (None if np.isnan(value) else str(index[int(value)])) if index is not None else float(value)
            )
            verb = "augmente" if contributions[i, j] > 0 else "diminue"
            row.append(f"{heads[j]} ({describe(names[j], shown)}) : {verb} {target}")
        reasons.append(row)
    return reasons
