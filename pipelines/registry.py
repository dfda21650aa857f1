"""Registry rules: register a logged model with the digest of its artifacts, move `champion` only when the
new version is better and passes the publication gates (`models.gates.publication_gates`; each gate's
outcome is a tag `cma.gate.<name>` of the version, e.g. `cma.gate.score_shift=0.0120<=0.05 passed`)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel

from models.gates import GateOutcome, PublicationGates, gates_summary, publication_gates
from service.model_registry import DIGEST_TAG, artifact_digest, download_model

logger = logging.getLogger(__name__)
GATE_TAG = "cma.gate."
"""Prefix of the version tags holding each publication gate's outcome."""
GATES_TAG = "cma.gates"
"""Version tag: `passed`, or `failed: <gate>, <gate>`."""


@dataclass(frozen=True)
class Publication:
    """What the publication gates judge a new version by: the outcomes (`labels`) of rows it was not trained
    on and its `scores` of them, its test ROC AUC, how the champion scores the same rows, and the bounds."""

    labels: np.ndarray
    scores: np.ndarray
    test_auc: float
    champion_scores: Callable[[PyFuncModel], np.ndarray]
    bounds: PublicationGates = field(default_factory=PublicationGates)


@dataclass(frozen=True)
class PromotionDecision:
    """Outcome of registering a version: its number, whether it became champion, and the comparison."""

    version: str
    promoted: bool
    new_score: float
    champion_version: str | None
    champion_score: float | None
    reason: str
    gates: tuple[GateOutcome, ...] = ()

    @property
    def failed_gates(self) -> list[str]:
        """The names of the publication gates the version failed."""
        return [g.name for g in self.gates if not g.passed]


def current_champion(name: str, alias: str = "champion") -> ModelVersion | None:
    """The version carrying `alias`, or None when the model or the alias does not exist yet."""
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def register_version(model_uri: str, name: str) -> ModelVersion:
    """Register `model_uri` as a new version of `name`, created with the digest of its artifacts as the tag
    `DIGEST_TAG` (the service loads no version whose artifacts no longer match it, nor one without it)."""
    with tempfile.TemporaryDirectory(prefix="cma-register-") as tmp:
        digest = artifact_digest(download_model(model_uri, Path(tmp)))
    return mlflow.register_model(model_uri, name, tags={DIGEST_TAG: digest})


def register_and_promote(
    model_uri: str,
    name: str,
    new_score: float,
    score_champion: Callable[[PyFuncModel], float],
    alias: str = "champion",
    description: str | None = None,
    metric_name: str = "roc_auc",
    publication: Publication | None = None,
) -> PromotionDecision:
    """Register `model_uri` as a new version of `name`; give it `alias` if it beats the current champion and
    passes the publication gates of `publication` (when given).

    `score_champion` computes the comparison metric of the current champion on the same test set as
    `new_score`; a champion that can no longer be loaded is replaced (its comparison gates are recorded as
    without a champion). A version failing a gate is registered, not champion: the `promotion` tag says
    which gate, each gate's value, bound and outcome are the tags `cma.gate.<name>`.
    """
    client = MlflowClient()
    champion = current_champion(name, alias)
    version = register_version(model_uri, name)
    if description:
        client.update_model_version(name, version.version, description=description)
    champion_score: float | None = None
    champion_scores: np.ndarray | None = None
    if champion is None:
        promoted, reason = True, "no champion yet"
    else:
        try:
            loaded = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
            if publication is not None:
                champion_scores = np.asarray(publication.champion_scores(loaded), dtype=float)
            champion_score = score_champion(loaded)
        except (MlflowException, OSError, ValueError, KeyError, AttributeError) as err:
            logger.warning("champion v%s cannot be scored (%s): replacing it", champion.version, err)
            promoted, reason = True, f"champion v{champion.version} could not be scored"
            champion_scores = None
        else:
            promoted = new_score > champion_score
            verdict = "beats" if promoted else "does not beat"
            reason = (
                f"{metric_name} {new_score:.4f} {verdict} champion v{champion.version} "
                f"({champion_score:.4f}) on the same test set"
            )
    gates: list[GateOutcome] = []
    if publication is not None:
        gates = publication_gates(
            publication.bounds, publication.labels, publication.scores, publication.test_auc, champion_scores
        )
        _tag_gates(client, name, str(version.version), gates)
    failed = [g for g in gates if not g.passed]
    if failed:
        promoted = False
        reason += "; not champion: " + "; ".join(f"gate {g.name} {g.text()}" for g in failed)
    client.set_model_version_tag(name, version.version, f"test_{metric_name}", f"{new_score:.6f}")
    client.set_model_version_tag(name, version.version, "promotion", reason)
    if promoted:
        client.set_registered_model_alias(name, alias, version.version)
    logger.log(logging.WARNING if failed else logging.INFO, "%s v%s: %s", name, version.version, reason)
    return PromotionDecision(
        version=str(version.version),
        promoted=promoted,
        new_score=new_score,
        champion_version=None if champion is None else str(champion.version),
        champion_score=champion_score,
        reason=reason,
        gates=tuple(gates),
    )


def _tag_gates(client: MlflowClient, name: str, version: str, gates: list[GateOutcome]) -> None:
    for gate in gates:
        client.set_model_version_tag(name, version, f"{GATE_TAG}{gate.name}", gate.text())
    client.set_model_version_tag(name, version, GATES_TAG, gates_summary(gates))
