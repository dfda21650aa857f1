"""The reasons of a batch (found for all rows at once) are the sentences of `top_reasons`, row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.explain import matrix_reasons, plain_value, top_reasons


def test_batch_reasons_equal_row_by_row_reasons() -> None:
    rng = np.random.default_rng(5)
    names = ["naf_code", "size", "age", "colour"]
    categories = {"naf_code": pd.Index(["43.22A", "96.02A"]), "colour": pd.Index(["blue", "red"])}
    matrix = np.column_stack(
        [
            rng.integers(0, 2, 500).astype(float),
            rng.normal(size=500),
            rng.integers(15, 40, 500),
            rng.integers(0, 2, 500),
        ]
    ).astype(float)
    matrix[rng.random(500) < 0.1, 0] = np.nan  # unknown categories read as missing
    contributions = rng.normal(size=(500, 4))
    labels = {"naf_code": "activité", "size": "taille"}

    def describe(name: str, value: object) -> str:
        return f"{value:.0f} ans" if name == "age" and isinstance(value, float) else plain_value(value)

    got = matrix_reasons(contributions, matrix, names, categories, labels, describe, "le score")
    for i in range(500):
        values = {
            n: (None if np.isnan(matrix[i, j]) else str(categories[n][int(matrix[i, j])]))
            if n in categories
            else float(matrix[i, j])
            for j, n in enumerate(names)
        }
        assert got[i] == top_reasons(contributions[i], names, values, labels, describe, "le score")
    assert got[0][0].split(" (")[0] in {"Activité", "Taille", "Age", "Colour"}
    assert any("non renseigné" in reason for row in got for reason in row)
