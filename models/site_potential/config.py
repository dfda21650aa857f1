"""Configuration of the site-potential training (YAML `pipelines/configs/site_potential.yaml`, parsed into
these models; defaults are defined here, once)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.estimator import CalibrationParams, LightGBMParams
from models.gates import PublicationGates
from models.search import SearchParams
from models.simulation.sirene import SireneSimulationParams
from models.site_potential import survival_model_name


class SiteDataConfig(BaseModel):
    """SIRENE files to ingest, or the SIRENE-format simulator."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["simulate", "files"] = "simulate"
    stock: Path | None = Field(default=None, description="StockEtablissement file (CSV or Parquet)")
    history: Path | None = Field(default=None, description="StockEtablissementHistorique file")
    extract_date: date | None = Field(default=None, description="Date of the files (default: simulator's)")

    @model_validator(mode="after")
    def _files_need_paths(self) -> SiteDataConfig:
        if self.source == "files" and (
            (self.stock is None and self.history is None) or self.extract_date is None
        ):
            raise ValueError(
                "data.source 'files' needs data.stock and/or data.history, and data.extract_date"
            )
        return self


class SitePipelineConfig(BaseModel):
    """Everything the site-potential pipeline needs (ingest, store, survival models)."""

    model_config = ConfigDict(extra="forbid")

    data: SiteDataConfig = SiteDataConfig()
    simulation: SireneSimulationParams = SireneSimulationParams()
    horizons: list[int] = Field(default=[3, 5])
    first_creation_year: int = Field(default=2005, description="Older creations are not used for training")
    lightgbm: LightGBMParams = LightGBMParams(monotone_history=False, num_leaves=31, min_data_in_leaf=100)
    search: SearchParams = SearchParams()
    calibration: CalibrationParams = CalibrationParams(method="platt")
    recent_cohorts: int = Field(
        default=5,
        ge=1,
        description="A cohort created after the training ones is predicted at the mean survival of this many "
        "last observed cohorts (models/site_potential/survival.py, CohortLevels)",
    )
    experiment: str = "site_potential"
    champion_alias: str = "champion"
    promote_metric: Literal["roc_auc", "pr_auc"] = "roc_auc"
    gates: PublicationGates = PublicationGates()
    store: Path | None = Field(
        default=None, description="Folder of the ingested establishments (set by the pipeline, not the YAML)"
    )
    model_suffix: str = Field(
        default="", description="Appended to the registered names, e.g. _lyon4e for a model of one extract"
    )

    def model_name(self, horizon: int) -> str:
        """Registered name of the survival model of a horizon."""
        return survival_model_name(horizon, self.model_suffix)

    def extract_date(self) -> date:
        """Date of the SIRENE files: the configured one, else the simulator's."""
        return self.data.extract_date or self.simulation.extract_date
