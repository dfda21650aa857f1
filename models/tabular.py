"""A generic tabular encoder: categorical columns to integer codes, numeric columns to floats.

Used by every model whose features are already flat columns (dropout_risk after its derivation step, and
models retrained on a chamber's own extract).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


class TabularEncoder:
    """Encode a frame as a float matrix for LightGBM.

    Categories are those seen at fit time, sorted; an unseen or missing category becomes NaN, which
    LightGBM treats as missing. Numeric columns are coerced to float (unparseable -> NaN).
    """

    def __init__(self, categorical: Sequence[str], numeric: Sequence[str]) -> None:
        self.categorical = tuple(categorical)
        self.numeric = tuple(numeric)

    @property
    def feature_names(self) -> list[str]:
        """Matrix columns, categorical first."""
        return [*self.categorical, *self.numeric]

    def fit(self, frame: pd.DataFrame) -> TabularEncoder:
        """Learn the categories of each categorical column."""
        self.categories_: dict[str, pd.Index] = {
            name: pd.Index(sorted(_as_text(frame[name]).dropna().unique())) for name in self.categorical
        }
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The encoded matrix, columns in `feature_names` order."""
        out = np.empty((len(frame), len(self.categorical) + len(self.numeric)), dtype=np.float64)
        for j, name in enumerate(self.categorical):
            codes = self.categories_[name].get_indexer(pd.Index(_as_text(frame[name])))
            out[:, j] = np.where(codes >= 0, codes, np.nan)
        for j, name in enumerate(self.numeric, start=len(self.categorical)):
            out[:, j] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        return out

    def decode(self, name: str, code: float) -> str | None:
        """The category behind an encoded value (None for missing)."""
        if np.isnan(code):
            return None
        return str(self.categories_[name][int(code)])


def _as_text(values: pd.Series) -> pd.Series:
    """Categories as stripped text, missing kept missing."""
    text = values.astype("string").str.strip()
    return text.mask(text == "").astype(object)
