"""The MLflow pyfunc face of `HostModel`: snapshots in, probability and national percentile out.

The feature code travels with it (logged with `code_paths=["models"]`), so the registry holds everything
needed to score.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from models.apprenticeship_host.model import HostModel

OUTPUT_COLUMNS: tuple[str, ...] = ("probability", "percentile")


class HostPyfuncModel(PythonModel):
    """Wraps a fitted `HostModel` for the registry."""

    def __init__(self, model: HostModel) -> None:
        self.model = model

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Probability of starting an apprenticeship within 12 months, and its national percentile."""
        probability = self.model.predict_proba(model_input)
        return pd.DataFrame({"probability": probability, "percentile": self.model.percentile(probability)})
