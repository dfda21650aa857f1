"""LightGBM estimator settings shared by the models (defaults defined once, here)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class LightGBMParams(BaseModel):
    """Booster parameters; early stopping picks the number of rounds on the validation cut-off."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=63, ge=2)
    min_data_in_leaf: int = Field(default=200, ge=1)
    feature_fraction: float = Field(default=0.9, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=1.0, ge=0)
    cat_smooth: float = Field(default=10.0, ge=0)
    max_rounds: int = Field(default=2000, ge=1)
    early_stopping_rounds: int = Field(default=50, ge=1)
    monotone_history: bool = Field(default=True, description="Hosting can only grow with past contracts")
    num_threads: int = Field(default=0, ge=0, description="0 = all cores")
    seed: int = 42

    def booster_params(self) -> dict[str, Any]:
        """Parameters in LightGBM's own names."""
        return {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "cat_smooth": self.cat_smooth,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "verbosity": -1,
        }


class CalibrationParams(BaseModel):
    """Post-hoc calibration: `auto` keeps isotonic calibration only if it lowers the Brier score."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "isotonic", "none"] = "auto"
    min_brier_gain: float = Field(default=1e-5, ge=0)
