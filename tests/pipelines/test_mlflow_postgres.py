"""MLflow on PostgreSQL, end to end: a throw-away PostgreSQL cluster, an `mlflow server` whose backend
store is that PostgreSQL and whose artifacts it serves itself (`--serve-artifacts`), the pipelines training
and registering a champion through it over HTTP, the service scoring that champion, and `cma-predict score`
batch-scoring it with the API's scores.

This is the single-machine rehearsal of the deployment of the README's "Deployment on more than one
machine": the pipelines and the service only know `http://host:port`; nothing is written to a local
`mlruns/`, `mlartifacts/` or `mlflow.db`."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.postgres import PostgresCluster, postgres_available

needs_postgres = pytest.mark.skipif(
    not postgres_available(), reason="PostgreSQL server binaries not installed (`make` installs them)"
)

HOST = "/v1/apprenticeship-host/scores"
SERVER_START_SECONDS = 180  # first start creates the schema; about 35 s on 2 loaded cores


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mlflow_command() -> list[str]:
    script = Path(sys.executable).with_name("mlflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlflow"]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mlflow server exited ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"mlflow server not healthy after {timeout:.0f} s:\n{log.read_text()[-4000:]}")


class TrackingServer:
    """An `mlflow server` subprocess on PostgreSQL with proxied artifacts."""

    def __init__(self, backend_uri: str, artifacts: Path, log: Path) -> None:
        self.backend_uri = backend_uri
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.artifacts = artifacts
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        # No background job runner (huey consumers for MLflow's GenAI jobs): not used here, and it slows the
        # start and the stop of the server.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        command = [
            *_mlflow_command(),
            "server",
            "--backend-store-uri",
            backend_uri,
            "--serve-artifacts",
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent, start_new_session=True
            )

    def wait_healthy(self, timeout: float = SERVER_START_SECONDS) -> None:
        _wait_healthy(self.url, self.process, self.log, timeout)

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after 10 s (its state is thrown away anyway)."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)


@pytest.fixture()
def tracking_server(postgres_cluster: PostgresCluster, tmp_path: Path) -> Iterator[TrackingServer]:
    backend = postgres_cluster.create_database("mlflow_" + os.urandom(6).hex())
    folder = tmp_path / "mlflow_server"
    (folder / "artifacts").mkdir(parents=True)
    server = TrackingServer(backend, folder / "artifacts", folder / "server.log")
    try:
        yield server  # started, not yet up: the test prepares its data meanwhile, then `wait_healthy()`
    finally:
        server.stop()


@pytest.fixture()
def restore_mlflow_uris() -> Iterator[None]:
    """Leave MLflow's process-wide URIs as they were (the server is gone after the test)."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking, registry = tracking_utils._tracking_uri, registry_utils._registry_uri
    yield
    tracking_utils._tracking_uri, registry_utils._registry_uri = tracking, registry


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("sqlite:////srv/var/mlflow.db", True),
        ("postgresql+psycopg://mlflow@db.internal:5432/mlflow", True),
        ("postgresql://mlflow@db.internal/mlflow", True),
        ("mysql+pymysql://mlflow@db.internal/mlflow", True),
        ("http://mlflow.internal:5000", False),
        ("https://mlflow.example.fr", False),
        ("file:///srv/mlruns", False),
        ("databricks", False),
    ],
)
def test_artifact_location_by_tracking_uri(uri: str, local: bool, tmp_path: Path) -> None:
    """A database opened by the job keeps its artifacts in the project folder (not ./mlruns); a tracking
    server chooses its own (proxied) location."""
    from pipelines.tracking import artifact_location

    expected = (tmp_path / "mlartifacts").as_uri() if local else None
    assert artifact_location(uri, tmp_path) == expected


@needs_postgres
def test_postgres_url_is_a_fresh_database_of_the_session_cluster(
    postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    import psycopg

    assert postgres_url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{postgres_cluster.port}/t_")
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        tables = conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()
        owner_is_not_root = conn.execute("select current_user").fetchone()
    assert tables == (0,) and owner_is_not_root == ("postgres",)
    assert postgres_cluster.create_database() != postgres_url


@pytest.mark.slow
@needs_postgres
def test_train_register_serve_and_batch_score_on_mlflow_server_with_postgres(
    tracking_server: TrackingServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restore_mlflow_uris: None,
) -> None:
    import psycopg
    from fastapi.testclient import TestClient
    from mlflow import MlflowClient

    from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS
    from pipelines.cli import app as cli
    from pipelines.runner import family, load_family_config, pipeline_data
    from pipelines.tracking import configure_tracking
    from service.app import create_app
    from tests.service.conftest import company_records, settings_and_keys

    timings: dict[str, float] = {}
    home, workdir = tmp_path / "home", tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # MLflow's fallback for artifacts is ./mlruns of the working folder
    monkeypatch.setenv("CMA_PREDICT_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server.url)

    # While the server starts (about 35 s, most of it importing its app): simulate the training set.
    overrides = ["simulation.n_companies=2000", "lightgbm.min_data_in_leaf=20"]
    t0 = time.perf_counter()
    rows = family("apprenticeship_host").build_dataset(
        load_family_config("apprenticeship_host", overrides=overrides), pipeline_data(tmp_path / "quarantine")
    )
    dataset = tmp_path / "dataset.parquet"
    rows.to_parquet(dataset)
    timings["simulate"] = time.perf_counter() - t0
    tracking_server.wait_healthy()
    timings["server_up"] = time.perf_counter() - t0

    # Train and register through the real runner (`cma-predict train`), over HTTP only.
    t0 = time.perf_counter()
    sets = [arg for item in overrides for arg in ("--set", item)]
    result = CliRunner().invoke(
        cli, ["train", "--model", "apprenticeship_host", "--dataset", str(dataset), *sets]
    )
    timings["train"] = time.perf_counter() - t0
    assert result.exit_code == 0, result.output
    assert configure_tracking() == tracking_server.url
    client = MlflowClient()
    champion = client.get_model_version_by_alias("apprenticeship_host", "champion")
    assert champion.version == "1"
    experiment = client.get_experiment(client.get_run(champion.run_id).info.experiment_id)
    assert experiment.artifact_location.startswith("mlflow-artifacts:/"), experiment.artifact_location

    # The registry is in PostgreSQL, the files in the server's artifact folder, nothing local.
    with psycopg.connect(
        tracking_server.backend_uri.replace("postgresql+psycopg://", "postgresql://")
    ) as conn:
        versions = conn.execute(
            "select name, version from model_versions where name = 'apprenticeship_host'"
        ).fetchall()
        aliases = conn.execute("select alias, version from registered_model_aliases").fetchall()
    assert versions == [("apprenticeship_host", 1)]
    assert ("champion", 1) in aliases
    assert list(tracking_server.artifacts.rglob("MLmodel")), "the model's files are on the server's side"
    assert not (workdir / "mlruns").exists() and not (workdir / "mlartifacts").exists()
    assert not (home / "mlflow.db").exists() and not (home / "mlartifacts").exists()

    # Serve it: the service loads the champion from the tracking server.
    settings, keys = settings_and_keys(home, tmp_path / "service")
    settings = settings.model_copy(update={"tracking_uri": tracking_server.url})
    records = company_records(rows, 5)
    t0 = time.perf_counter()
    with TestClient(create_app(settings)) as api:
        ready = api.get("/ready", headers={"X-API-Key": keys["agent"]}).json()
        response = api.post(
            HOST, json={"companies": records, "explain": False}, headers={"X-API-Key": keys["agent"]}
        )
    timings["serve"] = time.perf_counter() - t0
    assert ready["ready"] is True and ready["models"]["apprenticeship_host"] == "1", ready
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "apprenticeship_host" and body["version"] == "1" and body["scored"] == 5
    api_scores = [r["probability"] for r in body["results"]]
    assert all(0 < p < 1 for p in api_scores)

    # Batch-score a Parquet file of the same companies from the same registry (`cma-predict score`).
    source = tmp_path / "companies.parquet"
    rows[list(SNAPSHOT_COLUMNS)].head(200).to_parquet(source)
    out = tmp_path / "scores.parquet"
    t0 = time.perf_counter()
    scored = CliRunner().invoke(
        cli, ["score", "--model", "apprenticeship_host", "--input", str(source), "--out", str(out)]
    )
    assert scored.exit_code == 0, scored.output
    timings["batch"] = time.perf_counter() - t0
    batch = pd.read_parquet(out)
    assert len(batch) == 200
    assert set(batch["model"]) == {"apprenticeship_host"} and set(batch["version"]) == {"1"}
    by_siret = dict(zip(batch["siret"].astype(str), batch["probability"], strict=True))
    for record, score in zip(records, api_scores, strict=True):
        assert by_siret[str(record["siret"])] == pytest.approx(score, abs=1e-9)
    assert not (workdir / "mlruns").exists()
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
