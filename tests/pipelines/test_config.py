"""Pipeline configuration: YAML + overrides, clear errors on bad keys and values."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.config import load_host_config


def test_default_config_loads_and_gives_yearly_cutoffs() -> None:
    cfg = load_host_config()
    assert cfg.simulation.n_companies == 250_000
    assert cfg.cutoffs() == [date(y, 1, 1) for y in range(2020, 2025)]


def test_overrides_are_typed() -> None:
    cfg = load_host_config(overrides=["simulation.seed=7", "lightgbm.learning_rate=0.1"])
    assert cfg.simulation.seed == 7 and cfg.lightgbm.learning_rate == 0.1


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lightgbm:\n  learning_rat: 0.1\n")
    with pytest.raises(ValidationError, match="learning_rat"):
        load_host_config(path)


def test_files_source_needs_paths() -> None:
    with pytest.raises(ValidationError, match=r"needs data\.companies"):
        load_host_config(overrides=["data.source=files"])


def test_malformed_override() -> None:
    with pytest.raises(ValueError, match=r"key\.path=value"):
        load_host_config(overrides=["simulation.seed"])
