"""Pipeline configuration: YAML files parsed into pydantic models (defaults are defined here, once)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.dropout_risk.model import RiskBandPolicy
from models.estimator import CalibrationParams, LightGBMParams
from models.extract import ColumnRoles, EvaluationSpec
from models.simulation.chamber import ChamberSimulationParams
from models.simulation.sirene import SireneSimulationParams
from models.simulation.training_centre import TrainingCentreParams

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


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


class RegistryConfig(BaseModel):
    """Registered model name and the rule that moves the `champion` alias."""

    model_config = ConfigDict(extra="forbid")

    model_name: str = "apprenticeship_host"
    experiment: str = "apprenticeship_host"
    promote_metric: Literal["roc_auc", "pr_auc"] = "roc_auc"
    champion_alias: str = "champion"


class HostPipelineConfig(BaseModel):
    """Everything the `apprenticeship_host` pipeline needs; loaded from YAML, overridable from the CLI."""

    model_config = ConfigDict(extra="forbid")

    data: HostDataConfig = HostDataConfig()
    simulation: ChamberSimulationParams = ChamberSimulationParams(n_companies=250_000)
    lightgbm: LightGBMParams = LightGBMParams()
    calibration: CalibrationParams = CalibrationParams()
    registry: RegistryConfig = RegistryConfig()

    def cutoffs(self) -> list[date]:
        """Cut-off dates: explicit ones, else 1 January of each observed simulated year."""
        if self.data.cutoffs:
            return sorted(self.data.cutoffs)
        sim = self.simulation
        return [date(year, 1, 1) for year in range(sim.first_year, sim.first_year + sim.n_years)]


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
    calibration: CalibrationParams = CalibrationParams()
    registry: RegistryConfig = RegistryConfig(model_name="dropout_risk", experiment="dropout_risk")

    @model_validator(mode="after")
    def _same_prediction_time(self) -> DropoutPipelineConfig:
        if self.data.source == "simulate" and self.simulation.prediction_weeks != self.prediction_weeks:
            # The simulator's oracle is exact for its own prediction time: keep both equal.
            self.simulation = self.simulation.model_copy(update={"prediction_weeks": self.prediction_weeks})
        return self


class ExtractPipelineConfig(BaseModel):
    """Retraining on a centre's own extract: the column roles and how to evaluate, nothing else needed."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="extract", description="Short name of the extract, used in the run name")
    data: Path | None = Field(default=None, description="The extract (CSV or Parquet); --data overrides it")
    columns: ColumnRoles
    evaluation: EvaluationSpec = EvaluationSpec()
    risk_bands: RiskBandPolicy = RiskBandPolicy()
    lightgbm: LightGBMParams = LightGBMParams(monotone_history=False, min_data_in_leaf=50, num_leaves=31)
    calibration: CalibrationParams = CalibrationParams()
    registry: RegistryConfig = RegistryConfig(
        model_name="dropout_risk_extract", experiment="dropout_risk_extract"
    )


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
    calibration: CalibrationParams = CalibrationParams()
    experiment: str = "site_potential"
    model_suffix: str = Field(
        default="", description="Appended to the registered names, e.g. _lyon4e for a model of one extract"
    )

    def model_name(self, horizon: int) -> str:
        """Registered name of the survival model of a horizon."""
        return f"site_survival_{horizon}y{self.model_suffix}"

    def extract_date(self) -> date:
        """Date of the SIRENE files: the configured one, else the simulator's."""
        return self.data.extract_date or self.simulation.extract_date


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _load_tree(source: Path, overrides: list[str] | None) -> dict[str, Any]:
    tree: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override '{item}' is not of the form key.path=value")
        key, raw = item.split("=", 1)
        _set_dotted(tree, key.strip(), yaml.safe_load(raw))
    return tree


def load_host_config(path: Path | None = None, overrides: list[str] | None = None) -> HostPipelineConfig:
    """Read a YAML config (default: `pipelines/configs/apprenticeship_host.yaml`) and apply `a.b=value`."""
    tree = _load_tree(path or CONFIG_DIR / "apprenticeship_host.yaml", overrides)
    return HostPipelineConfig.model_validate(tree)


def load_dropout_config(
    path: Path | None = None, overrides: list[str] | None = None
) -> DropoutPipelineConfig:
    """Read a YAML config (default: `pipelines/configs/dropout_risk.yaml`) and apply `a.b=value`."""
    tree = _load_tree(path or CONFIG_DIR / "dropout_risk.yaml", overrides)
    return DropoutPipelineConfig.model_validate(tree)


def load_extract_config(path: Path, overrides: list[str] | None = None) -> ExtractPipelineConfig:
    """Read an extract's YAML config (see `data_samples/dropout_risk/extract_example.yaml`)."""
    if not path.exists():
        raise ValueError(f"{path}: config file not found")
    return ExtractPipelineConfig.model_validate(_load_tree(path, overrides))


def load_site_config(path: Path | None = None, overrides: list[str] | None = None) -> SitePipelineConfig:
    """Read a YAML config (default: `pipelines/configs/site_potential.yaml`) and apply `a.b=value`."""
    return SitePipelineConfig.model_validate(
        _load_tree(path or CONFIG_DIR / "site_potential.yaml", overrides)
    )
