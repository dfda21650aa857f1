"""Model card text of `apprenticeship_host`."""

from __future__ import annotations

from collections.abc import Mapping

from models.apprenticeship_host.features import FEATURE_LABELS_FR, FEATURES
from models.model_card import render_model_card
from models.search import SearchResult


def host_model_card(
    metrics: Mapping[str, float],
    data_description: str,
    evaluation_note: str,
    version_note: str,
    search: SearchResult | None = None,
) -> str:
    """The card logged with every `apprenticeship_host` version (`search`: the hyperparameter search, if
    run)."""
    return render_model_card(
        title="apprenticeship_host (Recherche Maître d'Apprentissage)",
        version_note=version_note,
        intended_use=(
            "Rank the artisan companies of a chamber by their probability of starting at least one new "
            "apprenticeship contract in the 12 months after the scoring date, so that agents promoting "
            "apprenticeship call the most likely hosts first (« cibler la prospection des maîtres "
            "d'apprentissage »). It is a prioritisation aid: it decides nothing about a company, and a low "
            "score is no reason to refuse support to a company that asks for it."
        ),
        data=data_description,
        features=[(name, FEATURE_LABELS_FR[name]) for name in FEATURES],
        metrics=metrics,
        evaluation_note=evaluation_note,
        search=search,
        limits=[
            "Trained on the history a chamber holds: companies whose past contracts were registered "
            "elsewhere look like first-time hosts.",
            "On simulated data the oracle column is the true probability; on real data no oracle exists and "
            "only the model column is shown.",
            "Headcount bands and the head's qualification are taken as recorded at scoring time; stale "
            "register entries lower the score's accuracy.",
            "The probability is calibrated on the validation cut-off; a change in apprenticeship policy "
            "(subsidies, reforms) shifts base rates and calls for retraining.",
        ],
    )
