"""Performance by group (sex, age band, diploma level...): the table a model card must show, gaps flagged."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

AUC_GAP = 0.05
CALIBRATION_GAP = 0.03
RECALL_GAP = 0.10
MIN_GROUP_SIZE = 50


def group_report(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: Mapping[str, pd.Series | np.ndarray],
    threshold: float,
    oracle: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per (attribute, group): size, observed rate, mean score, AUC, recall and precision at the
    alert threshold, calibration gap; `flags` lists the gaps beyond tolerance against the whole population.

    Flags: AUC more than 0.05 below the overall AUC, mean score more than 3 points away from the observed
    rate, recall at the threshold more than 10 points away from the overall recall. Groups under 50 rows
    are reported but not flagged.
    """
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    alert = s >= threshold
    overall_auc = float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")
    overall_recall = float(alert[y == 1].mean()) if y.sum() else float("nan")
    rows = []
    for attribute, values in groups.items():
        values = pd.Series(np.asarray(values, dtype=object)).fillna("(inconnu)").astype(str).to_numpy()
        for group in sorted(set(values)):
            mask = values == group
            yy, ss, aa = y[mask], s[mask], alert[mask]
            both = 0 < yy.sum() < len(yy)
            auc = float(roc_auc_score(yy, ss)) if both else float("nan")
            recall = float(aa[yy == 1].mean()) if yy.sum() else float("nan")
            precision = float(yy[aa].mean()) if aa.any() else float("nan")
            gap = float(ss.mean() - yy.mean())
            flags = []
            if mask.sum() >= MIN_GROUP_SIZE:
                if both and overall_auc - auc > AUC_GAP:
                    flags.append(f"AUC {auc:.3f} vs {overall_auc:.3f}")
                if abs(gap) > CALIBRATION_GAP:
                    flags.append(f"calibration gap {gap:+.3f}")
                if not np.isnan(recall) and abs(recall - overall_recall) > RECALL_GAP:
                    flags.append(f"recall {recall:.2f} vs {overall_recall:.2f}")
            row = {
                "attribute": attribute,
                "group": group,
                "n": int(mask.sum()),
                "observed_rate": float(yy.mean()),
                "mean_score": float(ss.mean()),
                "calibration_gap": gap,
                "roc_auc": auc,
                "recall_at_threshold": recall,
                "precision_at_threshold": precision,
                "alert_share": float(aa.mean()),
                "flags": "; ".join(flags),
            }
            if oracle is not None:
                row["oracle_mean"] = float(np.asarray(oracle, dtype=float)[mask].mean())
            rows.append(row)
    return pd.DataFrame(rows)


def group_report_markdown(report: pd.DataFrame) -> str:
    """The group table for a model card, flagged rows marked with ⚠."""
    has_oracle = "oracle_mean" in report
    head = "| attribute | group | n | observed | mean score | AUC | recall@alert | precision@alert | flags |"
    rows = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in report.itertuples(index=False):
        mark = "⚠ " if r.flags else ""
        rows.append(
            f"| {r.attribute} | {r.group} | {r.n:,} | {r.observed_rate:.3f} | {r.mean_score:.3f} | "
            f"{r.roc_auc:.3f} | {r.recall_at_threshold:.3f} | {r.precision_at_threshold:.3f} | "
            f"{mark}{r.flags} |"
        )
    if has_oracle:
        rows.append("")
        rows.append(
            "(Oracle mean per group, simulated data: "
            + ", ".join(
                f"{r.attribute}={r.group}: {r.oracle_mean:.3f}" for r in report.itertuples(index=False)
            )
            + ".)"
        )
    return "\n".join(rows)
