"""The text of the flash diagnostic, in French, written from its figures by templates.

Every sentence that compares a figure to a reference carries that comparison (`Claim`), so a test can check
that the text never contradicts the figures it is written from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from models.site_potential.diagnose import NATIONAL_SURVIVAL_5Y, Diagnostic, format_fr
from models.site_potential.indicators import Indicator

# A figure is "clearly" above or below its reference past these ratios; in between the text says nothing.
ABOVE, BELOW = 1.15, 0.87


@dataclass(frozen=True)
class Claim:
    """What a sentence asserts: `subject` is above or below `versus` (indicator values or probabilities)."""

    subject: float
    direction: Literal["above", "below"]
    versus: float


@dataclass(frozen=True)
class Sentence:
    """One sentence of the text and, when it compares, its claim."""

    text: str
    claim: Claim | None = None


@dataclass(frozen=True)
class Narrative:
    """The report's text: strengths, risks, points to check with the craftsman, and the model's limits."""

    summary: str
    strengths: list[Sentence] = field(default_factory=list)
    risks: list[Sentence] = field(default_factory=list)
    checks: list[Sentence] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)


def _compare(value: float | None, reference: float | None) -> Literal["above", "below"] | None:
    if value is None or reference is None or reference <= 0:
        return None
    ratio = value / reference
    return "above" if ratio >= ABOVE else "below" if ratio <= BELOW else None


def _sentence(
    indicators: dict[str, Indicator],
    key: str,
    scope: Literal["departement", "national"],
    texts: dict[str, str],
) -> tuple[Literal["above", "below"], Sentence] | None:
    """The sentence of `texts[direction]` when the indicator is clearly above or below its reference."""
    indicator = indicators.get(key)
    if indicator is None:
        return None
    reference = indicator.departement_value if scope == "departement" else indicator.national_value
    direction = _compare(indicator.value, reference)
    if direction is None or indicator.value is None or reference is None:
        return None
    text = texts[direction].format(value=format_fr(indicator.value), reference=format_fr(reference))
    return direction, Sentence(text, Claim(indicator.value, direction, reference))


# (indicator, reference scope, the direction that is a strength, sentence when above, when below)
COMPARISONS: tuple[
    tuple[str, Literal["departement", "national"], Literal["above", "below"], str, str], ...
] = (
    (
        "competitors_per_10k_20km",
        "departement",
        "below",
        "La concurrence est plus dense que dans le département : {value} établissements de l'activité pour "
        "10 000 habitants à moins de 20 km, contre {reference}.",
        "La concurrence est moins dense que dans le département : {value} établissements de l'activité pour "
        "10 000 habitants à moins de 20 km, contre {reference}.",
    ),
    (
        "growth",
        "national",
        "above",
        "La population de la commune croît plus vite qu'en France ({value} %/an contre {reference} %/an).",
        "La population de la commune croît moins vite qu'en France ou décroît ({value} %/an contre "
        "{reference} %/an).",
    ),
    (
        "unemployment",
        "departement",
        "below",
        "Le chômage est plus élevé que dans le département ({value} % contre {reference} %) : un pouvoir "
        "d'achat local à surveiller.",
        "Le chômage est plus bas que dans le département ({value} % contre {reference} %).",
    ),
    (
        "closure_rate",
        "departement",
        "below",
        "Les fermetures d'établissements de l'activité sont plus fréquentes que dans le département "
        "({value} % en un an à moins de 20 km, contre {reference} %).",
        "Les fermetures d'établissements de l'activité sont plus rares que dans le département ({value} % "
        "en un an à moins de 20 km, contre {reference} %).",
    ),
    (
        "creation_rate",
        "departement",
        "above",
        "L'activité attire des créations : {value} % de créations en un an à moins de 20 km, contre "
        "{reference} % dans le département.",
        "L'activité attire peu de créations : {value} % en un an à moins de 20 km, contre {reference} % dans "
        "le département.",
    ),
)


def narrative(diagnostic: Diagnostic) -> Narrative:
    """Strengths, risks and points to check of a diagnostic, in French, from its own figures."""
    indicators = {i.key: i for i in diagnostic.indicators}
    five = next((s for s in diagnostic.survival if s.horizon_years == 5), diagnostic.survival[-1])
    versus = five.national_observed if five.national_observed is not None else NATIONAL_SURVIVAL_5Y
    observed = indicators.get(f"survival_{five.horizon_years}y_observed")
    scope = (
        "pour cette activité"
        if five.national_observed is not None and not (observed and observed.reference_source)
        else "pour son secteur (INSEE)"
        if five.national_observed is not None
        else "toutes activités (INSEE)"
    )
    summary = (
        f"Projet : {diagnostic.naf_label.lower()} ({diagnostic.naf_code}) à {diagnostic.commune_name} "
        f"({diagnostic.departement_code}). {diagnostic.risk_summary}. Chances estimées d'être encore en "
        f"activité après 5 ans : {format_fr(five.probability * 100)} %, pour {format_fr(versus * 100)} % "
        f"en moyenne nationale {scope}."
    )
    strengths: list[Sentence] = []
    risks: list[Sentence] = []
    survival = _compare(five.probability, versus)
    if survival == "above":
        strengths.append(
            Sentence(
                f"Les chances de survie à 5 ans ({format_fr(five.probability * 100)} %) dépassent nettement "
                f"la moyenne nationale de l'activité ({format_fr(versus * 100)} %).",
                Claim(five.probability, "above", versus),
            )
        )
    elif survival == "below":
        risks.append(
            Sentence(
                f"Les chances de survie à 5 ans ({format_fr(five.probability * 100)} %) sont nettement en "
                f"dessous de la moyenne nationale de l'activité ({format_fr(versus * 100)} %).",
                Claim(five.probability, "below", versus),
            )
        )
    for key, scope, good, above, below in COMPARISONS:
        found = _sentence(indicators, key, scope, {"above": above, "below": below})
        if found is not None:
            direction, sentence = found
            (strengths if direction == good else risks).append(sentence)
    checks = _checks(diagnostic, indicators)
    limits = [
        "Le diagnostic décrit le territoire et l'activité à la date des données ; il ne juge ni le projet, "
        "ni la personne, ni l'emplacement exact.",
        "Les chances de survie sont estimées par un modèle appris sur les créations passées de "
        "l'activité (SIRENE) ; elles valent pour un établissement moyen, pas pour ce projet en particulier.",
        "Les comparaisons retiennent les écarts nets (plus de 15 %) : un indicateur proche de sa référence "
        "n'est pas commenté.",
    ]
    if diagnostic.synthetic_data:
        limits.insert(
            0,
            "Données de démonstration : les établissements sont SIMULÉS (format SIRENE) ; ce rapport "
            "montre le fonctionnement de l'outil et ne doit pas servir de conseil.",
        )
    return Narrative(summary, strengths, risks, checks, limits)


def _checks(diagnostic: Diagnostic, indicators: dict[str, Indicator]) -> list[Sentence]:
    checks = [Sentence(w) for w in diagnostic.warnings]
    competitors = indicators.get("competitors")
    if competitors is not None and competitors.value == 0:
        checks.append(
            Sentence(
                f"Aucun établissement de l'activité dans la commune ({competitors.source}) : vérifier que la "
                "demande locale existe (clientèle, habitudes d'achat) et que des concurrents ne se sont pas "
                "installés depuis, plutôt qu'y voir seulement une place libre."
            )
        )
    if diagnostic.artisan_activity:
        checks.append(
            Sentence(
                "Vérifier la qualification professionnelle exigée pour cette activité artisanale et "
                "l'immatriculation au registre national des entreprises."
            )
        )
    checks += [
        Sentence("Confirmer la disponibilité, le loyer et l'accessibilité d'un local dans la commune."),
        Sentence(
            "Situer les concurrents les plus proches et ce qui distinguera l'offre du projet (prix, "
            "spécialité, horaires, services)."
        ),
    ]
    return checks
