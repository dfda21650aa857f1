"""Pipeline configuration: YAML files parsed into each model family's pydantic config (its defaults are
defined there, once), with `--set key.path=value` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

from models.apprenticeship_host.config import HostPipelineConfig
from models.site_potential.config import SitePipelineConfig

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
C = TypeVar("C", bound=BaseModel)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _load_tree(source: Path | None, overrides: list[str] | None) -> dict[str, Any]:
    tree: dict[str, Any] = (yaml.safe_load(source.read_text(encoding="utf-8")) or {}) if source else {}
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override '{item}' is not of the form key.path=value")
        key, raw = item.split("=", 1)
        _set_dotted(tree, key.strip(), yaml.safe_load(raw))
    return tree


def load_config(config_type: type[C], path: Path | None, overrides: list[str] | None = None) -> C:
    """Read a YAML config into `config_type` (no file: the type's defaults) and apply `a.b=value`
    overrides (ValueError naming the problem otherwise)."""
    if path is not None and not path.exists():
        raise ValueError(f"{path}: config file not found")
    return config_type.model_validate(_load_tree(path, overrides))


def default_config_path(family_name: str) -> Path:
    """`pipelines/configs/<family>.yaml`."""
    return CONFIG_DIR / f"{family_name}.yaml"


def load_host_config(path: Path | None = None, overrides: list[str] | None = None) -> HostPipelineConfig:
    """The `apprenticeship_host` config (default: `pipelines/configs/apprenticeship_host.yaml`)."""
    return load_config(HostPipelineConfig, path or default_config_path("apprenticeship_host"), overrides)


def load_site_config(path: Path | None = None, overrides: list[str] | None = None) -> SitePipelineConfig:
    """The site-potential config (default: `pipelines/configs/site_potential.yaml`)."""
    return load_config(SitePipelineConfig, path or default_config_path("site_potential"), overrides)
