"""The one MLflow pyfunc of every model: rows in, `score` out (the model's own code travels with it, logged
with `code_paths=["models"]`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from models.interface import ScoringModel


class ScoringPyfunc(PythonModel):
    """Wraps a fitted model of any family for the registry: `predict` is its `score`.

    Parameter `explain` (default true, as in the API): add the 3 main reasons of each score.

    `reference_profile`: the distribution of the inputs and scores of rows the model was not trained on
    (`models.monitoring.ReferenceProfile.to_dict()`), pickled with the model so that it is inside the
    registered artifacts and their digest; what monitoring compares served traffic with. A model pickled
    before it existed has none: read it as `getattr(python_model, "reference_profile", None)`.
    """

    def __init__(self, model: ScoringModel, reference_profile: dict[str, Any] | None = None) -> None:
        self.model = model
        self.reference_profile = reference_profile

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """The probability, the model's own outputs and (with `explain`) the reasons, one row per input."""
        explain = bool((params or {}).get("explain", True))
        scored = self.model.score(model_input, explain=explain)
        columns = {"probability": scored["probability"]}
        columns.update({f.name: scored[f.name] for f in self.model.output_fields})
        if explain:
            columns["reasons"] = scored["reasons"]
        return pd.DataFrame(columns, index=range(len(scored["probability"])))
