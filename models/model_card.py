"""Model cards: intended use, data, metrics next to the oracle, the hyperparameter search, limits (Markdown,
logged with the model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from models.search import METRIC_LABELS as SEARCH_METRICS
from models.search import SearchResult

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


def _value(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def search_section(search: SearchResult | None) -> str:
    """The card's paragraph on the hyperparameter search: not run, or its budget, trials, best validation
    value next to the configured parameters' and the parameters chosen."""
    if search is None:
        return "Not run: the LightGBM parameters are the defaults from the config (`search.enabled: false`)."
    settings, best, configured = search.settings, search.best, search.configured
    metric = SEARCH_METRICS[settings.metric]
    cap = f", at most {settings.n_trials} trials" if settings.n_trials else ""
    verdict = (
        "no trial beat them: the config's parameters are kept."
        if best.number == configured.number
        else f"the parameters of trial {best.number} train the model."
    )
    rows = "\n".join(
        f"| `{name}` | {_value(configured.params[name])} | {_value(best.params[name])} |"
        for name in best.params
    )
    summary = " ".join(
        [
            f"Optuna TPE search (seed {settings.seed}) of the LightGBM parameters within a budget of",
            f"{settings.time_budget_seconds:g} s{cap}: {search.n_searched} trials in",
            f"{search.elapsed_seconds:.0f} s besides the fit with the config's parameters. Each trial was",
            f"fitted on the training rows and judged by the {metric} of its early-stopped booster on the",
            "validation rows; the test rows never entered the search. Best validation",
            f"{metric} {best.value:.4f}, vs {configured.value:.4f} with the config's parameters: {verdict}",
        ]
    )
    return f"""{summary}

| parameter | config | chosen |
|---|---|---|
{rows}"""


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
    search: SearchResult | None = None,
) -> str:
    """A model card in Markdown (`search`: the hyperparameter search that chose the parameters, if run)."""
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

## Hyperparameter search
{search_section(search)}

## Limits
{limit_rows}
"""
