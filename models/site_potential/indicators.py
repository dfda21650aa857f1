"""The territorial indicators of the flash diagnostic, for every commune of one activity at once.

Each indicator has a definition, a source, a date, and its département and national reference values.
Computing the whole table of an activity once (sparse products over the 10/20 km neighbourhoods) makes a
diagnostic a row lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from models.site_potential.territory import Territory


@dataclass(frozen=True)
class IndicatorSpec:
    """What an indicator means and how its references are made."""

    key: str
    label: str
    unit: str
    family: str  # démographie, concurrence, dynamisme, capacité, pérennité
    definition: str
    source: str
    reference: str  # how the département / national values are computed


SIRENE = "SIRENE (établissements), fichier ingéré"
COG = "INSEE COG 2026 (population légale)"
RP = "INSEE, comparateur de territoires (RP 2015 et 2021)"

INDICATORS: tuple[IndicatorSpec, ...] = (
    IndicatorSpec(
        "population",
        "Population de la commune",
        "habitants",
        "démographie",
        "Population légale de la commune (ou de l'arrondissement municipal).",
        COG,
        "médiane des communes",
    ),
    IndicatorSpec(
        "density",
        "Densité de population",
        "hab./km²",
        "démographie",
        "Population divisée par la superficie de la commune.",
        f"{COG}; {RP}",
        "population totale / superficie totale",
    ),
    IndicatorSpec(
        "growth",
        "Évolution annuelle de la population 2015-2021",
        "%/an",
        "démographie",
        "Taux de croissance annuel moyen de la population municipale entre 2015 et 2021.",
        RP,
        "population totale 2021 / 2015",
    ),
    IndicatorSpec(
        "unemployment",
        "Taux de chômage des 15-64 ans",
        "%",
        "démographie",
        "Chômeurs / actifs de 15 à 64 ans au recensement 2021 (au sens du recensement).",
        RP,
        "chômeurs / actifs de la zone",
    ),
    IndicatorSpec(
        "catchment_10km",
        "Population à moins de 10 km",
        "habitants",
        "démographie",
        "Population des communes dont le centre est à moins de 10 km (commune comprise).",
        COG,
        "médiane des communes",
    ),
    IndicatorSpec(
        "catchment_20km",
        "Population à moins de 20 km",
        "habitants",
        "démographie",
        "Population des communes dont le centre est à moins de 20 km (commune comprise).",
        COG,
        "médiane des communes",
    ),
    IndicatorSpec(
        "competitors",
        "Établissements de la même activité dans la commune",
        "établissements",
        "concurrence",
        "Établissements actifs du même code NAF dans la commune à la date de référence.",
        SIRENE,
        "médiane des communes",
    ),
    IndicatorSpec(
        "competitors_per_10k",
        "Concurrents pour 10 000 habitants (commune)",
        "pour 10 000 hab.",
        "concurrence",
        "Établissements actifs de l'activité pour 10 000 habitants de la commune.",
        SIRENE,
        "établissements / population de la zone",
    ),
    IndicatorSpec(
        "competitors_per_10k_20km",
        "Concurrents pour 10 000 habitants à moins de 20 km",
        "pour 10 000 hab.",
        "concurrence",
        "Établissements actifs de l'activité à moins de 20 km pour 10 000 habitants de la même zone.",
        SIRENE,
        "établissements / population de la zone",
    ),
    IndicatorSpec(
        "inhabitants_per_competitor",
        "Habitants par établissement de l'activité (20 km)",
        "habitants",
        "capacité",
        "Population à moins de 20 km divisée par le nombre d'établissements de l'activité dans la "
        "même zone (plus c'est élevé, plus la clientèle potentielle par établissement est grande).",
        SIRENE,
        "population / établissements de la zone (norme nationale)",
    ),
    IndicatorSpec(
        "creation_rate",
        "Taux de création de l'activité (20 km)",
        "% par an",
        "dynamisme",
        "Créations des 12 derniers mois / établissements actifs, à moins de 20 km.",
        SIRENE,
        "créations / établissements de la zone",
    ),
    IndicatorSpec(
        "closure_rate",
        "Taux de fermeture de l'activité (20 km)",
        "% par an",
        "dynamisme",
        "Fermetures des 12 derniers mois / établissements actifs, à moins de 20 km.",
        SIRENE,
        "fermetures / établissements de la zone",
    ),
    IndicatorSpec(
        "survival_3y_observed",
        "Survie à 3 ans observée de l'activité (département)",
        "%",
        "pérennité",
        "Part des établissements de l'activité créés 3 à 8 ans avant la date de "
        "référence encore actifs 3 ans après leur création, dans le département.",
        SIRENE,
        "même calcul sur la zone",
    ),
    IndicatorSpec(
        "survival_5y_observed",
        "Survie à 5 ans observée de l'activité (département)",
        "%",
        "pérennité",
        "Part des établissements de l'activité créés 5 à 10 ans avant la date de "
        "référence encore actifs 5 ans après leur création, dans le département.",
        SIRENE,
        "même calcul sur la zone",
    ),
)
SPEC_BY_KEY: dict[str, IndicatorSpec] = {s.key: s for s in INDICATORS}


@dataclass
class SiteStore:
    """Everything the diagnostic reads: the territory and the SIRENE aggregates at a reference date.

    `activity_commune`: naf_code, commune_code, active, created_12m, closed_12m.
    `activity_survival`: naf_code, departement_code, cohort_3y, survived_3y, cohort_5y, survived_5y.
    """

    territory: Territory
    activity_commune: pd.DataFrame
    activity_survival: pd.DataFrame
    reference_date: date
    synthetic: bool = False  # establishments from the simulator, not from SIRENE
    _tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = field(default_factory=dict, repr=False)

    def counts(self, naf_code: str) -> pd.DataFrame:
        """Active, created and closed establishments of an activity, one row per commune (territory order)."""
        rows = self.activity_commune[self.activity_commune["naf_code"] == naf_code].set_index("commune_code")
        cols = ["active", "created_12m", "closed_12m"]
        return rows[cols].reindex(self.territory.codes).fillna(0.0).astype(float)

    def table(self, naf_code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(per-commune values, per-scope references) of every indicator for one activity, cached."""
        if naf_code not in self._tables:
            self._tables[naf_code] = indicator_table(self, naf_code)
        return self._tables[naf_code]


def _ratio(num: float, den: float, scale: float = 1.0) -> float:
    return float(num / den * scale) if den and np.isfinite(den) and den > 0 else float("nan")


def _scope_references(frame: pd.DataFrame, counts: pd.DataFrame) -> dict[str, float]:
    """Reference values of a set of communes (a département, or the nation)."""
    pop = frame["population"].sum()
    area = frame["superficie_km2"].sum()
    active = counts["active"].sum()
    return {
        "population": float(frame["population"].median()),
        "density": _ratio(pop, area),
        "growth": (_ratio(frame["population_2021"].sum(), frame["population_2015"].sum()) ** (1 / 6) - 1)
        * 100,
        "unemployment": _ratio(
            frame["pop_15_64_chomage_2021"].sum(), frame["pop_15_64_active_2021"].sum(), 100
        ),
        "catchment_10km": float(frame["catchment_10km"].median()),
        "catchment_20km": float(frame["catchment_20km"].median()),
        "competitors": float(counts["active"].median()),
        "competitors_per_10k": _ratio(active, pop, 10_000),
        "competitors_per_10k_20km": _ratio(active, pop, 10_000),
        "inhabitants_per_competitor": _ratio(pop, active),
        "creation_rate": _ratio(counts["created_12m"].sum(), active, 100),
        "closure_rate": _ratio(counts["closed_12m"].sum(), active, 100),
    }


def indicator_table(store: SiteStore, naf_code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every indicator of one activity for every commune, and the département and national references."""
    territory = store.territory
    com = territory.communes
    counts = store.counts(naf_code)
    near = territory.within[20]
    active_20 = near @ counts["active"].to_numpy()
    created_20 = near @ counts["created_12m"].to_numpy()
    closed_20 = near @ counts["closed_12m"].to_numpy()
    pop = com["population"].to_numpy(dtype=float)
    catch20 = com["catchment_20km"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = pd.DataFrame(
            {
                "population": pop,
                "density": com["density"].to_numpy(),
                "growth": com["growth"].to_numpy(),
                "unemployment": com["unemployment"].to_numpy(),
                "catchment_10km": com["catchment_10km"].to_numpy(),
                "catchment_20km": catch20,
                "competitors": counts["active"].to_numpy(),
                "competitors_per_10k": np.where(pop > 0, counts["active"].to_numpy() / pop * 10_000, np.nan),
                "competitors_per_10k_20km": np.where(catch20 > 0, active_20 / catch20 * 10_000, np.nan),
                "inhabitants_per_competitor": np.where(active_20 > 0, catch20 / active_20, np.nan),
                "creation_rate": np.where(active_20 > 0, created_20 / active_20 * 100, np.nan),
                "closure_rate": np.where(active_20 > 0, closed_20 / active_20 * 100, np.nan),
            },
            index=com.index,
        )
    survival = store.activity_survival[store.activity_survival["naf_code"] == naf_code]
    by_dep = survival.groupby("departement_code")[
        ["cohort_3y", "survived_3y", "cohort_5y", "survived_5y"]
    ].sum()
    dep = com["departement_code"]
    dep_s3 = (by_dep["survived_3y"] / by_dep["cohort_3y"].where(by_dep["cohort_3y"] > 0) * 100).reindex(dep)
    dep_s5 = (by_dep["survived_5y"] / by_dep["cohort_5y"].where(by_dep["cohort_5y"] > 0) * 100).reindex(dep)
    values["survival_3y_observed"] = dep_s3.to_numpy()
    values["survival_5y_observed"] = dep_s5.to_numpy()
    values["survival_3y_cohort"] = by_dep["cohort_3y"].reindex(dep).fillna(0).to_numpy()
    values["survival_5y_cohort"] = by_dep["cohort_5y"].reindex(dep).fillna(0).to_numpy()

    refs = {}
    for code, rows in com.groupby("departement_code"):
        refs[str(code)] = _scope_references(rows, counts.loc[rows.index])
    refs["France"] = _scope_references(com, counts)
    references = pd.DataFrame(refs).T
    totals = by_dep.sum()
    references["survival_3y_observed"] = dep_s3.groupby(dep.to_numpy()).first().reindex(references.index)
    references["survival_5y_observed"] = dep_s5.groupby(dep.to_numpy()).first().reindex(references.index)
    references.loc["France", "survival_3y_observed"] = _ratio(totals["survived_3y"], totals["cohort_3y"], 100)
    references.loc["France", "survival_5y_observed"] = _ratio(totals["survived_5y"], totals["cohort_5y"], 100)
    return values, references


@dataclass(frozen=True)
class Indicator:
    """One indicator of a diagnostic, with its references."""

    key: str
    label: str
    family: str
    value: float | None
    unit: str
    departement_value: float | None
    national_value: float | None
    definition: str
    source: str
    reference: str
    date: str


def _clean(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return round(number, 3) if np.isfinite(number) else None


def indicators_for(store: SiteStore, naf_code: str, commune_code: str) -> list[Indicator]:
    """The 14 indicators of (activity, commune), each with its département and national values."""
    values, refs = store.table(naf_code)
    row = values.loc[commune_code]
    dep = str(store.territory.communes.loc[commune_code, "departement_code"])
    when = store.reference_date.isoformat()
    out = []
    for spec in INDICATORS:
        dated = when if spec.source == SIRENE else ("2021" if spec.source == RP else "2026")
        out.append(
            Indicator(
                key=spec.key,
                label=spec.label,
                family=spec.family,
                value=_clean(row[spec.key]),
                unit=spec.unit,
                departement_value=_clean(refs.loc[dep, spec.key]) if dep in refs.index else None,
                national_value=_clean(refs.loc["France", spec.key]),
                definition=spec.definition,
                source=spec.source,
                reference=spec.reference,
                date=dated,
            )
        )
    return out
