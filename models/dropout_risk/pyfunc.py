"""The MLflow pyfunc face of `DropoutModel`: snapshots in, probability, risk band and PPR actions out."""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from models.dropout_risk.model import DropoutModel


class DropoutPyfuncModel(PythonModel):
    """Wraps a fitted `DropoutModel` for the registry (its feature code travels with it)."""

    def __init__(self, model: DropoutModel) -> None:
        self.model = model

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Rupture probability, risk band (`faible`, `modéré`, `élevé`) and the band's PPR actions."""
        return self.model.score(model_input)
