"""Registry rules: register a logged model with the digest of its artifacts, move `champion` only when the
new version is better and passes the publication gates (`models.gates.publication_gates`; each gate's
outcome is a tag `cma.gate.<name>` of the version, e.g. `cma.gate.score_shift=0.0120<=0.05 passed`).

A version registered as a challenger (`register_and_promote(..., challenger=True)`) is judged the same way
against the champion, but takes the alias `challenger` whatever the gates say (it is shadow-scored, not
served); `promote_challenger` later moves `champion` to it only if it then passes the same rule."""

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

# CHALLENGER_ALIAS: the alias the service shadow-scores, the version `promote_challenger` judges.
from service.model_registry import CHALLENGER_ALIAS, DIGEST_TAG, artifact_digest, download_model

logger = logging.getLogger(__name__)
GATE_TAG = "cma.gate."
"""Prefix of the version tags holding each publication gate's outcome."""
GATES_TAG = "cma.gates"
"""Version tag: `passed`, or `failed: <gate>, <gate>`."""
PROMOTION_REFUSED_TAG = "cma.promotion_refused"
"""Version tag of a challenger `promote_challenger` refused: the reason (removed once it is promoted)."""


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
    alias: str | None = None  # the alias the version took: champion, challenger, or none

    @property
    def failed_gates(self) -> list[str]:
        """The names of the publication gates the version failed."""
        return [g.name for g in self.gates if not g.passed]

    @property
    def failed_gate_texts(self) -> list[str]:
        """`<gate> <value><relation><bound> failed` for each failed gate (what a refusal prints)."""
        return [f"{g.name} {g.text()}" for g in self.gates if not g.passed]


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
    challenger: bool = False,
) -> PromotionDecision:
    """Register `model_uri` as a new version of `name`; give it `alias` if it beats the current champion and
    passes the publication gates of `publication` (when given).

    `score_champion` computes the comparison metric of the current champion on the same test set as
    `new_score`; a champion that can no longer be loaded is replaced (its comparison gates are recorded as
    without a champion). A version failing a gate is registered, not champion: the `promotion` tag says
    which gate, each gate's value, bound and outcome are the tags `cma.gate.<name>`.

    With `challenger`, the version is judged the same way against the champion (`alias`) and its gates are
    tagged, but it takes `CHALLENGER_ALIAS` whatever the verdict and `champion` does not move; its
    `promotion` tag says so, with the verdict a promotion would have had.
    """
    client = MlflowClient()
    champion = current_champion(name, alias)
    version = register_version(model_uri, name)
    if description:
        client.update_model_version(name, version.version, description=description)
    promoted, reason, champion_score, gates = _judge(
        client,
        name,
        str(version.version),
        champion,
        alias,
        new_score,
        score_champion,
        metric_name,
        publication,
    )
    failed = [g for g in gates if not g.passed]
    client.set_model_version_tag(name, version.version, f"test_{metric_name}", f"{new_score:.6f}")
    target: str | None = alias if promoted else None
    if challenger:
        reason = f"{CHALLENGER_ALIAS} (shadow-scored, not served; champion not moved): {reason}"
        promoted, target = False, CHALLENGER_ALIAS
    client.set_model_version_tag(name, version.version, "promotion", reason)
    if target is not None:
        client.set_registered_model_alias(name, target, version.version)
    logger.log(logging.WARNING if failed else logging.INFO, "%s v%s: %s", name, version.version, reason)
    return PromotionDecision(
        version=str(version.version),
        promoted=promoted,
        new_score=new_score,
        champion_version=None if champion is None else str(champion.version),
        champion_score=champion_score,
        reason=reason,
        gates=tuple(gates),
        alias=target,
    )


def promote_challenger(
    name: str,
    version: str,
    new_score: float,
    score_champion: Callable[[PyFuncModel], float],
    alias: str = "champion",
    metric_name: str = "roc_auc",
    publication: Publication | None = None,
) -> PromotionDecision:
    """Move `alias` to `version` (the version holding `CHALLENGER_ALIAS`) if it beats the current champion
    and passes the publication gates, judged now on the rows `new_score` and `publication` were computed on
    (the same rule as `register_and_promote`). Promoted: `champion` moves, `challenger` is removed, the
    `promotion` tag says so. Refused: nothing moves, the `promotion` and `cma.promotion_refused` tags give
    the reason. Either way the gates' tags hold the outcomes of this judgement."""
    client = MlflowClient()
    champion = current_champion(name, alias)
    if champion is not None and str(champion.version) == str(version):
        raise ValueError(f"{name} v{version} is already {alias}")
    promoted, reason, champion_score, gates = _judge(
        client, name, str(version), champion, alias, new_score, score_champion, metric_name, publication
    )
    client.set_model_version_tag(name, version, f"test_{metric_name}", f"{new_score:.6f}")
    if promoted:
        reason = f"promoted from {CHALLENGER_ALIAS}: {reason}"
        client.set_registered_model_alias(name, alias, version)
        client.delete_registered_model_alias(name, CHALLENGER_ALIAS)
        if PROMOTION_REFUSED_TAG in (client.get_model_version(name, version).tags or {}):
            client.delete_model_version_tag(name, version, PROMOTION_REFUSED_TAG)
    else:
        reason = f"{CHALLENGER_ALIAS} not promoted: {reason}"
        client.set_model_version_tag(name, version, PROMOTION_REFUSED_TAG, reason)
    client.set_model_version_tag(name, version, "promotion", reason)
    logger.log(logging.INFO if promoted else logging.WARNING, "%s v%s: %s", name, version, reason)
    return PromotionDecision(
        version=str(version),
        promoted=promoted,
        new_score=new_score,
        champion_version=None if champion is None else str(champion.version),
        champion_score=champion_score,
        reason=reason,
        gates=tuple(gates),
        alias=alias if promoted else CHALLENGER_ALIAS,
    )


def _judge(
    client: MlflowClient,
    name: str,
    version: str,
    champion: ModelVersion | None,
    alias: str,
    new_score: float,
    score_champion: Callable[[PyFuncModel], float],
    metric_name: str,
    publication: Publication | None,
) -> tuple[bool, str, float | None, list[GateOutcome]]:
    """Whether `version` may take `alias`: it beats the champion's metric (a champion that can no longer be
    scored is replaced) and passes the publication gates, which are tagged on the version. Returns the
    verdict, its reason, the champion's metric and the gates."""
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
        _tag_gates(client, name, version, gates)
    failed = [g for g in gates if not g.passed]
    if failed:
        promoted = False
        reason += "; not champion: " + "; ".join(f"gate {g.name} {g.text()}" for g in failed)
    return promoted, reason, champion_score, gates


def _tag_gates(client: MlflowClient, name: str, version: str, gates: list[GateOutcome]) -> None:
    for gate in gates:
        client.set_model_version_tag(name, version, f"{GATE_TAG}{gate.name}", gate.text())
    client.set_model_version_tag(name, version, GATES_TAG, gates_summary(gates))
