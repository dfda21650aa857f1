"""Configuration pieces every model family shares (pydantic; the YAML files are read by `pipelines`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from models.interface import Registration


class RegistryConfig(BaseModel):
    """Registered model name and the rule that moves the `champion` alias."""

    model_config = ConfigDict(extra="forbid")

    model_name: str = "apprenticeship_host"
    experiment: str = "apprenticeship_host"
    promote_metric: Literal["roc_auc", "pr_auc"] = "roc_auc"
    champion_alias: str = "champion"

    def registration(self) -> Registration:
        """Where the runner registers the model."""
        return Registration(self.model_name, self.experiment, self.champion_alias, self.promote_metric)
