"""SYNTHETIC DATA. Establishment creations and closures in the official SIRENE file formats, with each
establishment's oracle: its true 3- and 5-year survival probabilities given what is known at creation.

Generative process (figures in `data_samples/site_potential/DATASHEET.md`):

1. Establishments are chamber companies from `simulate_companies` (real artisan NAF codes, communes drawn by
   population), created uniformly over `first_year`..`last_year`, plus a stock created in the 20 years
   before (for competition counts). A small share carries a former commune code, as old files do.
   With `placement="bpe"` (and INSEE BPE counts passed in), the size and the places follow real counts
   instead: see `bpe_placement_targets` and `simulate_sirene`.
2. Closure: in year k after creation the establishment closes with hazard
   h_k = sigmoid(a_sector + c_sector [k > 3] + late [k > 5] + x), with x the sum of fixed effects of the NAF
   sub-class, the département, the commune's size (larger urban units, lower survival) and the creation year.
   Every term is known at creation, so S3 = prod_{k<=3} (1 - h_k) and S5 = prod_{k<=5} (1 - h_k) are the
   oracle. a_sector and c_sector are calibrated on INSEE's 3- and 5-year survival rates by sector.
3. Files: `StockEtablissement` columns (siret, dateCreationEtablissement, activitePrincipaleEtablissement,
   codeCommuneEtablissement, etatAdministratifEtablissement, trancheEffectifsEtablissement, ...) and
   `StockEtablissementHistorique` periods (siret, dateDebut, dateFin, etatAdministratifEtablissement, ...):
   an active period from creation, then a closed one from the closure date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.reference import Reference
from models.simulation.chamber import (
    NAF_POPULARITY,
    SECTOR_SHARES,
    ChamberSimulationParams,
    _effect_table,
    simulate_companies,
)
from models.site_potential.sectors import (
    PUBLISHED_SURVIVAL_3Y,
    PUBLISHED_SURVIVAL_5Y,
    SECTION_TO_SECTOR,
    SURVIVAL_SOURCES,
)
from models.timeutils import EPOCH, day_number

MAX_YEARS = 25
STOCK_YEARS = 20  # the pre-existing stock is created over the 20 years before `first_year`
CHUNK = 250_000  # rows whose n x MAX_YEARS hazards are held at once
SAMPLE = 200_000  # draws estimating the active share of the activities BPE does not cover (error < 0.1 %)

ISM_ARTISAN_FIRMS_2012 = 1_114_000
"""ISM, Tableau économique de l'artisanat 2015: artisan firms in 2012 (FIGURES.md §3)."""
ISM_SOURCE = "ISM, Tableau économique de l'artisanat 2015: 1 114 000 entreprises artisanales en 2012"
# INSEE Focus (Robin, Picard, September 2015), restaurant firms in 2012 (micro-entrepreneurs excluded):
# traditional 58 %, fast food about 25 %, the rest bars (not in BPE's A504); fast food (56.10C, the only
# artisan code of A504) is 25 / 83 of the restaurants. Relayed at https://www.industrie-hoteliere.com/
# au-quotidien/2015-09-09-focus-insee-sur-la-restauration-commerciale-de-la-tradition-vers-la-rapidite/
FAST_FOOD_SHARE_OF_RESTAURANTS = 0.30


class SurvivalEffects(BaseModel):
    """Hazard effects; `sector_level` and `sector_late` are calibrated on INSEE's survival rates."""

    model_config = ConfigDict(extra="forbid")

    sector_level: dict[str, float] = {
        "Industrie": -2.1151,
        "Construction": -1.8374,
        "Commerce": -2.021,
        "Transports": -2.3813,
        "Hébergement et restauration": -1.7392,
        "Information et communication": -2.2368,
        "Services aux entreprises": -2.1303,
        "Autres activités de services": -1.5242,
    }
    sector_late: dict[str, float] = {
        "Industrie": -1.514,
        "Construction": -1.2611,
        "Commerce": -1.5843,
        "Transports": -1.0916,
        "Hébergement et restauration": -0.8197,
        "Information et communication": -0.7832,
        "Services aux entreprises": -0.2769,
        "Autres activités de services": -1.2134,
    }
    after_five_years: float = -0.4
    naf_sd: float = 0.35
    departement_sd: float = 0.2
    per_population_decade: float = 0.12
    per_year_since_2010: float = 0.0
    effects_seed: int = 2027


BPE_SURVIVAL_EFFECTS = SurvivalEffects(
    sector_level={
        "Industrie": -2.191,
        "Construction": -1.9447,
        "Commerce": -2.1365,
        "Transports": -2.4315,
        "Hébergement et restauration": -1.827,
        "Information et communication": -2.2667,
        "Services aux entreprises": -2.1778,
        "Autres activités de services": -1.6729,
    },
    sector_late={
        "Industrie": -1.5157,
        "Construction": -1.2513,
        "Commerce": -1.5927,
        "Transports": -1.0921,
        "Hébergement et restauration": -0.8221,
        "Information et communication": -0.7853,
        "Services aux entreprises": -0.2779,
        "Autres activités de services": -1.2221,
    },
)
"""The effects of placement 'bpe' (its default): `calibrate_survival_effects` on INSEE's rates over the
creations BPE placement gives with the shipped BPE 2013 counts. BPE puts more establishments in large
communes (lower survival) and more creations where survival is low, so the population-placement levels
would leave 1 to 5 points too few survivors. Recalibrate when the BPE counts change."""


class SireneSimulationParams(BaseModel):
    """Size, calendar and seed of a simulated SIRENE extract.

    `placement="population"` (default): `creations_per_year` sets the size, communes follow population.
    `placement="bpe"`: INSEE BPE counts (passed to `simulate_sirene`) set the size and the places, at `scale`
    times the real magnitude; `creations_per_year` is then not used."""

    model_config = ConfigDict(extra="forbid")

    creations_per_year: int = Field(default=20_000, gt=0, description="placement 'population' only")
    placement: Literal["population", "bpe"] = Field(
        default="population",
        description="population: communes by population; bpe: counts per activity and commune follow BPE",
    )
    scale: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="placement 'bpe': share of the real magnitude (1.0 = France, ~1.1 million active)",
    )
    artisan_total: int = Field(
        default=ISM_ARTISAN_FIRMS_2012,
        gt=0,
        description="placement 'bpe': artisan establishments active at the extract date, at scale 1",
    )
    bpe_artisan_share: dict[str, float] = Field(
        default={"A504": FAST_FOOD_SHARE_OF_RESTAURANTS},
        description="placement 'bpe': share of a BPE type's equipments that are artisan (default 1)",
    )
    first_year: int = 2005
    last_year: int = 2024
    stock_share: float = Field(default=2.0, ge=0, description="Pre-existing stock, in years of creations")
    extract_date: date = Field(default=date(2025, 1, 1), description="Date of the SIRENE files")
    former_code_share: float = Field(default=0.01, ge=0, le=1)
    seed: int = 42
    effects: SurvivalEffects = Field(
        default=SurvivalEffects(), description="Default: calibrated for the placement (BPE_SURVIVAL_EFFECTS)"
    )

    @model_validator(mode="after")
    def _effects_of_the_placement(self) -> SireneSimulationParams:
        if self.placement == "bpe" and "effects" not in self.model_fields_set:
            self.effects = BPE_SURVIVAL_EFFECTS.model_copy(deep=True)
        return self


@dataclass(frozen=True)
class SimulatedSirene:
    """SYNTHETIC. The two SIRENE files and the oracle of every establishment."""

    stock: pd.DataFrame  # StockEtablissement columns
    history: pd.DataFrame  # StockEtablissementHistorique columns
    oracle: pd.DataFrame  # siret, oracle_survival_3y, oracle_survival_5y


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def survival_logit_offset(
    naf_code: pd.Series,
    commune_code: pd.Series,
    creation_year: np.ndarray,
    reference: Reference,
    effects: SurvivalEffects,
) -> np.ndarray:
    """x: the part of the hazard logit shared by every year (NAF, département, commune size, year)."""
    naf_eff = _effect_table(sorted(reference.naf["naf_code"]), effects.naf_sd, effects.effects_seed, 1)
    deps = sorted(reference.communes["departement_code"].unique())
    dep_eff = _effect_table(deps, effects.departement_sd, effects.effects_seed, 2)
    communes = reference.communes.set_index("commune_code")
    dep = communes["departement_code"].reindex(commune_code).to_numpy()
    pop = communes["population"].reindex(commune_code).to_numpy(dtype=float)
    return (
        naf_code.map(naf_eff).fillna(0.0).to_numpy(dtype=float)
        + pd.Series(dep).map(dep_eff).fillna(0.0).to_numpy(dtype=float)
        + effects.per_population_decade * (np.log10(np.maximum(np.nan_to_num(pop, nan=1.0), 1.0)) - 3.5)
        + effects.per_year_since_2010 * (creation_year - 2010)
    )


def sector_of(naf_code: pd.Series, reference: Reference) -> pd.Series:
    """INSEE survival sector of each NAF sub-class."""
    section = naf_code.map(reference.naf.set_index("naf_code")["section"])
    return section.map(SECTION_TO_SECTOR).fillna("Autres activités de services")


def yearly_hazards(sector: pd.Series, offset: np.ndarray, effects: SurvivalEffects) -> np.ndarray:
    """Closure hazard of each establishment for years 1..MAX_YEARS after creation (n x MAX_YEARS)."""
    level = sector.map(effects.sector_level).to_numpy(dtype=float)
    late = sector.map(effects.sector_late).to_numpy(dtype=float)
    k = np.arange(1, MAX_YEARS + 1)[None, :]
    logit = level[:, None] + offset[:, None] + np.where(k > 3, late[:, None], 0.0)
    logit = logit + np.where(k > 5, effects.after_five_years, 0.0)
    return _sigmoid(logit)


def simulate_sirene(
    reference: Reference,
    params: SireneSimulationParams,
    competition: pd.DataFrame | None = None,
    bpe_types: pd.DataFrame | None = None,
) -> SimulatedSirene:
    """SYNTHETIC. Creations, closures and the survival oracle, in SIRENE's official columns.

    `placement="population"`: `creations_per_year` creations a year placed by population (`competition` and
    `bpe_types` must be None). `placement="bpe"`: `competition` (INSEE BPE counts, `year, commune_code,
    typequ, count`) and `bpe_types` (`naf_code, typequ`) are required; the expected active establishments
    at the extract date follow `bpe_placement_targets` per BPE-covered NAF code and commune, and the other
    artisan activities, placed by population, bring all of them to `artisan_total` (both times `scale`).
    The number of creations of each (NAF code, commune) is its expected active count divided by
    `expected_active_share`, the probability that one of its creations is still active at the extract
    date under the very hazards that close it, so survival stays calibrated and the oracle exact."""
    rng = np.random.default_rng([params.seed, 20])
    years = np.arange(params.first_year, params.last_year + 1)
    if params.placement == "bpe":
        if competition is None or bpe_types is None:
            raise ValueError("placement 'bpe' needs the BPE counts (competition) and the NAF -> BPE types")
        firms, n_new = _bpe_firms(reference, params, competition, bpe_types)
        n_stock = len(firms) - n_new
    else:
        if competition is not None or bpe_types is not None:
            raise ValueError("BPE counts given but placement is 'population': set placement to 'bpe'")
        n_new = params.creations_per_year * len(years)
        n_stock = int(params.creations_per_year * params.stock_share)
        firms = simulate_companies(
            reference, ChamberSimulationParams(n_companies=n_new + n_stock, seed=params.seed)
        )
    n = n_new + n_stock
    creation_year = np.concatenate(
        [
            rng.choice(years, size=n_new),
            rng.integers(params.first_year - STOCK_YEARS, params.first_year, size=n_stock),
        ]
    )
    jan1_of = {int(y): day_number(date(int(y), 1, 1)) for y in np.unique(creation_year)}
    jan1 = pd.Series(creation_year).map(jan1_of).to_numpy(dtype=np.int64)
    creation = jan1 + (rng.random(n) * 365).astype(np.int64)
    sector = sector_of(firms["naf_code"], reference)
    offset = survival_logit_offset(
        firms["naf_code"], firms["commune_code"], creation_year, reference, params.effects
    )
    survival_3y, survival_5y, first = _closures(sector, offset, params.effects, rng)
    closure_offset = np.where(first >= 0, (first + rng.random(n)) * 365.25, np.nan)
    closure = np.where(first >= 0, creation + np.nan_to_num(closure_offset).astype(np.int64), -1)
    extract = day_number(params.extract_date)
    keep = creation < extract
    closed = (closure >= 0) & (closure < extract)

    commune = firms["commune_code"].to_numpy().copy()
    former = _former_codes(reference)
    if former and params.former_code_share > 0:
        swap = (rng.random(n) < params.former_code_share) & pd.Series(commune).isin(former).to_numpy()
        commune[swap] = pd.Series(commune[swap]).map(former).to_numpy()
    origin = pd.Timestamp(EPOCH)
    iso = lambda days: pd.to_datetime(days, unit="D", origin=origin).strftime("%Y-%m-%d")  # noqa: E731
    siret = firms["siret"].to_numpy()
    stock = pd.DataFrame(
        {
            "siren": pd.Series(siret).str.slice(0, 9),
            "nic": pd.Series(siret).str.slice(9),
            "siret": siret,
            "dateCreationEtablissement": iso(creation),
            "trancheEffectifsEtablissement": firms["headcount_band"].to_numpy(),
            "activitePrincipaleEtablissement": firms["naf_code"].to_numpy(),
            "nomenclatureActivitePrincipaleEtablissement": "NAFRev2",
            "codeCommuneEtablissement": commune,
            "etatAdministratifEtablissement": np.where(closed, "F", "A"),
        }
    )[keep].reset_index(drop=True)
    active = pd.DataFrame(
        {
            "siret": siret,
            "dateFin": np.where(closed, iso(np.where(closed, closure - 1, 0)), ""),
            "dateDebut": iso(creation),
            "etatAdministratifEtablissement": "A",
            "activitePrincipaleEtablissement": firms["naf_code"].to_numpy(),
            "nomenclatureActivitePrincipaleEtablissement": "NAFRev2",
        }
    )[keep]
    ended = pd.DataFrame(
        {
            "siret": siret,
            "dateFin": "",
            "dateDebut": iso(np.where(closed, closure, 0)),
            "etatAdministratifEtablissement": "F",
            "activitePrincipaleEtablissement": firms["naf_code"].to_numpy(),
            "nomenclatureActivitePrincipaleEtablissement": "NAFRev2",
        }
    )[keep & closed]
    history = (
        pd.concat([active, ended]).sort_values(["siret", "dateDebut"], kind="stable").reset_index(drop=True)
    )
    oracle = pd.DataFrame(
        {"siret": siret, "oracle_survival_3y": survival_3y, "oracle_survival_5y": survival_5y}
    )[keep].reset_index(drop=True)
    return SimulatedSirene(stock=stock, history=history, oracle=oracle)


def _closures(
    sector: pd.Series, offset: np.ndarray, effects: SurvivalEffects, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(S3, S5, index of the closure year or -1) of each establishment, `CHUNK` rows at a time (the draws
    are those of one n x MAX_YEARS block: a Generator fills consecutive blocks from the same stream)."""
    n = len(offset)
    survival_3y, survival_5y = np.empty(n), np.empty(n)
    first = np.empty(n, dtype=np.int64)
    for start in range(0, n, CHUNK):
        rows = slice(start, min(start + CHUNK, n))
        hazards = yearly_hazards(sector.iloc[rows], offset[rows], effects)
        survival = np.cumprod(1.0 - hazards, axis=1)
        survival_3y[rows], survival_5y[rows] = survival[:, 2], survival[:, 4]
        closes = rng.random(hazards.shape) < hazards
        first[rows] = np.where(closes.any(axis=1), closes.argmax(axis=1), -1)
    return survival_3y, survival_5y, first


def expected_active_share(
    naf_code: pd.Series, commune_code: pd.Series, reference: Reference, params: SireneSimulationParams
) -> np.ndarray:
    """Probability that an establishment the simulator creates with this NAF code in this (current) commune
    is active at `params.extract_date`: its creation year drawn as `simulate_sirene` draws it (uniform over
    `first_year`..`last_year`, or in the stock with weight `stock_share` years), its day uniform in the year,
    its closure from `yearly_hazards`. Exact up to the rounding of days: with S_m the survival to m years
    and age a = m + f, P(active | a) = S_m (1 - h_{m+1} f) (S_MAX_YEARS beyond), averaged in closed form
    over the ages of each creation year."""
    n = len(naf_code)
    effects = params.effects
    sector = sector_of(naf_code.reset_index(drop=True), reference)
    # x without its creation-year term (zero in 2010), added back per year below.
    base = survival_logit_offset(
        naf_code.reset_index(drop=True),
        commune_code.reset_index(drop=True),
        np.full(n, 2010),
        reference,
        effects,
    )
    new_years = list(range(params.first_year, params.last_year + 1))
    stock_years = list(range(params.first_year - STOCK_YEARS, params.first_year))
    per_creation = 1.0 / (len(new_years) + params.stock_share)
    weights = [(y, per_creation) for y in new_years] + [
        (y, per_creation * params.stock_share / STOCK_YEARS) for y in stock_years
    ]
    extract = day_number(params.extract_date)
    share = np.zeros(n)
    integrals: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for year, weight in weights:
        if weight == 0:
            continue
        shift = effects.per_year_since_2010 * (year - 2010)
        if shift not in integrals:
            hazards = yearly_hazards(sector, base + shift, effects)
            survival = np.concatenate([np.ones((n, 1)), np.cumprod(1.0 - hazards, axis=1)], axis=1)
            # G_m = integral of P(active | a) over [0, m] (each year: S_m (1 - h_{m+1} / 2)).
            area = np.concatenate(
                [np.zeros((n, 1)), np.cumsum(survival[:, :-1] * (1.0 - hazards / 2), axis=1)], axis=1
            )
            # Stored year-major so that one age reads contiguous rows.
            integrals[shift] = (hazards.T.copy(), survival.T.copy(), area.T.copy())
        hazards, survival, area = integrals[shift]
        jan1 = day_number(date(year, 1, 1))
        oldest, youngest = (extract - jan1) / 365.25, (extract - jan1 - 365) / 365.25
        share += (
            weight
            * (
                _active_integral(oldest, hazards, survival, area)
                - _active_integral(youngest, hazards, survival, area)
            )
            / (oldest - youngest)
        )
    return share


def _active_integral(age: float, hazards: np.ndarray, survival: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Integral over [0, age] of P(active | age) (nothing exists before its creation); arrays year-major."""
    if age <= 0:
        return np.zeros(hazards.shape[1])
    whole = int(np.floor(age))
    if whole >= MAX_YEARS:
        return area[MAX_YEARS] + survival[MAX_YEARS] * (age - MAX_YEARS)
    part = age - whole
    return area[whole] + survival[whole] * (part - hazards[whole] * part * part / 2)


def default_naf_mix(reference: Reference) -> pd.Series:
    """Share of each artisan NAF sub-class among `simulate_companies`' default draws (the sector's share
    times the code's popularity within its sector), indexed by NAF code."""
    naf = reference.artisan_naf()
    total = sum(SECTOR_SHARES.values())
    parts = []
    for name, share in SECTOR_SHARES.items():
        codes = naf.loc[naf["secteur_artisanat"] == name, "naf_code"].tolist()
        popularity = np.array([NAF_POPULARITY.get(c, 1.0) for c in codes])
        parts.append(pd.Series(share / total * popularity / popularity.sum(), index=codes))
    return pd.concat(parts).rename("share")


def bpe_placement_targets(
    reference: Reference, params: SireneSimulationParams, competition: pd.DataFrame, bpe_types: pd.DataFrame
) -> pd.DataFrame:
    """Expected active establishments at the extract date of each BPE-covered artisan NAF code and commune:
    `typequ, naf_code, commune_code, year, count, artisan_share, naf_share, expected_active`.

    A type's count in a commune (its latest BPE year) times its artisan share (`bpe_artisan_share`,
    default 1) and `scale` is split among the type's artisan NAF codes in the proportions of the default
    activity mix (`default_naf_mix`): the calibrated world keeps the mix of trades within a type and changes
    how many establishments there are and where. A type's non-artisan codes (56.10A-B restaurants, 10.71B
    bake-off points) are not simulated."""
    types = bpe_types[["naf_code", "typequ"]].drop_duplicates()
    several = types["naf_code"][types["naf_code"].duplicated()]
    if len(several):
        raise ValueError(f"NAF codes in several BPE types: {sorted(set(several))}")
    mix = default_naf_mix(reference)
    types = types.assign(weight=types["naf_code"].map(mix)).dropna(subset=["weight"])
    types = types.assign(naf_share=types["weight"] / types.groupby("typequ")["weight"].transform("sum"))
    counts = competition[
        competition["typequ"].isin(types["typequ"])
        & (competition["count"] > 0)
        & competition["commune_code"].isin(reference.communes["commune_code"])
    ]
    counts = counts[counts["year"] == counts.groupby("typequ")["year"].transform("max")]
    cells = counts[["typequ", "commune_code", "year", "count"]].merge(
        types[["typequ", "naf_code", "naf_share"]], on="typequ"
    )
    artisan_share = cells["typequ"].map(params.bpe_artisan_share).fillna(1.0)
    return cells.assign(
        artisan_share=artisan_share,
        expected_active=cells["count"] * artisan_share * cells["naf_share"] * params.scale,
    )[
        [
            "typequ",
            "naf_code",
            "commune_code",
            "year",
            "count",
            "artisan_share",
            "naf_share",
            "expected_active",
        ]
    ].reset_index(drop=True)


def bpe_creations(
    reference: Reference, params: SireneSimulationParams, competition: pd.DataFrame, bpe_types: pd.DataFrame
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Expected creations of a BPE-placed simulation: (covered cells: `bpe_placement_targets` with
    `creations`; the other activities' creations by NAF code; a population-placed sample of those, rows
    `naf_code, commune_code, creations` summing to them).

    A cell's creations are its expected active count over `expected_active_share`. The activities BPE does
    not cover keep the default mix (renormalized) and population placement; their number brings the
    expected active artisan establishments to `artisan_total` (times `scale`), their active share being
    estimated on `SAMPLE` draws of (NAF code, commune)."""
    cells = bpe_placement_targets(reference, params, competition, bpe_types)
    other_active = params.artisan_total * params.scale - float(cells["expected_active"].sum())
    if other_active < 0:
        raise ValueError(
            f"artisan_total ({params.artisan_total:,}) is below the artisan establishments of the BPE types "
            f"({cells['expected_active'].sum() / params.scale:,.0f})"
        )
    cells = cells.assign(
        creations=cells["expected_active"]
        / expected_active_share(cells["naf_code"], cells["commune_code"], reference, params)
    )
    mix = default_naf_mix(reference)
    other = mix[~mix.index.isin(cells["naf_code"].unique())]
    other = other / other.sum()
    sample_rng = np.random.default_rng([params.seed, 22])
    communes = reference.populated_communes()
    population = communes["population"].to_numpy(dtype=float)
    sample = pd.DataFrame(
        {
            "naf_code": other.index.to_numpy()[
                sample_rng.choice(len(other), size=SAMPLE, p=other.to_numpy())
            ],
            "commune_code": communes["commune_code"].to_numpy()[
                sample_rng.choice(len(communes), size=SAMPLE, p=population / population.sum())
            ],
        }
    )
    other_share = float(
        expected_active_share(sample["naf_code"], sample["commune_code"], reference, params).mean()
    )
    other_creations = other * (other_active / other_share)
    sample = sample.assign(creations=float(other_creations.sum()) / SAMPLE)
    return cells, other_creations, sample


def _bpe_firms(
    reference: Reference, params: SireneSimulationParams, competition: pd.DataFrame, bpe_types: pd.DataFrame
) -> tuple[pd.DataFrame, int]:
    """The companies of a BPE-placed simulation and how many of them are new creations (the rest: stock)."""
    cells, other_creations, _ = bpe_creations(reference, params, competition, bpe_types)
    creations = pd.concat([cells.groupby("naf_code")["creations"].sum(), other_creations])
    n = round(float(creations.sum()))
    firms = simulate_companies(
        reference, ChamberSimulationParams(n_companies=n, seed=params.seed), naf_weights=creations.to_dict()
    )
    place_rng = np.random.default_rng([params.seed, 23])
    commune = firms["commune_code"].to_numpy().copy()
    rows_of = pd.Series(np.arange(n)).groupby(firms["naf_code"].to_numpy()).indices
    for code, group in cells.groupby("naf_code"):
        rows = rows_of.get(code)
        if rows is None:
            continue
        weights = group["creations"].to_numpy()
        commune[rows] = group["commune_code"].to_numpy()[
            place_rng.choice(len(group), size=len(rows), p=weights / weights.sum())
        ]
    n_years = params.last_year - params.first_year + 1
    n_new = round(n * n_years / (n_years + params.stock_share))
    return firms.assign(commune_code=commune), n_new


def _former_codes(reference: Reference) -> dict[str, str]:
    """One former code per current commune that has some (current -> former)."""
    inverse: dict[str, str] = {}
    for former, current in sorted(reference.former_communes.items()):
        inverse.setdefault(current, former)
    return inverse


def expected_survival_by_sector(
    reference: Reference,
    params: SireneSimulationParams,
    sample: int = 200_000,
    competition: pd.DataFrame | None = None,
    bpe_types: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Mean oracle S3 and S5 by sector over a sample of creations (no sampling noise in the closures); with
    `placement="bpe"`, over the expected creations of `bpe_creations` (created `first_year`..`last_year`)."""
    if params.placement == "bpe":
        if competition is None or bpe_types is None:
            raise ValueError("placement 'bpe' needs the BPE counts (competition) and the NAF -> BPE types")
        return _expected_survival_bpe(reference, params, competition, bpe_types)
    firms = simulate_companies(reference, ChamberSimulationParams(n_companies=sample, seed=params.seed))
    rng = np.random.default_rng([params.seed, 21])
    year = rng.integers(params.first_year, params.last_year + 1, size=sample)
    sector = sector_of(firms["naf_code"], reference)
    offset = survival_logit_offset(firms["naf_code"], firms["commune_code"], year, reference, params.effects)
    survival = np.cumprod(1.0 - yearly_hazards(sector, offset, params.effects), axis=1)
    frame = pd.DataFrame({"sector": sector, "s3": survival[:, 2], "s5": survival[:, 4]})
    return frame.groupby("sector").agg(s3=("s3", "mean"), s5=("s5", "mean"), n=("s3", "size"))


def _expected_survival_bpe(
    reference: Reference, params: SireneSimulationParams, competition: pd.DataFrame, bpe_types: pd.DataFrame
) -> pd.DataFrame:
    """`expected_survival_by_sector` of a BPE-placed simulation: creations weighted as `bpe_creations`."""
    cells, _, others = bpe_creations(reference, params, competition, bpe_types)
    rows = pd.concat([cells[["naf_code", "commune_code", "creations"]], others], ignore_index=True)
    sector = sector_of(rows["naf_code"], reference)
    s3, s5 = np.zeros(len(rows)), np.zeros(len(rows))
    # Cohort years only move x by per_year_since_2010 (0 by default: one year stands for all).
    years = range(params.first_year, params.last_year + 1) if params.effects.per_year_since_2010 else [2010]
    for cohort in years:
        offset = survival_logit_offset(
            rows["naf_code"], rows["commune_code"], np.full(len(rows), cohort), reference, params.effects
        )
        survival = np.cumprod(1.0 - yearly_hazards(sector, offset, params.effects), axis=1)
        s3 += survival[:, 2] / len(years)
        s5 += survival[:, 4] / len(years)
    frame = pd.DataFrame({"sector": sector, "w": rows["creations"], "s3": s3 * rows["creations"]})
    frame["s5"] = s5 * rows["creations"]
    table = frame.groupby("sector")[["w", "s3", "s5"]].sum()
    return pd.DataFrame(
        {
            "s3": table["s3"] / table["w"],
            "s5": table["s5"] / table["w"],
            "n": table["w"].round().astype(int),
        }
    )


def calibrate_survival_effects(
    reference: Reference,
    params: SireneSimulationParams,
    iterations: int = 8,
    competition: pd.DataFrame | None = None,
    bpe_types: pd.DataFrame | None = None,
) -> SireneSimulationParams:
    """Move each sector's level (3-year target) and late effect (5-year target) by the logit gaps (with
    `placement="bpe"`, over the creations BPE placement gives: pass its inputs)."""
    current = params
    for _ in range(iterations):
        table = expected_survival_by_sector(reference, current, competition=competition, bpe_types=bpe_types)
        eff = current.effects.model_copy(deep=True)
        for sector, row in table.iterrows():
            name = str(sector)
            if name not in PUBLISHED_SURVIVAL_3Y:
                continue
            # Hazards move opposite to survival; 3-year survival fixes the level, 5-year the later hazard.
            gap3 = np.log(row["s3"] / (1 - row["s3"])) - np.log(
                PUBLISHED_SURVIVAL_3Y[name] / (1 - PUBLISHED_SURVIVAL_3Y[name])
            )
            eff.sector_level[name] = round(eff.sector_level[name] + 0.6 * float(gap3), 4)
            gap5 = np.log(row["s5"] / (1 - row["s5"])) - np.log(
                PUBLISHED_SURVIVAL_5Y[name] / (1 - PUBLISHED_SURVIVAL_5Y[name])
            )
            eff.sector_late[name] = round(eff.sector_late[name] + 1.2 * float(gap5 - gap3), 4)
        current = current.model_copy(update={"effects": eff})
    return current


def survival_calibration_report(
    sim: SimulatedSirene, reference: Reference, first_year: int = 2005, last_year: int = 2016
) -> pd.DataFrame:
    """Simulated 3- and 5-year survival by INSEE sector (cohorts `first_year`..`last_year`, fully observed),
    next to INSEE's published rates."""
    stock = sim.stock
    creation = pd.to_datetime(stock["dateCreationEtablissement"])
    history = sim.history
    closed = history[history["etatAdministratifEtablissement"] == "F"].set_index("siret")["dateDebut"]
    closure = pd.to_datetime(stock["siret"].map(closed))
    sector = sector_of(stock["activitePrincipaleEtablissement"], reference)
    cohort = (creation.dt.year >= first_year) & (creation.dt.year <= last_year)
    rows = []
    for horizon, published in ((3, PUBLISHED_SURVIVAL_3Y), (5, PUBLISHED_SURVIVAL_5Y)):
        end = creation + pd.DateOffset(years=horizon)
        survived = (closure.isna() | (closure >= end))[cohort]
        rates = survived.groupby(sector[cohort]).agg(["mean", "size"])
        for name, row in rates.iterrows():
            rows.append(
                {
                    "figure": f"survival at {horizon} years, {name}",
                    "source": SURVIVAL_SOURCES[horizon],
                    "published": published[str(name)],
                    "simulated": float(row["mean"]),
                    "n": int(row["size"]),
                }
            )
    report = pd.DataFrame(rows)
    report["gap_points"] = (report["simulated"] - report["published"]) * 100
    return report


REPORT_COMMUNES: tuple[tuple[str, str], ...] = (
    ("33063", "Bordeaux"),
    ("69384", "Lyon 4e"),
    ("15138", "Murat"),
)
"""Communes of the published-vs-simulated table: a regional capital, a city arrondissement, a rural commune
(Cantal, 1,770 inhabitants)."""


def count_calibration_report(
    sim: SimulatedSirene,
    reference: Reference,
    params: SireneSimulationParams,
    competition: pd.DataFrame,
    bpe_types: pd.DataFrame,
    communes: tuple[tuple[str, str], ...] = REPORT_COMMUNES,
) -> pd.DataFrame:
    """Published counts next to the simulated establishments active at the extract date: each BPE type in
    France, hairdressers (A501) and all BPE types in a few communes, the artisan establishments outside the
    BPE types and all of them (ISM). `expected` is the published count times the type's artisan share and
    `scale` (what a BPE-placed simulation aims at); `gap_pct` compares the simulation with it."""
    targets = bpe_placement_targets(reference, params, competition, bpe_types)
    year = int(targets["year"].max()) if len(targets) else 0
    labels = bpe_types.drop_duplicates("typequ").set_index("typequ")["bpe_label"]
    active = sim.stock[sim.stock["etatAdministratifEtablissement"] == "A"]
    frame = pd.DataFrame(
        {
            "typequ": active["activitePrincipaleEtablissement"]
            .map(bpe_types.drop_duplicates("naf_code").set_index("naf_code")["typequ"])
            .to_numpy(),
            "commune_code": reference.current_commune_codes(active["codeCommuneEtablissement"]).to_numpy(),
        }
    )
    published = targets.drop_duplicates(["typequ", "commune_code"])
    share = published.groupby("typequ")["artisan_share"].first()
    bpe_source = f"INSEE, BPE {year}"
    rows = []

    def add(figure: str, source: str, count: float, artisan: float, simulated: int) -> None:
        rows.append(
            {
                "figure": figure,
                "source": source,
                "published": float(count),
                "artisan_share": artisan,
                "expected": float(count) * artisan * params.scale,
                "simulated": simulated,
            }
        )

    national = published.groupby("typequ")["count"].sum()
    simulated_by_type = frame["typequ"].value_counts()
    for typequ in national.index:
        add(
            f"{typequ} {labels.get(typequ, '')}, France",
            bpe_source,
            float(national[typequ]),
            float(share[typequ]),
            int(simulated_by_type.get(typequ, 0)),
        )
    names = reference.communes.set_index("commune_code")["commune_name"]
    for code, name in communes:
        here = published[published["commune_code"] == code]
        in_commune = frame[frame["commune_code"] == code]
        place = f"{names.get(code, name)} ({code})"
        hair = here[here["typequ"] == "A501"]
        if len(hair):
            add(
                f"A501 {labels.get('A501', '')}, {place}",
                bpe_source,
                hair["count"].sum(),
                float(hair["artisan_share"].iloc[0]),
                int((in_commune["typequ"] == "A501").sum()),
            )
        if len(here):
            total = float(here["count"].sum())
            add(
                f"all BPE types, {place}",
                bpe_source,
                total,
                float((here["count"] * here["artisan_share"]).sum()) / total,
                int(in_commune["typequ"].notna().sum()),
            )
    bpe_artisan = float((national * share).sum())
    add(
        "artisan establishments outside the BPE types, France",
        f"{ISM_SOURCE}, less the artisan part of BPE {year}",
        params.artisan_total - bpe_artisan,
        1.0,
        int(frame["typequ"].isna().sum()),
    )
    add("artisan establishments, France", ISM_SOURCE, params.artisan_total, 1.0, len(frame))
    report = pd.DataFrame(rows)
    report["gap_pct"] = (report["simulated"] / report["expected"] - 1) * 100
    return report
