"""`cma-predict score`: a chamber's files scored in batches by a registered model, with the API's validation
and the API's scores (the same code path: `service.validation.validate`, `service.scoring.score_batch`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from catalog.tables import write_xlsx
from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS
from pipelines.cli import app
from pipelines.tracking import configure_tracking
from service.app import create_app
from service.monitoring import MonitoringStore
from tests.service.conftest import settings_and_keys

runner = CliRunner()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary MLflow store with a small `apprenticeship_host` champion (v1) for this module."""
    folder = tmp_path_factory.mktemp("batch_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CMA_PREDICT_HOME", str(folder))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = runner.invoke(
            app, ["train", "--set", "simulation.n_companies=2000", "--set", "lightgbm.min_data_in_leaf=20"]
        )
        assert result.exit_code == 0, result.output
        yield folder


@pytest.fixture(autouse=True)
def monitoring_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own monitoring store (where `score` keeps what it scored)."""
    path = tmp_path / "monitoring.db"
    monkeypatch.setenv("CMA_MONITORING_DB", str(path))
    return path


def snapshots(home: Path, n: int) -> pd.DataFrame:
    """`n` company snapshots of the trained dataset, with a column the model does not read."""
    dataset = pd.read_parquet(home / "data" / "apprenticeship_host" / "dataset.parquet")
    rows = dataset[dataset["cutoff_date"] == dataset["cutoff_date"].max()].head(n).reset_index(drop=True)
    return rows[[*SNAPSHOT_COLUMNS, "oracle_probability"]]


def as_csv_text(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as a chamber's export writes them: French dates, decimal commas."""
    return rows.assign(
        creation_date=rows["creation_date"].dt.strftime("%d/%m/%Y"),
        cutoff_date=rows["cutoff_date"].dt.strftime("%Y-%m-%d"),
        years_since_last_contract=rows["years_since_last_contract"].map(
            lambda v: "" if v != v else f"{v}".replace(".", ",")
        ),
    )


def test_csv_with_invalid_rows_quarantined_and_scores_equal_the_api(
    home: Path, tmp_path: Path, monitoring_db: Path
) -> None:
    rows = snapshots(home, 400)
    text = as_csv_text(rows).astype(object)
    text.loc[5, "siret"] = "12345"  # not 14 digits
    text.loc[150, "naf_code"] = "ZZ.99Q"  # not a NAF sub-class of the reference
    text.loc[333, "contracts_total"] = "beaucoup"  # not a number
    lines = text.to_csv(sep=";", index=False).splitlines()
    lines[1 + 250] += ";extra"  # a ragged line (line 252 of the file)
    source = tmp_path / "export.csv"
    source.write_text("\ufeff" + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    out = tmp_path / "scores.parquet"

    args = ["score", "--model", "apprenticeship_host", "--input", str(source), "--out", str(out)]
    result = runner.invoke(app, [*args, "--reasons", "--batch-rows", "120"])

    assert result.exit_code == 0, result.output
    assert "400 rows read, 396 scored, 4 quarantined" in result.output
    scored = pd.read_parquet(out)
    assert list(scored.columns) == [
        *("siret", "prediction_id", "probability", "percentile", "reasons", "model", "version")
    ]
    assert len(scored) == 396 and scored["prediction_id"].is_unique
    assert "kept for monitoring: 396 prediction ids" in result.output
    # Kept as the API keeps its scores: the same prediction ids, the probabilities, no SIRET.
    kept_scores = MonitoringStore(monitoring_db).predictions("apprenticeship_host")
    assert sorted(kept_scores["prediction_id"]) == sorted(scored["prediction_id"])
    assert (kept_scores["source"] == "batch").all()
    by_id = kept_scores.set_index("prediction_id").loc[scored["prediction_id"], "probability"]
    np.testing.assert_allclose(by_id.to_numpy(), scored["probability"].to_numpy())
    assert not any(siret in str(kept_scores.to_dict()) for siret in scored["siret"].head(50))
    assert (scored["model"] == "apprenticeship_host").all() and (scored["version"] == "1").all()
    kept = rows.drop(index=[5, 150, 250, 333])
    assert scored["siret"].tolist() == kept["siret"].tolist(), "the input's order, invalid rows left out"
    assert scored["reasons"].map(len).eq(3).all()
    quarantine = pd.read_csv(tmp_path / "scores.parquet.quarantine.csv", dtype=str)
    assert list(quarantine.columns) == ["source", "line", "field", "reason"]
    assert quarantine["line"].astype(int).tolist() == [7, 152, 252, 335]  # header = line 1
    assert quarantine["field"].tolist() == ["siret", "naf_code", "(ligne)", "contracts_total"]
    assert (quarantine["source"] == "export.csv").all()
    raw = (tmp_path / "scores.parquet.quarantine.csv").read_text()
    assert "12345" not in raw and "ZZ.99Q" not in raw and "beaucoup" not in raw, "never the values"

    # The API on the same records (the valid ones of a sample): the same probabilities and reasons.
    configure_tracking()
    settings, keys = settings_and_keys(home, tmp_path / "service")
    sample = kept.drop(columns="oracle_probability").iloc[::7]
    records = json.loads(sample.to_json(orient="records", date_format="iso"))
    for record in records:
        for name in ("creation_date", "cutoff_date"):
            record[name] = record[name][:10]
    with TestClient(create_app(settings), headers={"X-API-Key": keys["agent"]}) as client:
        answer = client.post("/v1/models/apprenticeship_host/scores?explain=true", json={"records": records})
    assert answer.status_code == 200, answer.text
    api = pd.DataFrame(answer.json()["results"])
    mine = scored.set_index("siret").loc[api["siret"]]
    np.testing.assert_array_equal(mine["probability"].to_numpy(), api["probability"].to_numpy())
    np.testing.assert_array_equal(mine["percentile"].to_numpy(), api["percentile"].to_numpy())
    assert [list(r) for r in mine["reasons"]] == api["reasons"].tolist()


def test_parquet_parts_folder_to_csv(home: Path, tmp_path: Path) -> None:
    rows = snapshots(home, 900)
    parts = tmp_path / "companies.parquet"
    parts.mkdir()
    for i, start in enumerate(range(0, 900, 300)):
        rows.iloc[start : start + 300].to_parquet(parts / f"part-{i:05d}.parquet", index=False)
    (parts / "_SUCCESS").write_text("")
    out = tmp_path / "scores.csv"
    args = ["score", "--model", "apprenticeship_host", "--version", "1", "--input", str(parts)]
    result = runner.invoke(app, [*args, "--out", str(out), "--batch-rows", "250", "--no-keep"])

    assert result.exit_code == 0, result.output
    assert "900 rows read, 900 scored, 0 quarantined" in result.output
    assert not (tmp_path / "scores.csv.quarantine.csv").exists()
    scored = pd.read_csv(out, dtype={"siret": str, "version": str})
    assert list(scored.columns) == ["siret", "probability", "percentile", "model", "version"], "not kept"
    assert scored["siret"].tolist() == rows["siret"].tolist()
    assert (scored["version"] == "1").all()

    # The same rows as one Parquet file, a CSV export and a workbook: the same scores.
    single = tmp_path / "one.parquet"
    rows.to_parquet(single, index=False)
    text = tmp_path / "one.csv"
    as_csv_text(rows).to_csv(text, index=False, sep=";")
    book = tmp_path / "one.xlsx"
    sheet = as_csv_text(rows)
    write_xlsx(book, list(sheet.columns), sheet.itertuples(index=False, name=None))
    every = tmp_path / "every.parquet"
    inputs = [arg for path in (single, text, book) for arg in ("-i", str(path))]
    result = runner.invoke(app, ["score", "-m", "apprenticeship_host", *inputs, "--out", str(every)])
    assert result.exit_code == 0, result.output
    assert "2,700 rows read, 2,700 scored, 0 quarantined" in result.output
    again = pd.read_parquet(every)["probability"].to_numpy()
    np.testing.assert_allclose(again[:900], scored["probability"], rtol=0, atol=1e-12)  # CSV: 17 digits
    np.testing.assert_array_equal(again[:900], again[900:1800])
    np.testing.assert_array_equal(again[:900], again[1800:])


def test_error_paths(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no_siret.csv"
    snapshots(home, 5).drop(columns="siret").to_csv(missing, index=False)
    base = ["score", "--model", "apprenticeship_host", "--out", str(tmp_path / "o.parquet")]

    result = runner.invoke(app, [*base, "--input", str(missing)])
    assert result.exit_code == 2 and "siret" in result.output and "no_siret.csv" in result.output
    result = runner.invoke(app, [*base, "--input", str(tmp_path / "nothing*.csv")])
    assert result.exit_code == 2 and "aucun fichier" in result.output
    result = runner.invoke(app, [*base, "--input", str(missing), "--version", "7"])
    assert result.exit_code == 2 and "models:/apprenticeship_host/7" in result.output
    result = runner.invoke(app, [*base, "--input", str(missing), "--alias", "x", "--version", "1"])
    assert result.exit_code == 2
    result = runner.invoke(app, [*base, "--input", str(missing), "--engine", "flink"])
    assert result.exit_code == 2 and "--engine" in result.output
