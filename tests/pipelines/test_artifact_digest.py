"""Registration records the digest of a version's artifacts, the one the service compares at load: every
version registered by the pipelines carries it, a copied version keeps it, and any change to a file of
the model (content, name, an added file) changes it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel

from pipelines.registry import register_and_promote, register_version
from pipelines.tracking import configure_tracking, ensure_experiment
from service.model_registry import DIGEST_TAG, artifact_digest, download_model


class Echo(PythonModel):
    """A tiny logged model (the digest does not care what the model is)."""

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input


def _logged(home: Path) -> str:
    configure_tracking()
    experiment = ensure_experiment("digest", home)
    with mlflow.start_run(experiment_id=experiment):
        return str(mlflow.pyfunc.log_model(name="model", python_model=Echo()).model_uri)


def _downloaded_digest(uri: str, tmp_path: Path) -> str:
    folder = tmp_path / "download"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return artifact_digest(download_model(uri, folder))


def test_a_registered_version_carries_the_digest_of_its_artifacts(mlflow_home: Path, tmp_path: Path) -> None:
    uri = _logged(mlflow_home)
    version = register_version(uri, "echo")
    recorded = MlflowClient().get_model_version("echo", version.version).tags[DIGEST_TAG]
    assert len(recorded) == 64
    assert _downloaded_digest("models:/echo/1", tmp_path) == recorded

    copy = MlflowClient().copy_model_version("models:/echo/1", "echo_copy")
    assert copy.tags[DIGEST_TAG] == recorded, "a copied version keeps the digest"
    assert _downloaded_digest(f"models:/echo_copy/{copy.version}", tmp_path) == recorded


def test_registering_and_promoting_records_the_digest(mlflow_home: Path) -> None:
    """The path of every training job (`register_logged_model` -> `register_and_promote`)."""
    uri = _logged(mlflow_home)
    first = register_and_promote(uri, "echo", 0.7, lambda champion: 0.0)
    second = register_and_promote(uri, "echo", 0.6, lambda champion: 0.7)
    client = MlflowClient()
    assert first.promoted and not second.promoted
    for decision in (first, second):
        assert len(client.get_model_version("echo", decision.version).tags[DIGEST_TAG]) == 64


def test_any_change_to_a_file_changes_the_digest(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "python_model.pkl").write_bytes(b"\x80\x05N.")
    (model / "code" / "features.py").write_text("X = 1\n")
    digest = artifact_digest(model)
    (model / "registered_model_meta").write_text("model_name: other\nmodel_version: '7'\n")
    assert artifact_digest(model) == digest, "MLflow's download marker is not an artifact"

    (model / "code" / "features.py").write_text("X = 2\n")
    assert artifact_digest(model) != digest
    (model / "code" / "features.py").write_text("X = 1\n")
    assert artifact_digest(model) == digest
    (model / "code" / "features.py").rename(model / "code" / "other.py")
    assert artifact_digest(model) != digest
    (model / "code" / "other.py").rename(model / "code" / "features.py")
    (model / "code" / "extra.py").write_text("")
    assert artifact_digest(model) != digest
