"""Model card text of `dropout_risk`: the model that most affects people, so the fullest card."""

from __future__ import annotations

from collections.abc import Mapping

from models.dropout_risk.features import FEATURE_LABELS_FR, FEATURES, SENSITIVE_ATTRIBUTES
from models.dropout_risk.model import RiskBandPolicy, bands_note
from models.model_card import render_model_card
from models.search import SearchResult


def dropout_model_card(
    metrics: Mapping[str, float],
    data_description: str,
    evaluation_note: str,
    version_note: str,
    policy: RiskBandPolicy,
    thresholds: tuple[float, float],
    groups_markdown: str,
    prediction_weeks: int | None,
    label: str,
    features: list[tuple[str, str]] | None = None,
    title: str = "dropout_risk (Pack Prévention Rupture, CMA PACA)",
    sensitive: tuple[str, ...] = SENSITIVE_ATTRIBUTES,
    population: str = "apprenticeship contracts",
    outcome: str | None = None,
    search: SearchResult | None = None,
) -> str:
    """The card logged with every `dropout_risk` version (with the per-group table).

    For a centre's extract, `prediction_weeks` is None (the extract's rows are taken as they are),
    `population` and `outcome` come from its config, and `sensitive` names its own attributes. `search`:
    the hyperparameter search that chose the parameters, if run.
    """
    target = outcome or {
        "rupture": "rupture before the planned end of the contract",
        "rupture_9m": "rupture within the first 9 months of the contract",
    }.get(label, "positive outcome as defined by the extract's config (e.g. rupture or dropout)")
    when = (
        f"{prediction_weeks} weeks after the start of an apprenticeship contract"
        if prediction_weeks is not None
        else f"at the time the extract's rows describe ({population})"
    )
    bands = "\n".join(f"- **{band}**: " + "; ".join(actions) for band, actions in policy.actions.items())
    alert_line = (
        f"Recall at the alert capacity ({policy.alert_capacity:.0%} of contracts rated `élevé`): "
        f"{metrics.get('recall_at_capacity', float('nan')):.3f}"
    )
    if "oracle_recall_at_capacity" in metrics:
        alert_line += (
            f" (oracle {metrics['oracle_recall_at_capacity']:.3f}); precision "
            f"{metrics['precision_at_capacity']:.3f} (oracle {metrics['oracle_precision_at_capacity']:.3f})."
        )
    else:
        alert_line += f"; precision {metrics.get('precision_at_capacity', float('nan')):.3f}."
    body = render_model_card(
        title=title,
        version_note=version_note,
        intended_use=(
            f"Estimate, {when}, the "
            f"probability of a {target}, so that the training centre (CFA) offers the right "
            "« Pack Prévention Rupture » actions early: meeting, mentor call, mediation. "
            "It is a support tool for the centre's referents. "
            "It must never be used to refuse, end or penalise a contract or an apprentice, nor be shown to "
            "employers as a rating of the apprentice."
        ),
        data=data_description,
        features=features or [(name, FEATURE_LABELS_FR[name]) for name in FEATURES],
        metrics=metrics,
        evaluation_note=evaluation_note + "\n\n" + alert_line,
        search=search,
        limits=[
            "Sensitive attributes ("
            + (", ".join(sensitive) or "none declared")
            + ") are excluded from the features; they are used only for the table by group below. "
            "Excluding them does not remove every correlated signal (trade, age, distances).",
            "Follow-up signals (absences, lateness, assessments) are only as good as the centre's records: "
            "a centre that records nothing makes every apprentice look assiduous.",
            bands_note(policy, thresholds)
            + (" A riskier cohort gets more alerts." if policy.method != "probability" else ""),
            "On simulated data the oracle is the true probability; on a centre's extract there is none.",
        ],
    )
    return (
        body
        + f"""
## Risk bands and actions
{bands_note(policy, thresholds)}

{bands}

## Performance by group
Computed on the test cohort at the `élevé` threshold. ⚠ marks a gap beyond tolerance: AUC more than 0.05
below the overall AUC, mean score more than 3 points from the observed rate, recall more than 10 points
from the overall recall. Flagged gaps are to be discussed with the centre before use.

{groups_markdown}

## Monitoring after release
A high-risk use under the EU AI Act (vocational training): its post-market monitoring is built in. Every
score is kept with a prediction id, pseudonymously (no name, no identifier in clear, the inputs as bins of
the reference profile logged with this version). The centre sends back what happened (`POST /v1/outcomes`,
`cma-predict outcomes`, the next DECA or SIFA export with `--events`) and the action taken (PPR pack,
interview). `cma-predict monitor` then gives, per month and version, the realized AUC next to the AUC the
calibrated scores promised before any outcome, the recall at the `élevé` threshold by the groups above, and
the drift of each input; `/ready` turns degraded when the inputs drift from this version's reference. A
challenger is shadow-scored on the same contracts and becomes champion only through the same publication
gates.
"""
    )
