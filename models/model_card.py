"""Model cards: intended use, data, metrics next to the oracle, limits (Markdown, logged with the model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

METRIC_LABELS: dict[str, str] = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC (average precision)",
    "brier": "Brier score (lower is better)",
    "ece": "Expected calibration error (15 equal-count bins, lower is better)",
    "precision_at_5pct": "Precision in the top 5 %",
    "precision_at_10pct": "Precision in the top 10 %",
    "precision_at_20pct": "Precision in the top 20 %",
    "lift_at_5pct": "Lift in the top 5 %",
    "lift_at_10pct": "Lift in the top 10 %",
    "lift_at_20pct": "Lift in the top 20 %",
    "precision_at_capacity": "Precision at the alert capacity",
    "recall_at_capacity": "Recall at the alert capacity",
    "mean_score": "Mean predicted probability",
}


def metrics_table(metrics: Mapping[str, float]) -> str:
    """Markdown table of each metric next to the oracle's on the same rows (when known)."""
    has_oracle = any(key.startswith("oracle_") for key in metrics)
    head = "| metric | model | oracle |" if has_oracle else "| metric | model |"
    rows = [head, "|---|---|---|" if has_oracle else "|---|---|"]
    for key, label in METRIC_LABELS.items():
        if key not in metrics:
            continue
        row = f"| {label} | {metrics[key]:.4f} |"
        if has_oracle:
            oracle = metrics.get(f"oracle_{key}")
            row += f" {oracle:.4f} |" if oracle is not None else " |"
        rows.append(row)
    return "\n".join(rows)


def render_model_card(
    *,
    title: str,
    version_note: str,
    intended_use: str,
    data: str,
    features: Sequence[tuple[str, str]],
    metrics: Mapping[str, float],
    evaluation_note: str,
    limits: Sequence[str],
) -> str:
    """A model card in Markdown."""
    feature_rows = "\n".join(f"| `{name}` | {meaning} |" for name, meaning in features)
    limit_rows = "\n".join(f"- {item}" for item in limits)
    return f"""# Model card: {title}

{version_note}

## Intended use
{intended_use}

## Data
{data}

## Features
| feature | meaning |
|---|---|
{feature_rows}

## Evaluation
{evaluation_note}

{metrics_table(metrics)}

## Limits
{limit_rows}
"""
