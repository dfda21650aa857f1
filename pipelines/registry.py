"""Registry rules: register a logged model with the digest of its artifacts, move `champion` only when the
new version is better."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel

from service.model_registry import DIGEST_TAG, artifact_digest, download_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromotionDecision:
    """Outcome of registering a version: its number, whether it became champion, and the comparison."""

    version: str
    promoted: bool
    new_score: float
    champion_version: str | None
    champion_score: float | None
    reason: str


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
) -> PromotionDecision:
    """Register `model_uri` as a new version of `name`; give it `alias` if it beats the current champion.

    `score_champion` computes the comparison metric of the current champion on the same test set as
    `new_score`; a champion that can no longer be loaded is replaced.
    """
    client = MlflowClient()
    champion = current_champion(name, alias)
    version = register_version(model_uri, name)
    if description:
        client.update_model_version(name, version.version, description=description)
    champion_score: float | None = None
    if champion is None:
        promoted, reason = True, "no champion yet"
    else:
        try:
            champion_score = score_champion(mlflow.pyfunc.load_model(f"models:/{name}@{alias}"))
        except (MlflowException, OSError, ValueError, KeyError, AttributeError) as err:
            logger.warning("champion v%s cannot be scored (%s): replacing it", champion.version, err)
            promoted, reason = True, f"champion v{champion.version} could not be scored"
        else:
            promoted = new_score > champion_score
            verdict = "beats" if promoted else "does not beat"
            reason = (
                f"{metric_name} {new_score:.4f} {verdict} champion v{champion.version} "
                f"({champion_score:.4f}) on the same test set"
            )
    client.set_model_version_tag(name, version.version, f"test_{metric_name}", f"{new_score:.6f}")
    client.set_model_version_tag(name, version.version, "promotion", reason)
    if promoted:
        client.set_registered_model_alias(name, alias, version.version)
    logger.info("%s v%s: %s", name, version.version, reason)
    return PromotionDecision(
        version=str(version.version),
        promoted=promoted,
        new_score=new_score,
        champion_version=None if champion is None else str(champion.version),
        champion_score=champion_score,
        reason=reason,
    )
