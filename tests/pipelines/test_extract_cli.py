"""Retraining from a file and a config alone, on extracts shaped unlike the simulator's."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.reference import DATA_SAMPLES

runner = CliRunner()
EXAMPLE = DATA_SAMPLES / "dropout_risk" / "extract_example.csv"
CONFIG = DATA_SAMPLES / "dropout_risk" / "extract_example.yaml"


def _config(tmp_path: Path, **changes: object) -> Path:
    tree = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        node = tree
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.slow
def test_example_extract_trains_evaluates_and_registers(mlflow_home: Path) -> None:
    result = runner.invoke(app, ["train-extract", "--data", str(EXAMPLE), "--config", str(CONFIG)])
    assert result.exit_code == 0, result.output
    assert "time split on 'Début contrat'" in result.output
    assert "left out" in result.output, "contracts still running are reported"
    version = mlflow.MlflowClient().get_model_version_by_alias("dropout_risk_cfa_exemple", "champion")
    assert "Performance by group" in version.description and "| Sexe |" in version.description


@pytest.mark.slow
def test_comma_separated_extract_without_date_uses_a_stratified_split(
    mlflow_home: Path, tmp_path: Path
) -> None:
    import pandas as pd

    frame = pd.read_csv(EXAMPLE, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame = frame.drop(columns=[" Début contrat "]).rename(columns={"Métier": "  metier"})
    data = tmp_path / "export.csv"
    frame.to_csv(data, index=False)  # comma separator, no BOM, header with spaces
    config = _config(
        tmp_path,
        columns__date=None,
        columns__date_format=None,
        columns__categorical=["Diplôme préparé", "metier", "Taille entreprise"],
        columns__report_groups=["metier"],
        registry__model_name="dropout_risk_no_date",
    )
    result = runner.invoke(app, ["train-extract", "--data", str(data), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "stratified held-out split (no date column" in result.output


@pytest.mark.slow
def test_cross_validation_is_said_in_the_report(mlflow_home: Path, tmp_path: Path) -> None:
    config = _config(
        tmp_path, evaluation__split="cv", evaluation__cv_folds=3, registry__model_name="dropout_cv"
    )
    result = runner.invoke(app, ["train-extract", "--data", str(EXAMPLE), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "3-fold stratified cross-validation" in result.output


def test_config_naming_an_absent_column_fails_clearly(mlflow_home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, columns__numeric=["Âge", "Absences (total)"])
    result = runner.invoke(app, ["train-extract", "--data", str(EXAMPLE), "--config", str(config)])
    assert result.exit_code == 2
    assert "'Absences (total)' named in the config are not in the file" in result.output


def test_config_with_unknown_key_fails_clearly(mlflow_home: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, columns__numerics=["Âge"])
    result = runner.invoke(app, ["train-extract", "--data", str(EXAMPLE), "--config", str(config)])
    assert result.exit_code == 2 and "numerics" in result.output


def test_missing_config_file(mlflow_home: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train-extract", "--data", str(EXAMPLE), "--config", str(tmp_path / "no.yaml")]
    )
    assert result.exit_code == 2 and "config file not found" in result.output
