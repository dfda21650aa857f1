"""The territorial indicators of the flash diagnostic, for every commune of one activity at once.

Each indicator has a definition, a source and its year, and its département and national references, with
what those references are in words (a total, the median commune, a rate). Computing the whole table of an
activity once (sparse products over the 10/20 km neighbourhoods) makes a diagnostic a row lookup.

Where the figures come from:
- the census and the COG for the demography, for every commune of France;
- the competition of an activity BPE covers (`bpe_types`): INSEE's BPE counts (latest year, change from the
  previous one), for every commune; unless the SIRENE store is real and covers France, in which case it is
  more recent and replaces BPE;
- the other competition figures, the creations and closures, the observed survival: the SIRENE store, and
  only where it covers the territory (`Coverage`): a store built from one commune's establishments shows
  "n.d." for its neighbours, its département and France, never zeros or its own figures under those names.
  France's observed survival then comes from INSEE's published rate of the activity's sector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from models.site_potential.sectors import (
    PUBLISHED_SURVIVAL_3Y,
    PUBLISHED_SURVIVAL_5Y,
    SECTION_TO_SECTOR,
    SURVIVAL_SOURCES,
)
from models.site_potential.territory import Territory

COVERED_SHARE = 0.8
"""A département (or France, or a 20 km zone) is covered by the SIRENE store when communes holding at least
one of its establishments gather this share of its population."""
CHANGE_YEARS = 4
"""Without BPE, the change of the number of establishments is measured over this many years of SIRENE."""


@dataclass(frozen=True)
class IndicatorSpec:
    """What an indicator means and what its references are, in words an advisor reads."""

    key: str
    label: str
    unit: str
    family: str  # démographie, concurrence, dynamisme, pérennité
    definition: str
    source: str  # the census / COG sources; "competition" and "sirene" rows are resolved per activity
    reference: str  # what the département and France columns hold


COG = "INSEE, COG 2026 (population légale)"
RP_GROWTH = "INSEE, recensements 2015 et 2021"
RP = "INSEE, recensement 2021"
COMPETITION = "competition"  # BPE or SIRENE, per activity
SIRENE = "sirene"

INDICATORS: tuple[IndicatorSpec, ...] = (
    IndicatorSpec(
        "population",
        "Population de la commune",
        "habitants",
        "démographie",
        "Population légale de la commune (ou de l'arrondissement municipal).",
        COG,
        "Département et France : population de la commune médiane (la moitié des communes est plus peuplée).",
    ),
    IndicatorSpec(
        "density",
        "Densité de population",
        "hab./km²",
        "démographie",
        "Population divisée par la superficie de la commune.",
        COG,
        "Département et France : population totale / superficie totale.",
    ),
    IndicatorSpec(
        "growth",
        "Évolution annuelle de la population 2015-2021",
        "%/an",
        "démographie",
        "Taux de croissance annuel moyen de la population municipale entre 2015 et 2021.",
        RP_GROWTH,
        "Département et France : évolution de la population totale.",
    ),
    IndicatorSpec(
        "unemployment",
        "Taux de chômage des 15-64 ans",
        "%",
        "démographie",
        "Chômeurs / actifs de 15 à 64 ans au recensement 2021 (au sens du recensement).",
        RP,
        "Département et France : chômeurs / actifs de tout le territoire.",
    ),
    IndicatorSpec(
        "catchment_10km",
        "Population à moins de 10 km",
        "habitants",
        "démographie",
        "Population des communes dont le centre est à moins de 10 km (commune comprise).",
        COG,
        "Département et France : commune médiane.",
    ),
    IndicatorSpec(
        "catchment_20km",
        "Population à moins de 20 km",
        "habitants",
        "démographie",
        "Population des communes dont le centre est à moins de 20 km (commune comprise).",
        COG,
        "Département et France : commune médiane.",
    ),
    IndicatorSpec(
        "competitors",
        "Établissements de la même activité dans la commune",
        "établissements",
        "concurrence",
        "Établissements concurrents dans la commune : {what}.",
        COMPETITION,
        "Département et France : commune médiane.",
    ),
    IndicatorSpec(
        "competitors_per_10k",
        "Concurrents pour 10 000 habitants (commune)",
        "pour 10 000 hab.",
        "concurrence",
        "Établissements concurrents ({what}) pour 10 000 habitants de la commune ({population}).",
        COMPETITION,
        "Département et France : tous les établissements / toute la population.",
    ),
    IndicatorSpec(
        "competitors_per_10k_20km",
        "Concurrents pour 10 000 habitants à moins de 20 km",
        "pour 10 000 hab.",
        "concurrence",
        "Établissements concurrents ({what}) à moins de 20 km pour 10 000 habitants de la même zone "
        "({population}).",
        COMPETITION,
        "Département et France : tous les établissements / toute la population.",
    ),
    IndicatorSpec(
        "competitors_change",
        "Évolution du nombre de concurrents à moins de 20 km",
        "%",
        "dynamisme",
        "Variation du nombre d'établissements concurrents ({what}) à moins de 20 km, {period}.",
        COMPETITION,
        "Département et France : variation du nombre total d'établissements.",
    ),
    IndicatorSpec(
        "creation_rate",
        "Taux de création de l'activité (20 km)",
        "% par an",
        "dynamisme",
        "Créations des 12 derniers mois / établissements actifs du même code NAF, à moins de 20 km.",
        SIRENE,
        "Département et France : toutes les créations / tous les établissements.",
    ),
    IndicatorSpec(
        "closure_rate",
        "Taux de fermeture de l'activité (20 km)",
        "% par an",
        "dynamisme",
        "Fermetures des 12 derniers mois / établissements actifs du même code NAF, à moins de 20 km.",
        SIRENE,
        "Département et France : toutes les fermetures / tous les établissements.",
    ),
    IndicatorSpec(
        "survival_3y_observed",
        "Survie à 3 ans observée de l'activité (département)",
        "%",
        "pérennité",
        "Part des établissements de l'activité créés 3 à 8 ans avant la date de "
        "référence encore actifs 3 ans après leur création, dans le département.",
        SIRENE,
        "Département : le même taux ; France : toutes les créations observées de l'activité.",
    ),
    IndicatorSpec(
        "survival_5y_observed",
        "Survie à 5 ans observée de l'activité (département)",
        "%",
        "pérennité",
        "Part des établissements de l'activité créés 5 à 10 ans avant la date de "
        "référence encore actifs 5 ans après leur création, dans le département.",
        SIRENE,
        "Département : le même taux ; France : toutes les créations observées de l'activité.",
    ),
)
SPEC_BY_KEY: dict[str, IndicatorSpec] = {s.key: s for s in INDICATORS}


@dataclass(frozen=True)
class Coverage:
    """Where the SIRENE store's figures are real values, not artefacts of a partial extract.

    `commune[i]`: commune i holds establishments of the store or lies in a covered département;
    `zone_20km[i]`: the covered communes hold `COVERED_SHARE` of the population within 20 km of commune i."""

    commune: np.ndarray
    zone_20km: np.ndarray
    departements: frozenset[str]
    national: bool
    communes_with_establishments: int

    def describe(self) -> str:
        """The extent of the SIRENE store, in French."""
        n = self.communes_with_establishments
        if self.national:
            return "le fichier SIRENE couvre la France"
        deps = sorted(self.departements)
        where = f", département(s) couvert(s) : {', '.join(deps[:5])}" if deps else ""
        return f"le fichier SIRENE ingéré ne couvre que {n:,} commune(s){where}".replace(",", " ", 1)


def store_coverage(territory: Territory, activity_commune: pd.DataFrame) -> Coverage:
    """The coverage of a store whose establishments are aggregated in `activity_commune`."""
    com = territory.communes
    has = com.index.isin(pd.Index(activity_commune["commune_code"].astype(str).unique()))
    pop = np.nan_to_num(com["population"].to_numpy(dtype=float))
    dep = com["departement_code"].astype(str).to_numpy()
    covered = pd.Series(np.where(has, pop, 0.0)).groupby(dep).sum()
    total = pd.Series(pop).groupby(dep).sum()
    share = covered / total.where(total > 0)
    departements = frozenset(str(d) for d in share[share >= COVERED_SHARE].index)
    commune = has | np.isin(dep, list(departements))
    near = territory.within[20]
    with np.errstate(divide="ignore", invalid="ignore"):
        zone = (near @ np.where(commune, pop, 0.0)) / (near @ pop) >= COVERED_SHARE
    national = bool(pop.sum() > 0 and np.where(commune, pop, 0.0).sum() / pop.sum() >= COVERED_SHARE)
    return Coverage(commune, np.asarray(zone), departements, national, int(has.sum()))


@dataclass(frozen=True)
class CompetitionSource:
    """Where the competition figures of an activity come from, as the report names them."""

    kind: Literal["bpe", "sirene"]
    label: str  # "INSEE, BPE 2013"
    date: str  # year or ISO date of the counts
    what: str  # what is counted
    period: str  # of the change
    population: str  # the population the densities divide by


def _date_fr(day: date) -> str:
    return day.strftime("%d/%m/%Y")


@dataclass
class SiteStore:
    """Everything the diagnostic reads: the territory, the SIRENE aggregates at a reference date and the BPE
    competitor counts.

    `activity_commune`: naf_code, commune_code, active, created_12m, closed_12m (and active_before: active
    `CHANGE_YEARS` years before the reference date).
    `activity_survival`: naf_code, departement_code, cohort_3y, survived_3y, cohort_5y, survived_5y.
    `competition`: year, commune_code, typequ, count (BPE); `bpe_types`: naf_code, typequ, bpe_label.
    """

    territory: Territory
    activity_commune: pd.DataFrame
    activity_survival: pd.DataFrame
    reference_date: date
    synthetic: bool = False  # establishments from the simulator, not from SIRENE
    competition: pd.DataFrame | None = None
    bpe_types: pd.DataFrame | None = None
    _tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = field(default_factory=dict, repr=False)
    _sources: dict[str, CompetitionSource] = field(default_factory=dict, repr=False)
    _coverage: Coverage | None = field(default=None, repr=False)

    @property
    def coverage(self) -> Coverage:
        """Where the SIRENE figures are real values (computed once)."""
        if self._coverage is None:
            self._coverage = store_coverage(self.territory, self.activity_commune)
        return self._coverage

    @property
    def sirene_label(self) -> str:
        """The SIRENE store as a source: `SIRENE au 01/01/2025` (SIMULÉ when it is)."""
        kind = "SIRENE SIMULÉ (démonstration)" if self.synthetic else "INSEE, SIRENE"
        return f"{kind} au {_date_fr(self.reference_date)}"

    def counts(self, naf_code: str) -> pd.DataFrame:
        """Active, created and closed establishments of an activity in the SIRENE store, one row per commune
        (territory order); `active_before` is missing when the store predates it."""
        rows = self.activity_commune[self.activity_commune["naf_code"] == naf_code].set_index("commune_code")
        cols = ["active", "created_12m", "closed_12m", "active_before"]
        out = rows.reindex(columns=cols).reindex(self.territory.codes)
        has_before = "active_before" in self.activity_commune.columns
        out = out.fillna(0.0).astype(float)
        if not has_before:
            out["active_before"] = np.nan
        return out

    def bpe_type(self, naf_code: str) -> tuple[str, str] | None:
        """(TYPEQU, label) of the BPE type counting an activity's competitors, when BPE covers it."""
        if self.bpe_types is None or self.competition is None or self.competition.empty:
            return None
        found = self.bpe_types[self.bpe_types["naf_code"] == naf_code]
        if found.empty or not (self.competition["typequ"] == found["typequ"].iloc[0]).any():
            return None
        return str(found["typequ"].iloc[0]), str(found["bpe_label"].iloc[0])

    def competition_source(self, naf_code: str) -> CompetitionSource:
        """BPE for an activity it covers, unless the SIRENE store is real and covers France (cached)."""
        if naf_code not in self._sources:
            self._sources[naf_code] = self._competition_source(naf_code)
        return self._sources[naf_code]

    def _competition_source(self, naf_code: str) -> CompetitionSource:
        bpe = self.bpe_type(naf_code)
        if bpe is not None and (self.synthetic or not self.coverage.national):
            typequ, label = bpe
            assert self.competition is not None
            years = sorted(self.competition.loc[self.competition["typequ"] == typequ, "year"].unique())
            latest = int(years[-1])
            period = f"de {int(years[-2])} à {latest}" if len(years) > 1 else "non mesurée (une seule année)"
            return CompetitionSource(
                "bpe",
                f"INSEE, BPE {latest}",
                str(latest),
                f"équipements « {label} » de la BPE (type {typequ})",
                period,
                "population municipale 2015, recensement le plus proche de la BPE",
            )
        before = self.reference_date.year - CHANGE_YEARS
        return CompetitionSource(
            "sirene",
            self.sirene_label,
            self.reference_date.isoformat(),
            "établissements actifs du même code NAF",
            f"de {before} à {self.reference_date.year}",
            "population légale",
        )

    def table(self, naf_code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(per-commune values, per-scope references) of every indicator for one activity, cached."""
        if naf_code not in self._tables:
            self._tables[naf_code] = indicator_table(self, naf_code)
        return self._tables[naf_code]


def _ratio(num: float, den: float, scale: float = 1.0) -> float:
    return float(num / den * scale) if den and np.isfinite(den) and den > 0 else float("nan")


def _change(now: float, before: float) -> float:
    return _ratio(now - before, before, 100)


def _bpe_counts(store: SiteStore, typequ: str) -> tuple[np.ndarray, np.ndarray]:
    """BPE counts of a type by commune (territory order): latest year, previous year (NaN when only one)."""
    assert store.competition is not None
    rows = store.competition[store.competition["typequ"] == typequ]
    years = sorted(rows["year"].unique())

    def of(year: int) -> np.ndarray:
        by = rows[rows["year"] == year].groupby("commune_code")["count"].sum()
        return by.reindex(store.territory.codes).fillna(0.0).to_numpy(dtype=float)

    latest = of(years[-1])
    previous = of(years[-2]) if len(years) > 1 else np.full(len(latest), np.nan)
    return latest, previous


def indicator_table(store: SiteStore, naf_code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every indicator of one activity for every commune, and the département and national references
    (NaN where the source does not cover the territory)."""
    territory = store.territory
    com = territory.communes
    near = territory.within[20]
    coverage = store.coverage
    source = store.competition_source(naf_code)
    sirene = store.counts(naf_code)
    pop = com["population"].to_numpy(dtype=float)
    if source.kind == "bpe":
        bpe = store.bpe_type(naf_code)
        assert bpe is not None
        active, before = _bpe_counts(store, bpe[0])
        dens_pop = com["population_2015"].fillna(com["population"]).to_numpy(dtype=float)
        known = np.ones(len(com), dtype=bool)
        known_20 = known
    else:
        active = sirene["active"].to_numpy()
        before = sirene["active_before"].to_numpy()
        dens_pop = pop
        known, known_20 = coverage.commune, coverage.zone_20km
    active_20 = near @ active
    before_20 = near @ before
    dens_20 = near @ dens_pop
    created_20 = near @ sirene["created_12m"].to_numpy()
    closed_20 = near @ sirene["closed_12m"].to_numpy()
    sirene_active_20 = near @ sirene["active"].to_numpy()
    nan = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        values = pd.DataFrame(
            {
                "population": pop,
                "density": com["density"].to_numpy(),
                "growth": com["growth"].to_numpy(),
                "unemployment": com["unemployment"].to_numpy(),
                "catchment_10km": com["catchment_10km"].to_numpy(),
                "catchment_20km": com["catchment_20km"].to_numpy(),
                "competitors": np.where(known, active, nan),
                "competitors_per_10k": np.where(known & (dens_pop > 0), active / dens_pop * 10_000, nan),
                "competitors_per_10k_20km": np.where(
                    known_20 & (dens_20 > 0), active_20 / dens_20 * 10_000, nan
                ),
                "competitors_change": np.where(
                    known_20 & (before_20 > 0), (active_20 - before_20) / before_20 * 100, nan
                ),
                "creation_rate": np.where(
                    coverage.zone_20km & (sirene_active_20 > 0), created_20 / sirene_active_20 * 100, nan
                ),
                "closure_rate": np.where(
                    coverage.zone_20km & (sirene_active_20 > 0), closed_20 / sirene_active_20 * 100, nan
                ),
                # the survival model's own feature (its training count), whatever the table shows
                "sirene_competitors": sirene["active"].to_numpy(),
            },
            index=com.index,
        )
    survival = store.activity_survival[store.activity_survival["naf_code"] == naf_code]
    by_dep = survival.groupby("departement_code")[
        ["cohort_3y", "survived_3y", "cohort_5y", "survived_5y"]
    ].sum()
    by_dep = by_dep[by_dep.index.isin(list(coverage.departements))]
    dep = com["departement_code"].astype(str)
    for horizon in (3, 5):
        cohort = by_dep[f"cohort_{horizon}y"]
        rate = by_dep[f"survived_{horizon}y"] / cohort.where(cohort > 0) * 100
        values[f"survival_{horizon}y_observed"] = rate.reindex(dep).to_numpy()
        values[f"survival_{horizon}y_cohort"] = cohort.reindex(dep).fillna(0).to_numpy()

    per_commune = pd.DataFrame(
        {
            "population": pop,
            "area": com["superficie_km2"].to_numpy(dtype=float),
            "population_2015": com["population_2015"].to_numpy(dtype=float),
            "population_2021": com["population_2021"].to_numpy(dtype=float),
            "jobless": com["pop_15_64_chomage_2021"].to_numpy(dtype=float),
            "workforce": com["pop_15_64_active_2021"].to_numpy(dtype=float),
            "catchment_10km": com["catchment_10km"].to_numpy(dtype=float),
            "catchment_20km": com["catchment_20km"].to_numpy(dtype=float),
            "active": active,
            "before": before,
            "dens_pop": dens_pop,
            "sirene_active": sirene["active"].to_numpy(),
            "created": sirene["created_12m"].to_numpy(),
            "closed": sirene["closed_12m"].to_numpy(),
        },
        index=com.index,
    )
    refs: dict[str, dict[str, float]] = {}
    for code, rows in per_commune.groupby(dep.to_numpy()):
        refs[str(code)] = _scope_references(rows, str(code) in coverage.departements, source.kind)
    refs["France"] = _scope_references(per_commune, coverage.national, source.kind)
    references = pd.DataFrame(refs).T
    for horizon in (3, 5):
        cohort = by_dep[f"cohort_{horizon}y"]
        rate = by_dep[f"survived_{horizon}y"] / cohort.where(cohort > 0) * 100
        references[f"survival_{horizon}y_observed"] = rate.reindex(references.index)
        national = float("nan")
        if coverage.national:
            totals = survival[[f"cohort_{horizon}y", f"survived_{horizon}y"]].sum()
            national = _ratio(totals[f"survived_{horizon}y"], totals[f"cohort_{horizon}y"], 100)
        references.loc["France", f"survival_{horizon}y_observed"] = national
    return values, references


def _scope_references(rows: pd.DataFrame, sirene_covered: bool, competition: str) -> dict[str, float]:
    """Reference values of a set of communes (a département, or France); the SIRENE-based ones are NaN
    when the store does not cover it."""
    pop = rows["population"].sum()
    active, dens_pop = rows["active"].sum(), rows["dens_pop"].sum()
    competition_known = competition == "bpe" or sirene_covered
    nan = float("nan")
    return {
        "population": float(rows["population"].median()),
        "density": _ratio(pop, rows["area"].sum()),
        "growth": (_ratio(rows["population_2021"].sum(), rows["population_2015"].sum()) ** (1 / 6) - 1) * 100,
        "unemployment": _ratio(rows["jobless"].sum(), rows["workforce"].sum(), 100),
        "catchment_10km": float(rows["catchment_10km"].median()),
        "catchment_20km": float(rows["catchment_20km"].median()),
        "competitors": float(rows["active"].median()) if competition_known else nan,
        "competitors_per_10k": _ratio(active, dens_pop, 10_000) if competition_known else nan,
        "competitors_per_10k_20km": _ratio(active, dens_pop, 10_000) if competition_known else nan,
        "competitors_change": _change(active, rows["before"].sum()) if competition_known else nan,
        "creation_rate": _ratio(rows["created"].sum(), rows["sirene_active"].sum(), 100)
        if sirene_covered
        else nan,
        "closure_rate": _ratio(rows["closed"].sum(), rows["sirene_active"].sum(), 100)
        if sirene_covered
        else nan,
    }


@dataclass(frozen=True)
class Indicator:
    """One indicator of a diagnostic, with its references, their sources and what they are."""

    key: str
    label: str
    family: str
    value: float | None
    unit: str
    departement_value: float | None
    national_value: float | None
    definition: str
    source: str  # of the commune's value, with its year
    reference: str  # what the département and France columns hold, in words
    date: str
    reference_source: str | None = None  # when the references come from elsewhere than `source`
    note: str | None = None  # why a value is unavailable ("n.d.")


def _clean(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return round(number, 3) if np.isfinite(number) else None


def _published_survival(horizon: int, naf_section: str | None) -> tuple[float | None, str | None]:
    """INSEE's published survival (percent) of the activity's sector, and its source."""
    if naf_section is None:
        return None, None
    sector = SECTION_TO_SECTOR.get(naf_section, "Autres activités de services")
    rates = PUBLISHED_SURVIVAL_3Y if horizon == 3 else PUBLISHED_SURVIVAL_5Y
    if sector not in rates:
        return None, None
    return rates[sector] * 100, f"{SURVIVAL_SOURCES[horizon]}, secteur « {sector} »"


def indicators_for(
    store: SiteStore, naf_code: str, commune_code: str, naf_section: str | None = None
) -> list[Indicator]:
    """The 14 indicators of (activity, commune), each with its département and national values; with
    `naf_section`, France's observed survival falls back on INSEE's published rate of the sector when the
    store does not cover France."""
    values, refs = store.table(naf_code)
    row = values.loc[commune_code]
    dep = str(store.territory.communes.loc[commune_code, "departement_code"])
    coverage = store.coverage
    competition = store.competition_source(naf_code)
    partial = coverage.describe()
    out = []
    for spec in INDICATORS:
        source, dated, reference_source, note = spec.source, "", None, None
        if spec.source == COG:
            dated = "2026"
        elif spec.source in (RP, RP_GROWTH):
            dated = "2021" if spec.source == RP else "2015-2021"
        elif spec.source == COMPETITION:
            source, dated = competition.label, competition.date
            if spec.key == "competitors_change" and competition.kind == "bpe":
                source = f"INSEE, BPE ({competition.period})"
        else:
            source, dated = store.sirene_label, store.reference_date.isoformat()
        definition = spec.definition.format(
            what=competition.what, population=competition.population, period=competition.period
        )
        value = _clean(row[spec.key])
        dep_value = _clean(refs.loc[dep, spec.key]) if dep in refs.index else None
        national = _clean(refs.loc["France", spec.key])
        sirene_based = spec.source == SIRENE or (spec.source == COMPETITION and competition.kind == "sirene")
        if spec.key.startswith("survival_") and national is None:
            horizon = int(spec.key.split("_")[1][0])
            published, reference_source = _published_survival(horizon, naf_section)
            national = None if published is None else round(published, 3)
        if sirene_based and not coverage.national and None in (value, dep_value, national):
            note = f"n.d. : {partial}"
        out.append(
            Indicator(
                key=spec.key,
                label=spec.label,
                family=spec.family,
                value=value,
                unit=spec.unit,
                departement_value=dep_value,
                national_value=national,
                definition=definition,
                source=source,
                reference=spec.reference,
                date=dated,
                reference_source=reference_source,
                note=note,
            )
        )
    return out
