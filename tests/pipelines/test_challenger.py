"""Monitoring at registration and shadow challengers: every registered version carries the reference profile
of its holdout rows and scores (inside its artifacts); `train --challenger` registers a version under the
alias `challenger` without moving `champion`; `promote` moves `champion` to it only when it passes the
publication gates and beats the champion, judged again on the test split, and says which gate failed.

One small MLflow store for the module (a champion, then a challenger trained on the same dataset); the
promotion test, which moves the aliases, runs last."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from models.pyfunc import ScoringPyfunc
from pipelines.cli import app
from pipelines.registry import CHALLENGER_ALIAS, GATE_TAG, GATES_TAG, PROMOTION_REFUSED_TAG, current_champion
from pipelines.runner import PROFILE_ARTIFACT, load_family_config, train_model
from pipelines.tracking import configure_tracking

runner = CliRunner()
SMALL = ["simulation.n_contracts=6000", "lightgbm.min_data_in_leaf=50"]
# A challenger unlike the champion (2 leaves, a slow learning rate) that, at this size, ranks the test
# cohort better and stays within the publication gates of the default config.
CHALLENGER = [*SMALL, "lightgbm.num_leaves=2", "lightgbm.learning_rate=0.01"]
NAME = "dropout_risk"


def _sets(overrides: list[str]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store holding dropout_risk v1 (champion) and v2 (challenger, through the CLI); yields the dataset."""
    home = tmp_path_factory.mktemp("challenger") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CMA_PREDICT_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        configure_tracking()
        rows, (first,) = train_model(NAME, load_family_config(NAME, overrides=SMALL), home)
        assert first.decision.promoted and first.decision.alias == "champion"
        dataset = home / "dataset.parquet"
        rows.to_parquet(dataset)
        result = runner.invoke(
            app, ["train", "--model", NAME, "--dataset", str(dataset), "--challenger", *_sets(CHALLENGER)]
        )
        assert result.exit_code == 0, result.output
        yield dataset
        if mlflow.active_run() is not None:
            mlflow.end_run()


@pytest.fixture()
def client(store: Path) -> MlflowClient:
    configure_tracking()  # another module's test may have pointed MLflow elsewhere in between
    return MlflowClient()


@pytest.mark.slow
def test_a_registered_version_carries_the_reference_profile_of_its_holdout_rows(
    client: MlflowClient,
) -> None:
    for version in ("1", "2"):
        python_model = mlflow.pyfunc.load_model(f"models:/{NAME}/{version}").unwrap_python_model()
        profile = python_model.reference_profile
        fields = {f["name"] for f in profile["features"]}
        contract = python_model.model.input_contract
        assert fields and fields <= set(contract.names), fields
        assert sum(profile["score"]["shares"]) == pytest.approx(1.0)
        assert profile["rows"] > 0
        run_id = client.get_model_version(NAME, version).run_id
        logged = mlflow.artifacts.load_dict(f"runs:/{run_id}/{PROFILE_ARTIFACT}")
        assert logged == json.loads(json.dumps(profile)), "the run artifact is the profile the model carries"


def test_a_model_pickled_before_the_profile_existed_still_loads_without_one() -> None:
    old = ScoringPyfunc.__new__(ScoringPyfunc)
    old.model = None  # type: ignore[assignment]
    assert "reference_profile" not in vars(old)
    loaded = pickle.loads(pickle.dumps(old))
    assert getattr(loaded, "reference_profile", None) is None
    assert ScoringPyfunc(None, {"rows": 1}).reference_profile == {"rows": 1}  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_challenger_takes_its_alias_and_leaves_the_champion_where_it_was(client: MlflowClient) -> None:
    assert str(current_champion(NAME).version) == "1"
    assert str(current_champion(NAME, CHALLENGER_ALIAS).version) == "2"
    tags = client.get_model_version(NAME, "2").tags
    assert tags["promotion"].startswith("challenger (shadow-scored, not served; champion not moved): roc_auc")
    assert "champion v1" in tags["promotion"]
    assert all(f"{GATE_TAG}{gate}" in tags for gate in ("score_shift", "top_decile_overlap", "min_auc"))
    assert tags[f"{GATE_TAG}score_shift"] != "no champion passed", "judged against the champion"
    assert GATES_TAG in tags
    run = client.get_run(client.get_model_version(NAME, "2").run_id)
    assert run.data.tags["promoted"] == "False" and run.data.tags["registered_alias"] == CHALLENGER_ALIAS


@pytest.mark.slow
def test_promote_refuses_a_challenger_failing_a_gate_then_promotes_it_once_it_passes(
    client: MlflowClient, store: Path
) -> None:
    promote = ["promote", "--model", NAME, "--dataset", str(store)]
    refused = runner.invoke(app, [*promote, *_sets([*SMALL, "gates.min_auc=0.99"])])
    assert refused.exit_code == 1, refused.output
    assert "failed gate min_auc 0." in refused.output and ">0.99 failed" in refused.output
    assert str(current_champion(NAME).version) == "1"
    assert str(current_champion(NAME, CHALLENGER_ALIAS).version) == "2"
    tags = client.get_model_version(NAME, "2").tags
    assert "gate min_auc" in tags[PROMOTION_REFUSED_TAG]
    assert tags["promotion"] == tags[PROMOTION_REFUSED_TAG]
    assert tags[f"{GATE_TAG}min_auc"].endswith(">0.99 failed")

    missing = runner.invoke(app, [*promote, "--registered", "nope", *_sets(SMALL)])
    assert missing.exit_code == 2 and "'nope' is not registered by dropout_risk" in missing.output

    accepted = runner.invoke(app, [*promote, "--registered", NAME, *_sets(SMALL)])
    assert accepted.exit_code == 0, accepted.output
    assert "dropout_risk v2 is now champion: promoted from challenger: roc_auc" in accepted.output
    assert str(current_champion(NAME).version) == "2"
    assert current_champion(NAME, CHALLENGER_ALIAS) is None
    tags = client.get_model_version(NAME, "2").tags
    assert PROMOTION_REFUSED_TAG not in tags
    assert (
        tags["promotion"].startswith("promoted from challenger: roc_auc")
        and "beats champion v1" in tags["promotion"]
    )
    assert tags[GATES_TAG] == "passed" and tags[f"{GATE_TAG}min_auc"].endswith(">0.55 passed")

    again = runner.invoke(app, [*promote, *_sets(SMALL)])
    assert again.exit_code == 2 and "no version holds the alias 'challenger'" in again.output
