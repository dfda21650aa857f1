"""Per-feature contributions (LightGBM's own) turned into the main reasons of a score, in French."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from models.vocabulary import HEADCOUNT_BANDS, RANK_TO_HEADCOUNT_BAND


def describe_value(feature: str, value: object) -> str:
    """A feature value as an agent reads it."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "non renseigné"
    if feature == "headcount_rank":
        band = RANK_TO_HEADCOUNT_BAND.get(int(float(value)))  # type: ignore[arg-type]
        return HEADCOUNT_BANDS.get(band or "", str(value))
    if feature in ("company_age_years", "age_at_start", "years_since_last_contract"):
        return f"{float(value):.0f} ans"  # type: ignore[arg-type]
    if feature.startswith(("distance_",)):
        return f"{float(value):.0f} km"  # type: ignore[arg-type]
    if feature == "commune_population_log10":
        return f"{10 ** float(value):,.0f} habitants".replace(",", " ")  # type: ignore[arg-type]
    if isinstance(value, float) and value.is_integer():
        return f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    return str(value)


def top_reasons(
    contributions: np.ndarray,
    names: list[str],
    values: Mapping[str, object],
    labels: Mapping[str, str],
    target: str,
    limit: int = 3,
) -> list[str]:
    """The `limit` features that move the score most, as « libellé (valeur) : augmente/diminue `target` »."""
    order = np.argsort(-np.abs(contributions))[:limit]
    out = []
    for j in order:
        name = names[j]
        verb = "augmente" if contributions[j] > 0 else "diminue"
        label = labels.get(name, name)
        out.append(
            f"{label[:1].upper()}{label[1:]} ({describe_value(name, values.get(name))}) : {verb} {target}"
        )
    return out
