"""SYNTHETIC DATA. Establishment creations and closures in the official SIRENE file formats, with each
establishment's oracle: its true 3- and 5-year survival probabilities given what is known at creation.

Generative process (figures in `data_samples/site_potential/DATASHEET.md`):

1. Establishments are chamber companies from `simulate_companies` (real artisan NAF codes, communes drawn by
   population), created uniformly over `first_year`..`last_year`, plus a stock created in the 20 years
   before (for competition counts). A small share carries a former commune code, as old files do.
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

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from models.reference import Reference
from models.simulation.chamber import ChamberSimulationParams, _effect_table, simulate_companies
from models.site_potential.sectors import (
    PUBLISHED_SURVIVAL_3Y,
    PUBLISHED_SURVIVAL_5Y,
    SECTION_TO_SECTOR,
    SURVIVAL_SOURCES,
)
from models.timeutils import EPOCH, day_number

MAX_YEARS = 25


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


class SireneSimulationParams(BaseModel):
    """Size, calendar and seed of a simulated SIRENE extract."""

    model_config = ConfigDict(extra="forbid")

    creations_per_year: int = Field(default=20_000, gt=0)
    first_year: int = 2005
    last_year: int = 2024
    stock_share: float = Field(default=2.0, ge=0, description="Pre-existing stock, in years of creations")
    extract_date: date = Field(default=date(2025, 1, 1), description="Date of the SIRENE files")
    former_code_share: float = Field(default=0.01, ge=0, le=1)
    seed: int = 42
    effects: SurvivalEffects = SurvivalEffects()


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


def simulate_sirene(reference: Reference, params: SireneSimulationParams) -> SimulatedSirene:
    """SYNTHETIC. Creations, closures and the survival oracle, in SIRENE's official columns."""
    rng = np.random.default_rng([params.seed, 20])
    years = np.arange(params.first_year, params.last_year + 1)
    n_new = params.creations_per_year * len(years)
    n_stock = int(params.creations_per_year * params.stock_share)
    n = n_new + n_stock
    firms = simulate_companies(reference, ChamberSimulationParams(n_companies=n, seed=params.seed))
    creation_year = np.concatenate(
        [rng.choice(years, size=n_new), rng.integers(params.first_year - 20, params.first_year, size=n_stock)]
    )
    jan1 = np.array([day_number(date(int(y), 1, 1)) for y in creation_year])
    creation = jan1 + (rng.random(n) * 365).astype(np.int64)
    sector = sector_of(firms["naf_code"], reference)
    offset = survival_logit_offset(
        firms["naf_code"], firms["commune_code"], creation_year, reference, params.effects
    )
    hazards = yearly_hazards(sector, offset, params.effects)
    survival = np.cumprod(1.0 - hazards, axis=1)
    closes = rng.random((n, MAX_YEARS)) < hazards
    first = np.where(closes.any(axis=1), closes.argmax(axis=1), -1)
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
        {"siret": siret, "oracle_survival_3y": survival[:, 2], "oracle_survival_5y": survival[:, 4]}
    )[keep].reset_index(drop=True)
    return SimulatedSirene(stock=stock, history=history, oracle=oracle)


def _former_codes(reference: Reference) -> dict[str, str]:
    """One former code per current commune that has some (current -> former)."""
    inverse: dict[str, str] = {}
    for former, current in sorted(reference.former_communes.items()):
        inverse.setdefault(current, former)
    return inverse


def expected_survival_by_sector(
    reference: Reference, params: SireneSimulationParams, sample: int = 200_000
) -> pd.DataFrame:
    """Mean oracle S3 and S5 by sector over a sample of creations (no sampling noise in the closures)."""
    firms = simulate_companies(reference, ChamberSimulationParams(n_companies=sample, seed=params.seed))
    rng = np.random.default_rng([params.seed, 21])
    year = rng.integers(params.first_year, params.last_year + 1, size=sample)
    sector = sector_of(firms["naf_code"], reference)
    offset = survival_logit_offset(firms["naf_code"], firms["commune_code"], year, reference, params.effects)
    survival = np.cumprod(1.0 - yearly_hazards(sector, offset, params.effects), axis=1)
    frame = pd.DataFrame({"sector": sector, "s3": survival[:, 2], "s5": survival[:, 4]})
    return frame.groupby("sector").agg(s3=("s3", "mean"), s5=("s5", "mean"), n=("s3", "size"))


def calibrate_survival_effects(
    reference: Reference, params: SireneSimulationParams, iterations: int = 8
) -> SireneSimulationParams:
    """Move each sector's level (3-year target) and late effect (5-year target) by the logit gaps."""
    current = params
    for _ in range(iterations):
        table = expected_survival_by_sector(reference, current)
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
