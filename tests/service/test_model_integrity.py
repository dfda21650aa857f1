"""The model store, attacked and locked, through the real app: a version whose artifact was replaced after
registration is refused before anything of it is unpickled, one without a digest too, and the last good
version keeps serving; a reload or a start against a locked MLflow registry is bounded and keeps (or
reports) the models.

Each test works on a copy of the trained registry (`mlflow.db`) in its own folder, and the versions it
tampers are logged there: the session's registry and artifacts, which the other tests serve, stay as
they are.
"""

from __future__ import annotations

import pickle
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from pipelines.registry import register_version
from service.app import create_app
from service.model_registry import (
    CHANGED,
    NO_DIGEST,
    REGISTRY_ENTRY,
    REGISTRY_STALLED,
    RELOAD_RUNNING,
    RELOAD_STALL_SECONDS,
)
from service.settings import ServiceSettings
from tests.service.conftest import Served, company_records

pytestmark = pytest.mark.slow

HOST = "apprenticeship_host"
RELOAD = "/v1/admin/models/reload"
# A locked registry made MLflow wait 20 s per call, about 80 s per reload: a bound well under that, with
# slack for a loaded machine.
BOUND_SECONDS = RELOAD_STALL_SECONDS + 10


class Planted:
    """What an attacker with write access to the artifact folder puts in place of a model: unpickling it
    creates `marker` (standing for any command)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


@dataclass
class Copy:
    """A copy of the trained registry, served by its own settings."""

    home: Path
    settings: ServiceSettings
    headers: dict[str, str]
    admin: dict[str, str]
    records: list[dict[str, object]]


@pytest.fixture()
def copy(served: Served, tmp_path: Path) -> Iterator[Copy]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(served.home / "mlflow.db", home / "mlflow.db")
    settings = ServiceSettings(
        predict_home=home,
        keys_db=served.settings.keys_path(),
        audit_db=served.settings.audit_path(),
        rate_limit_per_minute=10_000,
    )
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield Copy(
        home,
        settings,
        {"X-API-Key": served.keys["agent"]},
        {"X-API-Key": served.keys["admin"]},
        company_records(served.host_rows, 2),
    )
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


def _log_host_copy(home: Path, digest: bool = True) -> str:
    """A new version of the host model logged in the copy with its artifacts under `home` (registered
    with its digest, or without one as `mlflow.register_model` alone does); returns its number."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name("integrity") or client.get_experiment(
        client.create_experiment("integrity", artifact_location=(home / "artifacts").as_uri())
    )
    python_model = mlflow.pyfunc.load_model(f"models:/{HOST}@champion").unwrap_python_model()
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        logged = mlflow.pyfunc.log_model(name="model", python_model=python_model)
    version = (
        register_version(logged.model_uri, HOST) if digest else mlflow.register_model(logged.model_uri, HOST)
    )
    return str(version.version)


def _champion(version: str) -> None:
    MlflowClient().set_registered_model_alias(HOST, "champion", version)


def _artifact_folder(home: Path, version: str) -> Path:
    folder = Path(unquote(urlparse(MlflowClient().get_model_version_download_uri(HOST, version)).path))
    assert folder.is_relative_to(home), "only this test's own artifacts are tampered"
    return folder


def _host_version(client: TestClient, copy: Copy) -> str:
    answer = client.post(
        "/v1/apprenticeship-host/scores", json={"companies": copy.records}, headers=copy.headers
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["version"])


def test_a_replaced_artifact_is_refused_before_anything_is_unpickled(copy: Copy, tmp_path: Path) -> None:
    marker = tmp_path / "ran_inside_the_service"
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(Planted(probe))).close()
    assert probe.exists(), "the planted pickle runs code when unpickled"

    with TestClient(create_app(copy.settings)) as client:
        # A version registered by the pipelines (the session's training) loads: it carries its digest.
        assert client.get("/ready", headers=copy.headers).json()["models"][HOST] is not None

        # An untouched version registered with its digest loads and scores.
        good = _log_host_copy(copy.home)
        _champion(good)
        outcome = client.post(RELOAD, headers=copy.admin).json()["models"][HOST]
        assert outcome == f"v{good} loaded"
        assert _host_version(client, copy) == good

        # Its pickle replaced in the artifact store after registration: refused, nothing unpickled.
        tampered = _log_host_copy(copy.home)
        (_artifact_folder(copy.home, tampered) / "python_model.pkl").write_bytes(
            pickle.dumps(Planted(marker))
        )
        _champion(tampered)
        answer = client.post(RELOAD, headers=copy.admin)
        assert answer.status_code == 200
        assert (
            answer.json()["models"][HOST] == f"v{good} kept: ModelRefused: {CHANGED.format(version=tampered)}"
        )
        assert not marker.exists(), "the replaced pickle was never unpickled"
        assert _host_version(client, copy) == good, "the last good version keeps serving"
        ready = client.get("/ready", headers=copy.admin).json()
        assert ready["models"][HOST] == good and "refusée" in ready["errors"][HOST]
        assert str(copy.home) not in str(ready), "the reason names no path of the machine"


def test_a_version_registered_without_a_digest_is_refused(copy: Copy) -> None:
    with TestClient(create_app(copy.settings)) as client:
        serving = _host_version(client, copy)
        bare = _log_host_copy(copy.home, digest=False)
        _champion(bare)
        outcome = client.post(RELOAD, headers=copy.admin).json()["models"][HOST]
        assert outcome == f"v{serving} kept: ModelRefused: {NO_DIGEST.format(version=bare)}"
        assert "make clean && make run" in outcome
        assert _host_version(client, copy) == serving


def _lock(home: Path) -> sqlite3.Connection:
    """Another process's hold on the registry: an exclusive transaction on its SQLite file."""
    holder = sqlite3.connect(home / "mlflow.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_a_reload_against_a_locked_registry_is_bounded_and_keeps_serving(copy: Copy) -> None:
    with TestClient(create_app(copy.settings)) as client:
        serving = _host_version(client, copy)
        before = client.get("/ready", headers=copy.headers).json()["models"]
        holder = _lock(copy.home)
        try:
            started = time.monotonic()
            answer = client.post(RELOAD, headers=copy.admin)
            elapsed = time.monotonic() - started
            assert answer.status_code == 503 and elapsed < BOUND_SECONDS, (answer.status_code, elapsed)
            body = answer.json()
            assert body["status"] == 503 and body["message"] == REGISTRY_STALLED
            assert body["details"][0]["store"] == "registry" and int(answer.headers["Retry-After"]) >= 1

            # A second reload does not start beside the first (still waiting on the lock).
            started = time.monotonic()
            second = client.post(RELOAD, headers=copy.admin)
            assert second.status_code == 503 and time.monotonic() - started < BOUND_SECONDS
            assert second.json()["message"] == RELOAD_RUNNING

            assert _host_version(client, copy) == serving, "scoring goes on with the serving models"
            assert client.get("/ready", headers=copy.headers).json()["models"] == before
        finally:
            holder.rollback()
            holder.close()
        # Once the registry is free, the abandoned reload ends and the next one goes through.
        deadline = time.monotonic() + 90
        while (answer := client.post(RELOAD, headers=copy.admin)).status_code == 503:
            assert time.monotonic() < deadline, answer.text
        assert answer.json()["models"][HOST] == f"v{serving} loaded"


def test_a_start_against_a_locked_registry_is_bounded_and_reports_the_models_unavailable(copy: Copy) -> None:
    holder = _lock(copy.home)
    try:
        started = time.monotonic()
        with TestClient(create_app(copy.settings)) as client:
            assert time.monotonic() - started < BOUND_SECONDS
            ready = client.get("/ready", headers=copy.headers).json()
            assert ready["ready"] is False and REGISTRY_ENTRY in ready["errors"]
            scored = client.post(
                "/v1/apprenticeship-host/scores", json={"companies": copy.records}, headers=copy.headers
            )
            assert scored.status_code in (404, 503), "the host model is not served"
            holder.rollback()
            # Once the registry is free, a reload (after the start's, abandoned, has ended) serves them.
            deadline = time.monotonic() + 90
            while (answer := client.post(RELOAD, headers=copy.admin)).status_code == 503:
                assert time.monotonic() < deadline, answer.text
            assert answer.json()["models"][HOST].endswith("loaded")
            ready = client.get("/ready", headers=copy.headers).json()
            assert ready["ready"] is True and REGISTRY_ENTRY not in ready["errors"]
            assert _host_version(client, copy) == ready["models"][HOST]
    finally:
        holder.close()
