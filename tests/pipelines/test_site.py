"""Site potential end to end: simulate SIRENE, ingest, store, survival models, diagnose (CLI and JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("site_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CMA_PREDICT_HOME", str(home))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = runner.invoke(
            app,
            [
                "train-site",
                "--set",
                "simulation.creations_per_year=2500",
                "--set",
                "simulation.placement=population",
            ],
        )
    assert result.exit_code == 0, result.output
    assert "site_survival_3y v1" in result.output and "site_survival_5y v1" in result.output
    assert "site_survival_5y: by section" in result.output, "predicted vs observed survival by NAF section"
    return home


def test_diagnose_prints_a_report(trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMA_PREDICT_HOME", str(trained_home))
    result = runner.invoke(app, ["diagnose", "--naf", "96.02A", "--commune", "69384"])
    assert result.exit_code == 0, result.output
    assert "Niveau de risque" in result.output and "Chances de survie à 5 ans" in result.output


def test_diagnose_json_is_complete(trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMA_PREDICT_HOME", str(trained_home))
    result = runner.invoke(app, ["diagnose", "--naf", "4322a", "--commune", "33063", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["naf_code"] == "43.22A" and data["commune_name"] == "Bordeaux"
    assert data["risk_level"] in {"faible", "modéré", "élevé"}
    assert [s["horizon_years"] for s in data["survival"]] == [3, 5]
    assert all(0 < s["probability"] < 1 for s in data["survival"])
    assert len(data["indicators"]) == 14
    assert all(
        {"value", "departement_value", "national_value", "definition", "source"} <= set(i)
        for i in data["indicators"]
    )
    assert len(data["reasons"]) >= 3


@pytest.mark.parametrize(
    ("naf", "commune", "expected"),
    [
        ("96.02", "69384", "96.02A (Coiffure)"),
        ("96.02A", "Bordeau", "33063 (Bordeaux, 33)"),
        ("96.02A", "99999", "code commune INSEE inconnu"),
    ],
)
def test_unknown_codes_list_close_matches(
    trained_home: Path, monkeypatch: pytest.MonkeyPatch, naf: str, commune: str, expected: str
) -> None:
    monkeypatch.setenv("CMA_PREDICT_HOME", str(trained_home))
    result = runner.invoke(app, ["diagnose", "--naf", naf, "--commune", commune])
    assert result.exit_code == 2
    assert expected in result.output


def test_former_commune_code_is_accepted(trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMA_PREDICT_HOME", str(trained_home))
    result = runner.invoke(app, ["diagnose", "--naf", "96.02A", "--commune", "14729", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["commune_code"] == "14654"


def test_diagnose_without_store_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMA_PREDICT_HOME", str(tmp_path))
    result = runner.invoke(app, ["diagnose", "--naf", "96.02A", "--commune", "69384"])
    assert result.exit_code == 2 and "train-site" in result.output


def test_diagnose_uses_the_models_of_its_suffix(trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--suffix _swapped` reads site_survival_3y_swapped and site_survival_5y_swapped: registered here as
    the 5-year and the 3-year models, so the odds come out swapped."""
    from mlflow import MlflowClient

    from models.site_potential import survival_model_name

    monkeypatch.setenv("CMA_PREDICT_HOME", str(trained_home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{trained_home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for horizon, source in ((3, 5), (5, 3)):
        target = survival_model_name(horizon, "_swapped")
        version = client.copy_model_version(f"models:/{survival_model_name(source)}@champion", target)
        client.set_registered_model_alias(target, "champion", version.version)
    args = ["diagnose", "--naf", "96.02A", "--commune", "69384", "--json"]
    plain = runner.invoke(app, args)
    swapped = runner.invoke(app, [*args, "--suffix", "_swapped"])
    assert plain.exit_code == 0 and swapped.exit_code == 0, plain.output + swapped.output
    odds = [s["probability"] for s in json.loads(plain.output)["survival"]]
    assert [s["probability"] for s in json.loads(swapped.output)["survival"]] == odds[::-1]
    absent = runner.invoke(app, [*args, "--suffix", "_absent"])
    assert absent.exit_code == 2 and "survival models not found" in absent.output


def test_diagnose_writes_the_pdf(trained_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMA_PREDICT_HOME", str(trained_home))
    target = tmp_path / "out" / "diagnostic.pdf"
    result = runner.invoke(app, ["diagnose", "--naf", "96.02A", "--commune", "33063", "--pdf", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"%PDF") and "Niveau de risque" in result.output
    assert (trained_home / "cache" / "communes_2018_contours.npz").exists(), "contours kept for the service"
