"""Publication gates before `champion` moves: a new version whose mean score moves too far from the
champion's on the same rows, whose top decile is not the champion's, whose mean score is not the observed
rate, or whose test AUC is at the floor is registered but does not become champion, and its version tags
say which gate failed, with the value and the bound. Each MLflow test in its own store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel, PythonModel
from sklearn.metrics import roc_auc_score

from models.gates import PublicationGates, publication_gates, top_decile_overlap
from pipelines.registry import (
    CHALLENGER_ALIAS,
    GATE_TAG,
    GATES_TAG,
    PROMOTION_REFUSED_TAG,
    Publication,
    current_champion,
    promote_challenger,
    register_and_promote,
)
from pipelines.runner import evaluate_registered, family, load_family_config, pipeline_data, train_model
from pipelines.tracking import configure_tracking, ensure_experiment

GATES = ("score_shift", "top_decile_overlap", "calibration", "min_auc")


class LogitModel(PythonModel):
    """Scores sigmoid(2 x + noise_weight * e + offset) of rows with columns x and e."""

    def __init__(self, noise_weight: float = 0.0, offset: float = 0.0) -> None:
        self.noise_weight = noise_weight
        self.offset = offset

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        logit = 2 * model_input["x"] + self.noise_weight * model_input["e"] + self.offset
        return pd.DataFrame({"probability": 1 / (1 + np.exp(-logit.to_numpy(dtype=float)))})


@pytest.fixture(scope="module")
def rows() -> tuple[pd.DataFrame, np.ndarray]:
    """4,000 rows whose outcome follows sigmoid(2 x); `e` is noise a weaker model reads."""
    rng = np.random.default_rng(3)
    x, e = rng.normal(size=4000), rng.normal(size=4000)
    labels = (rng.random(4000) < 1 / (1 + np.exp(-2 * x))).astype(float)
    return pd.DataFrame({"x": x, "e": e}), labels


def scores_of(model: PythonModel | PyFuncModel, frame: pd.DataFrame) -> np.ndarray:
    out = model.predict(None, frame) if isinstance(model, PythonModel) else model.predict(frame)
    return pd.DataFrame(out)["probability"].to_numpy(dtype=float)


def register(model: LogitModel, data: tuple[pd.DataFrame, np.ndarray], home: Path) -> Any:
    """Log `model`, register it as `logit` through the registry's rule with the publication gates."""
    frame, labels = data
    configure_tracking()
    with mlflow.start_run(experiment_id=ensure_experiment("gates", home)):
        uri = mlflow.pyfunc.log_model(name="model", python_model=model).model_uri
    scores = scores_of(model, frame)
    publication = Publication(
        labels=labels,
        scores=scores,
        test_auc=float(roc_auc_score(labels, scores)),
        champion_scores=lambda champion: scores_of(champion, frame),
    )
    return register_and_promote(
        uri,
        "logit",
        publication.test_auc,
        lambda champion: float(roc_auc_score(labels, scores_of(champion, frame))),
        publication=publication,
    )


def version_tags(version: str) -> dict[str, str]:
    return dict(MlflowClient().get_model_version("logit", version).tags)


def test_the_first_version_passes_the_comparison_gates_as_without_champion(
    mlflow_home: Path, rows: tuple[pd.DataFrame, np.ndarray]
) -> None:
    first = register(LogitModel(noise_weight=1.0), rows, mlflow_home)
    assert first.promoted and first.reason == "no champion yet"
    tags = version_tags(first.version)
    assert tags[f"{GATE_TAG}score_shift"] == "no champion passed"
    assert tags[f"{GATE_TAG}top_decile_overlap"] == "no champion passed"
    assert tags[f"{GATE_TAG}calibration"].endswith(" passed")
    assert tags[f"{GATE_TAG}min_auc"].endswith(">0.55 passed")
    assert tags[GATES_TAG] == "passed"


def test_a_shifted_challenger_that_beats_the_champion_is_registered_but_not_champion(
    mlflow_home: Path, rows: tuple[pd.DataFrame, np.ndarray]
) -> None:
    champion = register(LogitModel(noise_weight=1.0), rows, mlflow_home)
    # The true ranking (a better AUC than the noisy champion), its scores lifted by a logit offset of 1.
    shifted = register(LogitModel(offset=1.0), rows, mlflow_home)
    assert shifted.new_score > shifted.champion_score, "it beats the champion's metric"
    assert not shifted.promoted
    assert str(current_champion("logit").version) == champion.version
    tags = version_tags(shifted.version)
    assert tags[f"{GATE_TAG}score_shift"].startswith("0.1") and tags[f"{GATE_TAG}score_shift"].endswith(
        "<=0.05 failed"
    )
    assert tags[f"{GATE_TAG}calibration"].endswith(" failed")
    assert tags[f"{GATE_TAG}top_decile_overlap"].endswith(">=0.5 passed")
    assert tags[f"{GATE_TAG}min_auc"].endswith(">0.55 passed")
    assert tags[GATES_TAG] == "failed: score_shift, calibration"
    assert "beats champion v1" in tags["promotion"]
    assert "not champion: gate score_shift 0.1" in tags["promotion"]
    assert shifted.failed_gates == ["score_shift", "calibration"]


def test_a_close_challenger_that_beats_the_champion_is_promoted_with_passing_tags(
    mlflow_home: Path, rows: tuple[pd.DataFrame, np.ndarray]
) -> None:
    register(LogitModel(noise_weight=1.0), rows, mlflow_home)
    better = register(LogitModel(noise_weight=0.5), rows, mlflow_home)
    assert better.promoted, better.reason
    assert str(current_champion("logit").version) == better.version == "2"
    tags = version_tags(better.version)
    assert all(tags[f"{GATE_TAG}{gate}"].endswith(" passed") for gate in GATES), tags
    assert tags[GATES_TAG] == "passed"
    assert tags["promotion"].startswith("roc_auc") and "beats champion v1" in tags["promotion"]
    assert "not champion" not in tags["promotion"]


def test_the_top_decile_overlap_is_the_share_of_the_champions_top_rows_kept() -> None:
    scores = np.linspace(0, 1, 100)
    assert top_decile_overlap(scores, scores) == 1.0
    assert top_decile_overlap(scores, scores[::-1]) == 0.0
    moved = scores.copy()
    moved[[95, 96, 97, 98, 99]] = 0.0  # half of the champion's top 10 leave the new top decile
    assert top_decile_overlap(scores, moved) == 0.5
    tied = np.where(scores > 0.5, 1.0, 0.0)  # half the rows tied at the top: not a top decile
    assert top_decile_overlap(tied, scores) == pytest.approx(10 / 50)


def test_the_calibration_bound_is_the_gap_beyond_the_test_rows_sampling_error() -> None:
    bounds = PublicationGates()
    labels = np.r_[np.ones(250), np.zeros(750)]  # an observed rate of 0.25 on 1,000 rows
    error = np.sqrt(0.25 * 0.75 / 1000)
    within = publication_gates(bounds, labels, np.full(1000, 0.25 + 0.02 + 1.9 * error), 0.7, None)[2]
    beyond = publication_gates(bounds, labels, np.full(1000, 0.25 - 0.02 - 2.1 * error), 0.7, None)[2]
    assert within.name == "calibration" and within.passed
    assert within.bound == pytest.approx(0.02 + 2 * error)
    assert within.text().endswith("(0.02+2se) passed")
    assert not beyond.passed and beyond.text().endswith(" failed")
    strict = PublicationGates(calibration_z=0)
    assert not publication_gates(strict, labels, np.full(1000, 0.275), 0.7, None)[2].passed


@pytest.mark.slow
def test_a_family_config_sets_its_gates_and_a_failed_one_keeps_the_version_off_champion(
    mlflow_home: Path,
) -> None:
    configure_tracking()
    small = ["simulation.n_contracts=6000", "lightgbm.min_data_in_leaf=50"]
    strict = load_family_config("dropout_risk", overrides=[*small, "gates.min_auc=0.99"])
    dataset, (refused,) = train_model("dropout_risk", strict, mlflow_home)
    assert not refused.decision.promoted and refused.decision.version == "1"
    assert current_champion("dropout_risk") is None
    client = MlflowClient()
    tags = client.get_model_version("dropout_risk", "1").tags
    assert tags[f"{GATE_TAG}min_auc"].endswith(">0.99 failed")
    assert tags["promotion"].startswith("no champion yet; not champion: gate min_auc 0.")
    assert client.get_run(refused.run_id).data.tags["cma.gates"] == "failed: min_auc"
    data = pipeline_data(mlflow_home)
    fam = family("dropout_risk")
    assert evaluate_registered(fam, strict, dataset, data, missing_ok=True) == {}, (
        "`cma-predict run` reports a name without champion instead of failing on it"
    )
    with pytest.raises(MlflowException):
        evaluate_registered(fam, strict, dataset, data)

    _, (published,) = train_model(
        "dropout_risk", load_family_config("dropout_risk", overrides=small), mlflow_home, dataset
    )
    assert published.decision.promoted and published.decision.reason == "no champion yet"
    assert str(current_champion("dropout_risk").version) == "2"
    assert client.get_run(published.run_id).data.tags["cma.gates"] == "passed"


def test_a_challenger_is_judged_against_the_champion_and_promoted_only_through_the_same_gates(
    mlflow_home: Path, rows: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = rows
    register(LogitModel(noise_weight=1.0), rows, mlflow_home)

    def judged(model: LogitModel) -> tuple[float, Publication]:
        scores = scores_of(model, frame)
        auc = float(roc_auc_score(labels, scores))
        return auc, Publication(labels, scores, auc, lambda champion: scores_of(champion, frame))

    def champion_auc(champion: PyFuncModel) -> float:
        return float(roc_auc_score(labels, scores_of(champion, frame)))

    shifted = LogitModel(offset=1.0)  # better ranking, scores lifted: fails score_shift and calibration
    with mlflow.start_run(experiment_id=ensure_experiment("gates", mlflow_home)):
        uri = mlflow.pyfunc.log_model(name="model", python_model=shifted).model_uri
    score, publication = judged(shifted)
    registered = register_and_promote(
        uri, "logit", score, champion_auc, publication=publication, challenger=True
    )
    assert registered.alias == CHALLENGER_ALIAS and not registered.promoted, "set whatever the gates say"
    assert registered.failed_gates == ["score_shift", "calibration"]
    assert str(current_champion("logit").version) == "1"
    assert str(current_champion("logit", CHALLENGER_ALIAS).version) == registered.version == "2"
    assert version_tags("2")["promotion"].startswith("challenger (shadow-scored, not served")

    refused = promote_challenger("logit", "2", score, champion_auc, publication=publication)
    assert not refused.promoted and refused.failed_gates == ["score_shift", "calibration"]
    assert "gate score_shift 0.1" in version_tags("2")[PROMOTION_REFUSED_TAG]
    assert str(current_champion("logit").version) == "1"

    close = LogitModel(noise_weight=0.5)
    with mlflow.start_run(experiment_id=ensure_experiment("gates", mlflow_home)):
        uri = mlflow.pyfunc.log_model(name="model", python_model=close).model_uri
    score, publication = judged(close)
    register_and_promote(uri, "logit", score, champion_auc, publication=publication, challenger=True)
    accepted = promote_challenger("logit", "3", score, champion_auc, publication=publication)
    assert accepted.promoted and accepted.alias == "champion", accepted.reason
    assert str(current_champion("logit").version) == "3"
    assert current_champion("logit", CHALLENGER_ALIAS) is None
    assert version_tags("3")[GATES_TAG] == "passed"
