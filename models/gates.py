"""What stops a training run before anything is registered: a training set a model cannot learn from or be
judged on, and a model that ranks nothing. The runner (`pipelines.runner`) checks both for every family;
the run stops with the reason (kept as the run's `cma.refused` tag) and no version becomes champion.

Then the publication gates (`PublicationGates`, `publication_gates`) of a version that is registered: its
mean score must not move far from the champion's on the same rows, the champion's top decile must mostly
stay in its own, its mean score must match the observed rate, its test AUC must be above a floor. A version
failing one is registered, with each gate's value, bound and outcome as tags, but does not become champion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from models.interface import Evaluation, Split

MIN_CLASS_ROWS = 5
"""Rows of each class a split needs: fewer positives (or negatives) cannot early-stop, calibrate or
measure anything."""
MIN_SCORE_SPREAD = 1e-6
"""Scores closer than this from the lowest to the highest: the model gives every row the same score."""


class DegenerateTraining(ValueError):
    """A training set or a fitted model that must not be promoted, with the reason in words."""


def check_split(split: Split, label: str) -> None:
    """Each of the training, validation and test rows holds both outcomes, at least `MIN_CLASS_ROWS` of
    each (a stock of survivors only, or a test cohort without any event, stops here)."""
    for name, rows in split.named().items():
        if label not in rows:
            continue
        labels = pd.to_numeric(rows[label], errors="coerce").dropna()
        positives = int((labels == 1).sum())
        negatives = int((labels == 0).sum())
        if min(positives, negatives) < MIN_CLASS_ROWS:
            raise DegenerateTraining(
                f"the {name} rows hold {positives:,} positive and {negatives:,} negative outcome(s) "
                f"('{label}'): at least {MIN_CLASS_ROWS} of each are needed to learn and judge a model"
            )


def check_evaluation(evaluation: Evaluation) -> None:
    """The fitted model's test metrics are numbers and its scores are not one constant."""
    auc = evaluation.metrics.get("roc_auc")
    if auc is None or not math.isfinite(float(auc)):
        raise DegenerateTraining("the test ROC AUC is not a number: the test rows cannot rank this model")
    scores = np.asarray(evaluation.scores, dtype=float)
    if not np.isfinite(scores).all():
        raise DegenerateTraining("the model gives missing or infinite scores on the test rows")
    if scores.size and float(scores.max() - scores.min()) < MIN_SCORE_SPREAD:
        raise DegenerateTraining(
            f"the model gives every test row the same score ({float(scores.mean()):.4f}): it ranks nothing"
        )


# --------------------------------------------------------------------------------------------------------
# Publication gates: what a registered version must pass before it takes the `champion` alias, next to
# beating the champion's metric on the same rows (as La Bonne Boîte's importer checks before it publishes).

TOP_SHARE = 0.1
"""The top decile: the rows an agent calls first."""
NO_CHAMPION = "no champion"


class PublicationGates(BaseModel):
    """Bounds a new version must stay within to become champion (the `gates:` field of a pipeline config).

    The defaults, defined here once, are passed by every simulator's retrain with another seed (of the
    booster or of the simulated data) at the sizes of the tests and of `make run`; the README gives the
    measured values."""

    model_config = ConfigDict(extra="forbid")

    max_score_shift: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="|mean score of the new version - mean score of the champion| on the same rows",
    )
    min_top_decile_overlap: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Share of the champion's top-decile rows still in the new version's top decile",
    )
    max_calibration_gap: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="|mean score - observed rate| on the test rows (calibration in the large), beyond the "
        "sampling error of the observed rate (`calibration_z`)",
    )
    calibration_z: float = Field(
        default=2.0,
        ge=0,
        description="Standard errors of the test rows' observed rate, sqrt(r(1-r)/n), added to "
        "max_calibration_gap: a gap the test rows' own sampling noise explains is not held against the "
        "model (0: the bound alone)",
    )
    min_auc: float = Field(
        default=0.55, ge=0, le=1, description="The test ROC AUC must be above it (0.5: chance)"
    )


@dataclass(frozen=True)
class GateOutcome:
    """One gate of one version: its measured value, the bound, and whether it passed (`value` is None for a
    comparison gate without a champion, which passes); `note` says how the bound was made, if not as
    configured."""

    name: str
    value: float | None
    relation: str  # how value must compare to bound: "<=", ">=" or ">"
    bound: float
    passed: bool
    note: str = ""

    def text(self) -> str:
        """`0.0120<=0.05 passed`, `0.3100>=0.5 failed`, `no champion passed` (the version tag's value)."""
        verdict = "passed" if self.passed else "failed"
        if self.value is None:
            return f"{NO_CHAMPION} {verdict}"
        note = f" ({self.note})" if self.note else ""
        return f"{self.value:.4f}{self.relation}{round(self.bound, 4):g}{note} {verdict}"


def gates_summary(gates: list[GateOutcome] | tuple[GateOutcome, ...]) -> str:
    """`passed`, or `failed: <gate>, <gate>` (the version's and the run's `cma.gates` tag)."""
    failed = [g.name for g in gates if not g.passed]
    return f"failed: {', '.join(failed)}" if failed else "passed"


def top_decile_overlap(champion: np.ndarray, new: np.ndarray, share: float = TOP_SHARE) -> float:
    """Share of the champion's top rows (`share` of them) that are in the new version's top rows. Rows tied
    with the last one of a top count in; the larger of the two tops is the denominator, so that scores tied
    over many rows do not make a top that holds everything."""
    champion, new = np.asarray(champion, dtype=float), np.asarray(new, dtype=float)
    k = max(1, math.ceil(share * champion.size))
    top_champion = champion >= np.sort(champion)[-k]
    top_new = new >= np.sort(new)[-k]
    return float((top_champion & top_new).sum() / max(top_champion.sum(), top_new.sum()))


def calibration_gate(bounds: PublicationGates, labels: np.ndarray, scores: np.ndarray) -> GateOutcome:
    """Calibration in the large: |mean score - observed rate| within `max_calibration_gap` plus
    `calibration_z` standard errors of the observed rate on these rows."""
    rate = float(np.asarray(labels, dtype=float).mean())
    gap = abs(float(np.asarray(scores, dtype=float).mean()) - rate)
    error = math.sqrt(rate * (1 - rate) / max(len(labels), 1))
    bound = bounds.max_calibration_gap + bounds.calibration_z * error
    note = f"{bounds.max_calibration_gap:g}+{bounds.calibration_z:g}se" if bounds.calibration_z else ""
    return GateOutcome("calibration", gap, "<=", bound, gap <= bound, note)


def publication_gates(
    bounds: PublicationGates,
    labels: np.ndarray,
    scores: np.ndarray,
    test_auc: float,
    champion_scores: np.ndarray | None,
) -> list[GateOutcome]:
    """The gates of a new version scoring `scores` on rows of outcomes `labels` (which it was not trained
    on), next to the champion's scores of the same rows (None without a champion: the comparison gates pass,
    recorded as such): mean score shift, top-decile stability, calibration in the large, minimum AUC."""
    scores = np.asarray(scores, dtype=float)
    auc = float(test_auc)
    shift_bound, overlap_bound = bounds.max_score_shift, bounds.min_top_decile_overlap
    if champion_scores is None:
        outcomes = [
            GateOutcome("score_shift", None, "<=", shift_bound, True),
            GateOutcome("top_decile_overlap", None, ">=", overlap_bound, True),
        ]
    else:
        shift = abs(float(scores.mean()) - float(np.asarray(champion_scores, dtype=float).mean()))
        overlap = top_decile_overlap(champion_scores, scores)
        outcomes = [
            GateOutcome("score_shift", shift, "<=", shift_bound, shift <= shift_bound),
            GateOutcome("top_decile_overlap", overlap, ">=", overlap_bound, overlap >= overlap_bound),
        ]
    return [
        *outcomes,
        calibration_gate(bounds, labels, scores),
        GateOutcome("min_auc", auc, ">", bounds.min_auc, math.isfinite(auc) and auc > bounds.min_auc),
    ]
