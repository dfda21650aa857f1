"""Configuration of the `apprenticeship_host` training (YAML `pipelines/configs/apprenticeship_host.yaml`,
parsed into these models; defaults are defined here, once)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.config import RegistryConfig
from models.estimator import CalibrationParams, LightGBMParams
from models.gates import PublicationGates
from models.search import SearchParams
from models.simulation.chamber import ChamberSimulationParams


class HostDataConfig(BaseModel):
    """Where the chamber's records come from: the simulator, or a chamber's own files."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["simulate", "files"] = "simulate"
    companies: Path | None = None
    contracts: Path | None = None
    cutoffs: list[date] | None = Field(
        default=None, description="Cut-off dates (default: 1 January of each simulated year)"
    )

    @model_validator(mode="after")
    def _files_need_paths(self) -> HostDataConfig:
        if self.source == "files" and (self.companies is None or self.contracts is None or not self.cutoffs):
            raise ValueError("data.source 'files' needs data.companies, data.contracts and data.cutoffs")
        return self


class HostPipelineConfig(BaseModel):
    """Everything the `apprenticeship_host` pipeline needs; loaded from YAML, overridable from the CLI."""

    model_config = ConfigDict(extra="forbid")

    data: HostDataConfig = HostDataConfig()
    simulation: ChamberSimulationParams = ChamberSimulationParams(n_companies=250_000)
    lightgbm: LightGBMParams = LightGBMParams()
    search: SearchParams = SearchParams()
    calibration: CalibrationParams = CalibrationParams()
    registry: RegistryConfig = RegistryConfig()
    gates: PublicationGates = PublicationGates()

    def cutoffs(self) -> list[date]:
        """Cut-off dates: explicit ones, else 1 January of each observed simulated year."""
        if self.data.cutoffs:
            return sorted(self.data.cutoffs)
        sim = self.simulation
        return [date(year, 1, 1) for year in range(sim.first_year, sim.first_year + sim.n_years)]
