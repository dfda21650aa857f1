"""`diagnose(naf_code, commune_code)`: the structured flash diagnostic of a business project.

The indicators with their département and national references, the odds of survival at 3 and 5 years,
a risk level and the main reasons, in French, ready for the API and the report.
"""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from models.reference import Reference, normalize_commune_code, normalize_naf_code
from models.site_potential.indicators import Indicator, SiteStore, indicators_for
from models.site_potential.survival import SurvivalModel

# INSEE (Sine, generation 2014, hors micro-entrepreneurs): 61.3 % of new firms active after 5 years.
NATIONAL_SURVIVAL_5Y = 0.613
RISK_MARGIN = 0.05
RISK_LEVELS_FR: dict[str, str] = {
    "faible": "Risque faible : chances de survie à 5 ans nettement au-dessus de la moyenne nationale",
    "modéré": "Risque modéré : chances de survie à 5 ans proches de la moyenne nationale",
    "élevé": "Risque élevé : chances de survie à 5 ans nettement en dessous de la moyenne nationale",
}


class UnknownCodeError(ValueError):
    """An activity or commune code the diagnostic does not know, with the closest known ones."""

    def __init__(self, kind: str, value: str, suggestions: list[tuple[str, str]]) -> None:
        what = "code NAF (activité)" if kind == "naf" else "code commune INSEE"
        hint = "; ".join(f"{code} ({label})" for code, label in suggestions) or "aucune"
        super().__init__(f"{what} inconnu : '{value}'. Codes proches : {hint}")
        self.kind = kind
        self.value = value
        self.suggestions = suggestions


@dataclass(frozen=True)
class SurvivalOdds:
    """Odds of survival at one horizon, next to the observed rates of the activity."""

    horizon_years: int
    probability: float
    departement_observed: float | None
    national_observed: float | None


@dataclass(frozen=True)
class Diagnostic:
    """The flash diagnostic of (activity, commune) at the store's reference date."""

    naf_code: str
    naf_label: str
    artisan_activity: bool
    commune_code: str
    commune_name: str
    departement_code: str
    reference_date: str
    risk_level: str
    risk_summary: str
    survival: list[SurvivalOdds]
    indicators: list[Indicator]
    reasons: list[str]
    warnings: list[str] = field(default_factory=list)
    synthetic_data: bool = False  # establishments from the simulator: a demonstration, not an advice
    sources: list[str] = field(default_factory=list)  # every source the figures come from, with its year

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def plain_text(text: str) -> str:
    """Lower case, no accents, apostrophes and hyphens as spaces, single spaces: what people type, made
    comparable with official labels (also used by the advisors' search)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(folded.replace("-", " ").replace("'", " ").split())


def suggest_naf(value: str, reference: Reference, limit: int = 5) -> list[tuple[str, str]]:
    """Known NAF sub-classes closest to `value` (by code, then by label words)."""
    naf = reference.naf.set_index("naf_code")["naf_label"]
    code = str(normalize_naf_code(pd.Series([value])).iloc[0])
    close = difflib.get_close_matches(code, list(naf.index), n=limit, cutoff=0.6)
    if len(close) < limit:
        words = plain_text(value)
        matches = [c for c, label in naf.items() if words and words in plain_text(str(label))]
        close += [c for c in matches if c not in close][: limit - len(close)]
    return [(c, str(naf[c])) for c in close[:limit]]


def suggest_commune(value: str, store: SiteStore, limit: int = 5) -> list[tuple[str, str]]:
    """Known communes closest to `value` (by code, or by name)."""
    com = store.territory.communes
    names = com["commune_name"].astype(str)
    code = str(normalize_commune_code(pd.Series([value])).iloc[0])
    close = difflib.get_close_matches(code, list(com.index), n=limit, cutoff=0.6)
    if not value.strip().isdigit():
        plain = names.map(plain_text)
        wanted = plain_text(value)
        exact = list(com.index[plain == wanted])
        fuzzy = difflib.get_close_matches(wanted, list(plain.unique()), n=limit, cutoff=0.7)
        by_name = exact + [c for c in com.index[plain.isin(fuzzy)] if c not in exact]
        close = by_name + [c for c in close if c not in by_name]
    return [(c, f"{names[c]}, {com.loc[c, 'departement_code']}") for c in close[:limit]]


def resolve(naf_code: str, commune_code: str, store: SiteStore, reference: Reference) -> tuple[str, str]:
    """Normalized codes, or `UnknownCodeError` with close matches."""
    naf = str(normalize_naf_code(pd.Series([naf_code])).iloc[0])
    if naf not in reference.naf_codes:
        raise UnknownCodeError("naf", naf_code, suggest_naf(naf_code, reference))
    com = str(reference.current_commune_codes(normalize_commune_code(pd.Series([commune_code]))).iloc[0])
    if com not in store.territory.codes:
        raise UnknownCodeError("commune", commune_code, suggest_commune(commune_code, store))
    return naf, com


def format_fr(value: float | None, unit: str = "") -> str:
    """A number the French way (`12 345`, `3,4 %`), `n.d.` when missing."""
    return _fmt(value, unit)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n.d."
    digits = 0 if abs(value) >= 100 else 1
    return f"{value:,.{digits}f}".replace(",", " ").replace(".", ",") + (f" {unit}" if unit else "")


def _indicator_remarks(indicators: list[Indicator]) -> list[str]:
    by_key = {i.key: i for i in indicators}
    remarks = []
    comp = by_key["competitors_per_10k_20km"]
    if comp.value is not None and comp.departement_value:
        ratio = comp.value / comp.departement_value
        if ratio > 1.25 or ratio < 0.8:
            denser = "plus" if ratio > 1.25 else "moins"
            remarks.append(
                f"Concurrence {denser} dense que dans le département : {_fmt(comp.value, '')} établissements "
                f"pour 10 000 habitants à moins de 20 km, contre {_fmt(comp.departement_value, '')}"
            )
    growth = by_key["growth"]
    if growth.value is not None and growth.national_value is not None:
        trend = "croît" if growth.value > growth.national_value else "croît moins vite ou décroît"
        remarks.append(
            f"La population de la commune {trend} par rapport à la France "
            f"({_fmt(growth.value, '%/an')} contre {_fmt(growth.national_value, '%/an')})"
        )
    return remarks


def diagnose(
    naf_code: str,
    commune_code: str,
    store: SiteStore,
    reference: Reference,
    models: dict[int, SurvivalModel],
) -> Diagnostic:
    """The flash diagnostic of opening activity `naf_code` in commune `commune_code` at the store's date."""
    naf, com = resolve(naf_code, commune_code, store, reference)
    info = reference.naf.set_index("naf_code").loc[naf]
    commune = store.territory.communes.loc[com]
    indicators = indicators_for(store, naf, com, naf_section=str(info["section"]))
    by_key = {i.key: i for i in indicators}
    values = store.table(naf)[0]
    position = store.territory.position(com)
    # The model's own feature: the SIRENE store's count, as in training (the table may show BPE's).
    competitors = float(values["sirene_competitors"].to_numpy()[position])
    row = pd.DataFrame(
        {
            "naf_code": [naf],
            "commune_code": [com],
            "creation_date": [pd.Timestamp(store.reference_date)],
            "competitors_at_creation": [float(competitors)],
        }
    )
    survival = []
    for horizon in sorted(models):
        observed = by_key.get(f"survival_{horizon}y_observed")
        survival.append(
            SurvivalOdds(
                horizon_years=horizon,
                probability=round(float(models[horizon].predict_proba(row)[0]), 4),
                departement_observed=observed.departement_value / 100
                if observed and observed.departement_value is not None
                else None,
                national_observed=observed.national_value / 100
                if observed and observed.national_value is not None
                else None,
            )
        )
    five = next((s.probability for s in survival if s.horizon_years == 5), survival[-1].probability)
    level = (
        "élevé"
        if five < NATIONAL_SURVIVAL_5Y - RISK_MARGIN
        else "faible"
        if five > NATIONAL_SURVIVAL_5Y + RISK_MARGIN
        else "modéré"
    )
    key_model = models.get(5) or models[max(models)]
    reasons = list(key_model.score(row, explain=True)["reasons"][0]) + _indicator_remarks(indicators)
    warnings = []
    if not bool(info["relevant_artisanat"]):
        warnings.append(
            "Activité hors de la liste des activités artisanales (décret 98-247) : diagnostic indicatif."
        )
    cohort = float(values["survival_5y_cohort"].to_numpy(dtype=float)[position])
    coverage = store.coverage
    if not coverage.national:
        warnings.append(
            f"Couverture partielle : {coverage.describe()}. Les chiffres SIRENE des communes voisines, du "
            "département et de la France qui en dépendraient sont marqués « n.d. » plutôt que comptés à zéro."
        )
    if str(commune["departement_code"]) in coverage.departements and cohort < 30:
        warnings.append(
            f"Peu de créations observées de cette activité dans le département ({int(cohort)} sur la cohorte "
            "à 5 ans) : les taux de survie observés sont fragiles."
        )
    return Diagnostic(
        naf_code=naf,
        naf_label=str(info["naf_label"]),
        artisan_activity=bool(info["relevant_artisanat"]),
        commune_code=com,
        commune_name=str(commune["commune_name"]),
        departement_code=str(commune["departement_code"]),
        reference_date=store.reference_date.isoformat(),
        risk_level=level,
        risk_summary=RISK_LEVELS_FR[level],
        survival=survival,
        indicators=indicators,
        reasons=reasons,
        warnings=warnings,
        synthetic_data=store.synthetic,
        sources=figure_sources(indicators),
    )


def figure_sources(indicators: list[Indicator]) -> list[str]:
    """Each source the indicators come from, once, with the figures it gives (first use order)."""
    figures: dict[str, list[str]] = {}
    for indicator in indicators:
        figures.setdefault(indicator.source, []).append(indicator.label.lower())
        if indicator.reference_source:
            figures.setdefault(indicator.reference_source, []).append(
                f"référence France : {indicator.label.lower()}"
            )
    return [f"{source} : {', '.join(labels)}." for source, labels in figures.items()]


def _share(percent: float | None) -> float | None:
    """A percentage as a share (None stays None)."""
    return None if percent is None else round(percent / 100, 4)
