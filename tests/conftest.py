"""Shared fixtures: reference data, a small simulated chamber, an isolated MLflow store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.reference import Reference
from models.simulation.chamber import ChamberSimulationParams, SimulatedChamber, simulate_chamber
from pipelines.reference import load_reference


@pytest.fixture(scope="session")
def reference() -> Reference:
    return load_reference()


@pytest.fixture(scope="session")
def small_params() -> ChamberSimulationParams:
    return ChamberSimulationParams(n_companies=3_000, seed=11)


@pytest.fixture(scope="session")
def small_chamber(reference: Reference, small_params: ChamberSimulationParams) -> SimulatedChamber:
    return simulate_chamber(reference, small_params)


@pytest.fixture()
def mlflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite tracking store and artifact folder for one test."""
    import mlflow

    home = tmp_path / "home"
    monkeypatch.setenv("CMA_PREDICT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield home
    if mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[object]:
    """A throw-away PostgreSQL cluster (tests/postgres.py), one per session (per xdist worker)."""
    from tests.postgres import postgres_available, start_cluster

    if not postgres_available():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed; `make` installs them")
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture()
def postgres_url(postgres_cluster: object) -> str:
    """A fresh, empty database on the session's cluster, as a `postgresql+psycopg://` URL."""
    return postgres_cluster.create_database()  # type: ignore[attr-defined]
