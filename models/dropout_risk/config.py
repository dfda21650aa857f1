"""Configuration of the `dropout_risk` training (YAML `pipelines/configs/dropout_risk.yaml`, parsed into
these models; defaults are defined here, once)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.config import RegistryConfig
from models.dropout_risk.model import RiskBandPolicy
from models.estimator import CalibrationParams, LightGBMParams
from models.gates import PublicationGates
from models.search import SearchParams
from models.simulation.training_centre import TrainingCentreParams


class DropoutDataConfig(BaseModel):
    """Where a training centre's records come from: the simulator, or the centre's files."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["simulate", "files"] = "simulate"
    learners: Path | None = None
    contracts: Path | None = None
    follow_up: Path | None = None
    companies: Path | None = Field(default=None, description="Employers (COMPANIES contract), optional")
    as_of: date | None = Field(default=None, description="Extraction date: later outcomes are unknown")

    @model_validator(mode="after")
    def _files_need_paths(self) -> DropoutDataConfig:
        if self.source == "files" and (
            self.learners is None or self.contracts is None or self.follow_up is None or self.as_of is None
        ):
            raise ValueError(
                "data.source 'files' needs data.learners, data.contracts, data.follow_up, data.as_of"
            )
        return self


class DropoutPipelineConfig(BaseModel):
    """Everything the `dropout_risk` pipeline needs; loaded from YAML, overridable from the CLI."""

    model_config = ConfigDict(extra="forbid")

    data: DropoutDataConfig = DropoutDataConfig()
    simulation: TrainingCentreParams = TrainingCentreParams(n_contracts=480_000)
    prediction_weeks: int = Field(default=6, ge=1, le=52, description="Weeks after contract_start")
    label: Literal["rupture", "rupture_9m"] = "rupture"
    risk_bands: RiskBandPolicy = RiskBandPolicy()
    lightgbm: LightGBMParams = LightGBMParams(monotone_history=False)
    search: SearchParams = SearchParams()
    calibration: CalibrationParams = CalibrationParams()
    registry: RegistryConfig = RegistryConfig(model_name="dropout_risk", experiment="dropout_risk")
    gates: PublicationGates = PublicationGates()

    @model_validator(mode="after")
    def _same_prediction_time(self) -> DropoutPipelineConfig:
        if self.data.source == "simulate" and self.simulation.prediction_weeks != self.prediction_weeks:
            # The simulator's oracle is exact for its own prediction time: keep both equal.
            self.simulation = self.simulation.model_copy(update={"prediction_weeks": self.prediction_weeks})
        return self
