"""The `cma-predict` command line, end to end on small files, with its error paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_simulate_build_train_evaluate(mlflow_home: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = runner.invoke(
        app, ["simulate", "--companies", "2500", "--seed", "3", "--out", str(data), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC chamber: 2,500 companies" in result.output
    dataset = tmp_path / "dataset.parquet"
    cutoffs = [arg for y in range(2020, 2025) for arg in ("--cutoff", f"{y}-01-01")]
    result = runner.invoke(
        app,
        [
            "build-dataset",
            "--companies",
            str(data / "companies.csv"),
            "--contracts",
            str(data / "contracts.csv"),
            "--oracle",
            str(data / "oracle.csv"),
            "--out",
            str(dataset),
            *cutoffs,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "0 quarantined" in result.output
    result = runner.invoke(app, ["train", "--dataset", str(dataset), "--set", "lightgbm.min_data_in_leaf=20"])
    assert result.exit_code == 0, result.output
    assert "ROC AUC" in result.output and "no champion yet" in result.output
    result = runner.invoke(app, ["evaluate", "--dataset", str(dataset)])
    assert result.exit_code == 0, result.output
    assert "oracle" in result.output


@pytest.mark.slow
def test_run_trains_once_then_only_evaluates(mlflow_home: Path) -> None:
    args = [
        "run",
        "--set",
        "apprenticeship_host:simulation.n_companies=2000",
        "--set",
        "apprenticeship_host:lightgbm.min_data_in_leaf=20",
        "--set",
        "dropout_risk:simulation.n_contracts=6000",
        "--set",
        "dropout_risk:lightgbm.min_data_in_leaf=50",
        "--set",
        "site_potential:simulation.creations_per_year=1500",
        "--set",
        "site_potential:simulation.placement=population",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "No apprenticeship_host champion yet" in first.output
    assert "No dropout_risk champion yet" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "training on the embedded default" not in second.output
    assert "apprenticeship_host champion v1" in second.output
    assert "dropout_risk champion v1" in second.output
    assert "No site_potential champion yet" in first.output
    assert "site_survival_5y champion v1" in second.output
    assert "Diagnostic flash" in second.output, "the main job ends with a sample diagnostic"


def test_run_rejects_an_override_without_model(mlflow_home: Path) -> None:
    result = runner.invoke(app, ["run", "--set", "simulation.seed=3"])
    assert result.exit_code == 2 and "expected MODEL:key=value" in result.output


def test_build_dataset_names_the_missing_column(tmp_path: Path) -> None:
    companies = tmp_path / "companies.csv"
    companies.write_text("siret,naf_code\n73282932000074,43.22A\n")
    contracts = tmp_path / "contracts.csv"
    contracts.write_text("contract_id\n1\n")
    result = runner.invoke(
        app,
        [
            "build-dataset",
            "--companies",
            str(companies),
            "--contracts",
            str(contracts),
            "--cutoff",
            "2022-01-01",
            "--out",
            str(tmp_path / "d.parquet"),
        ],
    )
    assert result.exit_code == 2
    assert "companies.csv: missing column(s) 'commune_code'" in result.output


def test_bad_cutoff_and_bad_override_are_reported(tmp_path: Path, mlflow_home: Path) -> None:
    result = runner.invoke(
        app,
        [
            "build-dataset",
            "--companies",
            "a.csv",
            "--contracts",
            "b.csv",
            "--cutoff",
            "2022-13-01",
            "--out",
            str(tmp_path / "d.parquet"),
        ],
    )
    assert result.exit_code == 2 and "--cutoff" in result.output
    result = runner.invoke(app, ["train", "--set", "lightgbm.learning_rate=-1"])
    assert result.exit_code == 2 and "configuration" in result.output


def test_evaluate_without_dataset_explains_what_to_do(mlflow_home: Path) -> None:
    result = runner.invoke(app, ["evaluate"])
    assert result.exit_code == 2 and "dataset not found" in result.output
