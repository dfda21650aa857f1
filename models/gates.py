"""What stops a training run before anything is registered: a training set a model cannot learn from or be
judged on, and a model that ranks nothing. The runner (`pipelines.runner`) checks both for every family;
the run stops with the reason (kept as the run's `cma.refused` tag) and no version becomes champion.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

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
