"""MLflow pyfunc face of a `SurvivalModel`: (activity, commune, creation date, competitors) -> survival."""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from models.site_potential.survival import SurvivalModel


class SurvivalPyfuncModel(PythonModel):
    """Wraps a fitted `SurvivalModel` for the registry."""

    def __init__(self, model: SurvivalModel) -> None:
        self.model = model

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Probability of still being active `horizon` years after creation."""
        return pd.DataFrame({"survival_probability": self.model.predict_proba(model_input)})
