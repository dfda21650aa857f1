"""SYNTHETIC DATA. A chamber's register of artisan companies and its apprenticeship contracts.

Generative process (documented with its figures in `data_samples/apprenticeship_host/DATASHEET.md`):

1. Companies: artisan sector drawn from the U2P/ISM 2023 counts, NAF sub-class within the sector from
   popularity weights over the real décret 98-247 list, commune drawn in proportion to its population
   (COG 2026), headcount band by sector, legal category by headcount, head's qualification, company age.
2. Each year y, every company open on 1 January y starts at least one apprenticeship contract during y with
   probability p = sigmoid(logit), where the logit is a fixed function of what the chamber observes on
   1 January y: the company record and its contract history before that day (computed with
   `models.apprenticeship_host.history.history_features`, the very function the dataset builder uses).
   No unobserved trait enters p: p is the oracle, the best probability any model can give.
3. A hosting company starts 1 + Poisson(λ_band) contracts, dated by the apprenticeship calendar (peak in
   September); each prepares a diploma with its usual length and may break (rupture) at a time drawn from
   the published timing of breaks.

Deterministic from the seed. The first `history_years` years are a burn-in whose contracts form the
history the chamber holds; company-years (with their oracle) are reported for the following years.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from models.apprenticeship_host.history import history_features
from models.reference import Reference
from models.timeutils import EPOCH, NEVER, day_number

SECTOR_SHARES: dict[str, float] = {
    # U2P / ISM "entreprises de proximité" 2023: construction 576,120; alimentation 315,490;
    # fabrication & services artisanaux 739,590 (split 38/62 between fabrication and services).
    "bâtiment": 576_120,
    "alimentation": 315_490,
    "fabrication": 739_590 * 0.38,
    "service": 739_590 * 0.62,
}
NAF_POPULARITY: dict[str, float] = {
    "43.22A": 14,
    "43.21A": 14,
    "43.99C": 12,
    "43.32A": 10,
    "43.34Z": 10,
    "43.31Z": 6,
    "43.91B": 5,
    "43.12A": 4,
    "43.33Z": 4,
    "43.32B": 3,
    "43.39Z": 3,
    "43.29A": 3,
    "10.71C": 30,
    "10.13B": 8,
    "10.71D": 6,
    "56.10C": 10,
    "10.11Z": 4,
    "10.52Z": 2,
    "10.82Z": 2,
    "96.02A": 35,
    "96.02B": 15,
    "45.20A": 15,
    "49.32Z": 6,
    "81.21Z": 5,
    "47.76Z": 3,
    "95.23Z": 1,
    "16.23Z": 5,
    "25.62B": 5,
    "18.12Z": 3,
    "32.12Z": 2,
    "25.11Z": 3,
    "31.09B": 3,
    "33.12Z": 3,
}
HEADCOUNT_BY_SECTOR: dict[str, dict[str, float]] = {
    "bâtiment": {"NN": 0.47, "00": 0.13, "01": 0.18, "02": 0.11, "03": 0.06, "11": 0.04, "12": 0.01},
    "alimentation": {"NN": 0.27, "00": 0.12, "01": 0.22, "02": 0.19, "03": 0.11, "11": 0.07, "12": 0.02},
    "fabrication": {"NN": 0.52, "00": 0.14, "01": 0.15, "02": 0.09, "03": 0.05, "11": 0.04, "12": 0.01},
    "service": {"NN": 0.60, "00": 0.14, "01": 0.14, "02": 0.07, "03": 0.035, "11": 0.012, "12": 0.003},
}
LEGAL_BY_EMPLOYER: dict[bool, dict[str, float]] = {
    False: {"1000": 0.66, "5498": 0.10, "5720": 0.14, "5499": 0.05, "5710": 0.05},
    True: {"1000": 0.20, "5499": 0.33, "5498": 0.10, "5710": 0.22, "5720": 0.15},
}
QUALIFICATION_SHARES: dict[str, float] = {
    "aucune": 0.22,
    "cap_bep": 0.42,
    "bp_bac_pro": 0.20,
    "brevet_maitrise": 0.06,
    "superieur": 0.10,
}
DIPLOMA_SHARES: dict[str, float] = {
    "CAP": 0.50,
    "BP": 0.14,
    "BAC_PRO": 0.12,
    "MC": 0.07,
    "BTS": 0.10,
    "TITRE_PRO": 0.04,
    "BTM": 0.03,
}
DIPLOMA_MONTHS: dict[str, int] = {
    "CAP": 24,
    "BP": 24,
    "BAC_PRO": 36,
    "MC": 12,
    "BTS": 24,
    "TITRE_PRO": 12,
    "BTM": 24,
}
# Probability that a contract is broken before its planned end (DARES: 27.4 % for contracts started in
# 2020; CAP 29 %, higher education 18 % within 9 months).
RUPTURE_BY_DIPLOMA: dict[str, float] = {
    "CAP": 0.33,
    "BP": 0.24,
    "BAC_PRO": 0.30,
    "MC": 0.20,
    "BTS": 0.18,
    "TITRE_PRO": 0.22,
    "BTM": 0.20,
}
# Apprenticeship calendar: share of contract starts by month (peak at the September school start).
START_MONTH_SHARES: tuple[float, ...] = (
    0.03,
    0.02,
    0.02,
    0.02,
    0.03,
    0.04,
    0.07,
    0.09,
    0.36,
    0.19,
    0.07,
    0.06,
)
SMALL_BANDS: frozenset[str] = frozenset({"NN", "00", "01"})


class HostingEffects(BaseModel):
    """Logit effects of the hosting process: every term is a function of what the chamber observes."""

    model_config = ConfigDict(extra="forbid")

    size_intercepts: dict[str, float] = Field(
        default={
            "NN": -3.8966,
            "00": -3.8966,
            "01": -2.15,
            "02": -2.0373,
            "03": -1.6544,
            "11": -1.4455,
            "12": -1.4455,
        },
        description="Intercept by headcount band, calibrated on the ISM hosting shares by size",
    )
    sector: dict[str, float] = {"alimentation": 0.35, "bâtiment": 0.0, "fabrication": -0.2, "service": 0.05}
    naf_sd: float = 0.25
    departement_sd: float = 0.15
    effects_seed: int = Field(
        default=2026, description="Seed of the fixed per-activity and per-département effects (the world)"
    )
    qualification: dict[str, float] = {
        "aucune": -0.35,
        "cap_bep": 0.0,
        "bp_bac_pro": 0.2,
        "brevet_maitrise": 0.75,
        "superieur": 0.05,
    }
    sole_proprietor: float = -0.25
    young_company: float = -0.9
    starting_company: float = -0.3
    old_company: float = -0.3
    population_per_decade: float = 0.08
    hosted_last_12m: float = 1.3
    per_contract_3y: float = 0.35
    ever_hosted: float = 0.4
    active_small_firm: float = -0.7
    active_larger_firm: float = 0.15
    per_rupture_3y: float = -0.35
    extra_contracts: dict[str, float] = {
        "NN": 0.03,
        "00": 0.03,
        "01": 0.08,
        "02": 0.15,
        "03": 0.3,
        "11": 0.55,
        "12": 0.9,
    }


class ChamberSimulationParams(BaseModel):
    """Size, calendar and seed of a simulated chamber; defaults give a national-like artisan population."""

    model_config = ConfigDict(extra="forbid")

    n_companies: int = Field(default=50_000, gt=0)
    first_year: int = Field(default=2020, description="First observed cut-off year (1 January)")
    n_years: int = Field(default=5, gt=0, description="Number of observed cut-off years")
    history_years: int = Field(default=3, ge=1, description="Burn-in years of contracts before first_year")
    seed: int = 42
    effects: HostingEffects = HostingEffects()


@dataclass(frozen=True)
class SimulatedChamber:
    """SYNTHETIC. Companies, contracts and the oracle of every observed company-year."""

    companies: pd.DataFrame
    contracts: pd.DataFrame
    company_years: pd.DataFrame  # siret, cutoff_date, oracle_probability, hosted


def _choice(rng: np.random.Generator, options: dict[str, float], size: int) -> np.ndarray:
    keys = np.array(list(options), dtype=object)
    weights = np.array(list(options.values()), dtype=float)
    return keys[rng.choice(len(keys), size=size, p=weights / weights.sum())]


def _luhn_check_digit(body: np.ndarray) -> np.ndarray:
    """Check digit making `body` (n x k digit matrix) + digit Luhn-valid."""
    rev = body[:, ::-1]
    doubled = rev[:, 0::2] * 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    total = doubled.sum(axis=1) + rev[:, 1::2].sum(axis=1)
    return (10 - total % 10) % 10


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers) % 10


def synthetic_sirets(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` distinct Luhn-valid SIRETs (SIREN and SIRET checksums), none in La Poste's 356000000 range."""
    base = rng.choice(np.arange(10_000_000, 99_999_999, dtype=np.int64), size=n, replace=False)
    base = np.where(base == 35_600_000, base + 1, base)
    siren_body = _digits(base, 8)
    siren = np.concatenate([siren_body, _luhn_check_digit(siren_body)[:, None]], axis=1)
    nic_body = np.concatenate([siren, _digits(np.full(n, 1, dtype=np.int64), 4)], axis=1)
    full = np.concatenate([nic_body, _luhn_check_digit(nic_body)[:, None]], axis=1)
    chars = (full + 48).astype(np.uint8)
    return chars.view("S14").ravel().astype(str)


def _effect_table(keys: list[str], sd: float, seed: int, stream: int) -> dict[str, float]:
    draws = np.random.default_rng([seed, stream]).normal(0.0, sd, size=len(keys))
    return dict(zip(sorted(keys), draws.tolist(), strict=True))


def naf_effects(reference: Reference, params: ChamberSimulationParams) -> dict[str, float]:
    """The fixed per-activity effect of the simulation (a function of the observable NAF code)."""
    return _effect_table(
        list(reference.artisan_naf()["naf_code"]), params.effects.naf_sd, params.effects.effects_seed, 1
    )


def departement_effects(reference: Reference, params: ChamberSimulationParams) -> dict[str, float]:
    """The fixed per-département effect of the simulation (a function of the observable commune)."""
    deps = sorted(reference.communes["departement_code"].unique())
    return _effect_table(deps, params.effects.departement_sd, params.effects.effects_seed, 2)


def simulate_companies(
    reference: Reference, params: ChamberSimulationParams, naf_weights: dict[str, float] | None = None
) -> pd.DataFrame:
    """SYNTHETIC companies in the `COMPANIES` contract, placed in real communes with real NAF codes.

    By default the activity mix is the artisan sector's (`SECTOR_SHARES`, `NAF_POPULARITY`); `naf_weights`
    replaces it (e.g. the trades a training centre teaches), headcount then following each code's sector.
    """
    rng = np.random.default_rng([params.seed, 0])
    n = params.n_companies
    naf_code = np.empty(n, dtype=object)
    band = np.empty(n, dtype=object)
    if naf_weights is None:
        naf = reference.artisan_naf()
        sector = _choice(rng, SECTOR_SHARES, n)
        for name in SECTOR_SHARES:
            rows = np.flatnonzero(sector == name)
            codes = naf.loc[naf["secteur_artisanat"] == name, "naf_code"].tolist()
            weights = {c: NAF_POPULARITY.get(c, 1.0) for c in codes}
            naf_code[rows] = _choice(rng, weights, len(rows))
            band[rows] = _choice(rng, HEADCOUNT_BY_SECTOR[name], len(rows))
    else:
        unknown = set(naf_weights) - reference.naf_codes
        if unknown:
            raise ValueError(f"unknown NAF codes in naf_weights: {sorted(unknown)}")
        naf_code[:] = _choice(rng, naf_weights, n)
        sector = pd.Series(naf_code).map(reference.naf.set_index("naf_code")["secteur_artisanat"]).to_numpy()
        for name in np.unique(sector):
            rows = np.flatnonzero(sector == name)
            shares = HEADCOUNT_BY_SECTOR.get(str(name), HEADCOUNT_BY_SECTOR["alimentation"])
            band[rows] = _choice(rng, shares, len(rows))
    communes = reference.populated_communes()
    pop = communes["population"].to_numpy(dtype=float)
    commune_code = communes["commune_code"].to_numpy()[rng.choice(len(communes), size=n, p=pop / pop.sum())]
    employer = ~np.isin(band, ["NN", "00"])
    legal = np.empty(n, dtype=object)
    for flag in (False, True):
        rows = np.flatnonzero(employer == flag)
        legal[rows] = _choice(rng, LEGAL_BY_EMPLOYER[flag], len(rows))
    qualification = _choice(rng, QUALIFICATION_SHARES, n)
    last_cutoff = date(params.first_year + params.n_years - 1, 1, 1)
    age_days = np.minimum(0.3 + rng.exponential(11.0, size=n), 50.0) * 365.25
    creation_day = day_number(last_cutoff) - age_days.astype(np.int64)
    creation = pd.to_datetime(creation_day, unit="D", origin=pd.Timestamp(EPOCH))
    return pd.DataFrame(
        {
            "siret": synthetic_sirets(rng, n),
            "naf_code": naf_code.astype(str),
            "commune_code": commune_code.astype(str),
            "creation_date": creation,
            "legal_category": legal.astype(str),
            "headcount_band": band.astype(str),
            "head_qualification": qualification.astype(str),
            "closure_date": pd.NaT,
        }
    )


def static_logit(
    companies: pd.DataFrame, reference: Reference, params: ChamberSimulationParams
) -> np.ndarray:
    """The part of the hosting logit that depends on the company record only (not on age or history)."""
    eff = params.effects
    commune = reference.communes.set_index("commune_code")
    dep = commune["departement_code"].reindex(companies["commune_code"]).to_numpy()
    pop = commune["population"].reindex(companies["commune_code"]).to_numpy(dtype=float)
    sector = reference.naf.set_index("naf_code")["secteur_artisanat"].reindex(companies["naf_code"])
    naf_eff = naf_effects(reference, params)
    dep_eff = departement_effects(reference, params)
    return (
        companies["headcount_band"].map(eff.size_intercepts).to_numpy(dtype=float)
        + sector.map(eff.sector).fillna(0.0).to_numpy(dtype=float)
        + companies["naf_code"].map(naf_eff).fillna(0.0).to_numpy(dtype=float)
        + pd.Series(dep).map(dep_eff).fillna(0.0).to_numpy(dtype=float)
        + companies["head_qualification"].map(eff.qualification).to_numpy(dtype=float)
        + np.where(companies["legal_category"].to_numpy() == "1000", eff.sole_proprietor, 0.0)
        + eff.population_per_decade * (np.log10(np.maximum(pop, 1.0)) - 3.5)
    )


def dynamic_logit(
    age_years: np.ndarray, small_firm: np.ndarray, hist: dict[str, np.ndarray], effects: HostingEffects
) -> np.ndarray:
    """The part of the hosting logit that depends on company age and on contract history at the cut-off."""
    age_term = np.select(
        [age_years < 2, age_years < 5, age_years > 25],
        [effects.young_company, effects.starting_company, effects.old_company],
        0.0,
    )
    active = hist["active_contracts"]
    active_term = np.where(
        small_firm,
        effects.active_small_firm * np.minimum(active, 2),
        effects.active_larger_firm * np.minimum(active, 3),
    )
    return (
        age_term
        + effects.hosted_last_12m * (hist["contracts_last_12m"] > 0)
        + effects.per_contract_3y * np.minimum(hist["contracts_last_3y"], 4)
        + effects.ever_hosted * (hist["contracts_total"] > 0)
        + active_term
        + effects.per_rupture_3y * np.minimum(hist["ruptures_last_3y"], 2)
    )


def _contract_starts(rng: np.random.Generator, year: int, size: int) -> np.ndarray:
    month = rng.choice(12, size=size, p=np.array(START_MONTH_SHARES) / sum(START_MONTH_SHARES)) + 1
    first = np.array(
        [day_number(date(year, m, 1)) for m in range(1, 13)] + [day_number(date(year + 1, 1, 1))]
    )
    length = first[month] - first[month - 1]
    return first[month - 1] + (rng.random(size) * length).astype(np.int64)


def _add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    as_month = days.astype("datetime64[D]").astype("datetime64[M]")
    within = days - as_month.astype("datetime64[D]").astype(np.int64)
    shifted = (as_month + months.astype("timedelta64[M]")).astype("datetime64[D]").astype(np.int64)
    return shifted + within


def _ruptures(
    rng: np.random.Generator, diploma: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    n = len(start)
    prob = pd.Series(diploma).map(RUPTURE_BY_DIPLOMA).to_numpy(dtype=float)
    broken = rng.random(n) < prob
    # Timing (OPCO Atlas): ~30 % in the first 3 months, ~40 % between months 6 and 12, the rest later.
    phase = rng.choice(3, size=n, p=[0.30, 0.37, 0.33])
    length = (end - start).astype(float)
    offset = np.select(
        [phase == 0, phase == 1],
        [rng.random(n) * 91, 182 + rng.random(n) * 183],
        365 + rng.random(n) * np.maximum(length - 365, 1),
    )
    offset = np.minimum(offset, length - 1)
    return np.where(broken, start + offset.astype(np.int64), NEVER)


def simulate_chamber(
    reference: Reference,
    params: ChamberSimulationParams,
    on_year: Callable[[int], None] | None = None,
) -> SimulatedChamber:
    """SYNTHETIC. Simulate companies, `history_years + n_years` years of contracts, and the oracle.

    `on_year(year)` is called after each simulated year (for progress bars).
    """
    companies = simulate_companies(reference, params)
    rng = np.random.default_rng([params.seed, 3])
    eff = params.effects
    n = len(companies)
    base = static_logit(companies, reference, params)
    small = companies["headcount_band"].isin(list(SMALL_BANDS)).to_numpy()
    extra_rate = companies["headcount_band"].map(eff.extra_contracts).to_numpy(dtype=float)
    creation = companies["creation_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    diplomas = np.array(list(DIPLOMA_SHARES), dtype=object)
    months_of = pd.Series(DIPLOMA_MONTHS)

    idx_parts: list[np.ndarray] = []
    start_parts: list[np.ndarray] = []
    end_parts: list[np.ndarray] = []
    rupture_parts: list[np.ndarray] = []
    diploma_parts: list[np.ndarray] = []
    years: list[pd.DataFrame] = []
    first = params.first_year - params.history_years
    for year in range(first, params.first_year + params.n_years):
        cutoff = date(year, 1, 1)
        cut = day_number(cutoff)
        empty = np.empty(0, dtype=np.int64)
        hist = history_features(
            np.concatenate(idx_parts) if idx_parts else empty,
            np.concatenate(start_parts) if start_parts else empty,
            np.concatenate(end_parts) if end_parts else empty,
            np.concatenate(rupture_parts) if rupture_parts else empty,
            n,
            cutoff,
        )
        exists = creation < cut
        logit = base + dynamic_logit((cut - creation) / 365.25, small, hist, eff)
        prob = np.where(exists, 1.0 / (1.0 + np.exp(-logit)), 0.0)
        hosted = rng.random(n) < prob
        if year >= params.first_year:
            rows = np.flatnonzero(exists)
            years.append(
                pd.DataFrame(
                    {
                        "company_row": rows,
                        "cutoff_date": pd.Timestamp(cutoff),
                        "oracle_probability": prob[rows],
                        "hosted": hosted[rows].astype(np.int8),
                    }
                )
            )
        hosts = np.flatnonzero(hosted)
        count = 1 + rng.poisson(extra_rate[hosts])
        employer = np.repeat(hosts, count)
        start = _contract_starts(rng, year, len(employer))
        diploma = diplomas[rng.choice(len(diplomas), size=len(employer), p=list(DIPLOMA_SHARES.values()))]
        months = months_of.reindex(diploma).to_numpy(dtype=np.int64)
        end = _add_months(start, months) - 1
        idx_parts.append(employer)
        start_parts.append(start)
        end_parts.append(end)
        rupture_parts.append(_ruptures(rng, diploma, start, end))
        diploma_parts.append(diploma)
        if on_year is not None:
            on_year(year)

    employer_idx = np.concatenate(idx_parts)
    origin = pd.Timestamp(EPOCH)
    rupture = np.concatenate(rupture_parts)
    rupture_ts = pd.to_datetime(np.where(rupture == NEVER, 0, rupture), unit="D", origin=origin)
    sirets = companies["siret"].to_numpy()
    order = np.lexsort((employer_idx, np.concatenate(start_parts)))
    contracts = (
        pd.DataFrame(
            {
                "siret": sirets[employer_idx],
                "contract_start": pd.to_datetime(np.concatenate(start_parts), unit="D", origin=origin),
                "planned_end": pd.to_datetime(np.concatenate(end_parts), unit="D", origin=origin),
                "rupture_date": rupture_ts.where(rupture != NEVER),
                "diploma": np.concatenate(diploma_parts).astype(str),
            }
        )
        .iloc[order]
        .reset_index(drop=True)
    )
    width = max(7, math.ceil(math.log10(len(contracts) + 1)))
    contracts.insert(0, "contract_id", [f"SIM-{i:0{width}d}" for i in range(1, len(contracts) + 1)])
    company_years = pd.concat(years, ignore_index=True)
    company_years.insert(0, "siret", sirets[company_years.pop("company_row").to_numpy()])
    return SimulatedChamber(companies=companies, contracts=contracts, company_years=company_years)


def hosting_share_by_band(chamber: SimulatedChamber, first_year: int, n_years: int) -> pd.DataFrame:
    """Share of company-years with an apprentice under contract at some point of the year, by size class.

    This is the quantity the ISM barometer publishes ("share of artisan firms that train apprentices").
    """
    companies = chamber.companies
    position = pd.Index(companies["siret"]).get_indexer(chamber.contracts["siret"])
    start = chamber.contracts["contract_start"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    end_ts = chamber.contracts["rupture_date"].fillna(chamber.contracts["planned_end"])
    end = end_ts.to_numpy(dtype="datetime64[D]").astype(np.int64)
    creation = companies["creation_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    size_class = companies["headcount_band"].map(SIZE_CLASS).to_numpy()
    rows = []
    for year in range(first_year, first_year + n_years):
        lo, hi = day_number(date(year, 1, 1)), day_number(date(year + 1, 1, 1))
        running = (start < hi) & (end >= lo)
        has = np.bincount(position[running], minlength=len(companies)) > 0
        exists = creation < lo
        rows.append(pd.DataFrame({"size_class": size_class[exists], "training": has[exists]}))
    frame = pd.concat(rows, ignore_index=True)
    return frame.groupby("size_class", sort=False)["training"].mean().rename("simulated_share").reset_index()


SIZE_CLASS: dict[str, str] = {
    "NN": "0 salarié",
    "00": "0 salarié",
    "01": "1-2 salariés",
    "02": "3-5 salariés",
    "03": "6-9 salariés",
    "11": "10 salariés ou plus",
    "12": "10 salariés ou plus",
}
# ISM barometer 2016 (relay: ouillade.eu): share of artisan firms training apprentices, by size.
PUBLISHED_HOSTING_SHARE: dict[str, float] = {
    "0 salarié": 0.04,
    "1-2 salariés": 0.25,
    "3-5 salariés": 0.31,
    "6-9 salariés": 0.42,
    "10 salariés ou plus": 0.49,
}
SIZE_CLASS_BANDS: dict[str, tuple[str, ...]] = {
    "0 salarié": ("NN", "00"),
    "1-2 salariés": ("01",),
    "3-5 salariés": ("02",),
    "6-9 salariés": ("03",),
    "10 salariés ou plus": ("11", "12"),
}


def calibrate_size_intercepts(
    reference: Reference, params: ChamberSimulationParams, iterations: int = 6
) -> ChamberSimulationParams:
    """Adjust the size intercepts until simulated hosting shares match the ISM figures by size.

    Each round simulates, measures the share per size class and moves that class's intercepts by the
    logit gap (damped). Used offline to set `HostingEffects.size_intercepts`.
    """
    current = params
    for _ in range(iterations):
        chamber = simulate_chamber(reference, current)
        table = hosting_share_by_band(chamber, current.first_year, current.n_years)
        shares = dict(zip(table["size_class"], table["simulated_share"].astype(float), strict=True))
        intercepts = dict(current.effects.size_intercepts)
        for size_class, target in PUBLISHED_HOSTING_SHARE.items():
            observed = min(max(shares[size_class], 1e-4), 1 - 1e-4)
            gap = math.log(target / (1 - target)) - math.log(observed / (1 - observed))
            for band in SIZE_CLASS_BANDS[size_class]:
                intercepts[band] = round(intercepts[band] + 0.9 * gap, 4)
        effects = current.effects.model_copy(update={"size_intercepts": intercepts})
        current = current.model_copy(update={"effects": effects})
    return current


# Published figures the simulator is calibrated on (table in data_samples/apprenticeship_host/DATASHEET.md).
PUBLISHED_SECTOR_SHARE: dict[str, float] = {
    "bâtiment": 576_120 / 1_631_200,
    "alimentation": 315_490 / 1_631_200,
    "fabrication et services": 739_590 / 1_631_200,
}
PUBLISHED_EMPLOYER_SHARE = 0.38  # ISM: share of employer firms among artisan firms, 2014
PUBLISHED_RUPTURE_BEFORE_TERM = 0.274  # DARES: contracts started in 2020 broken before their term
PUBLISHED_RUPTURE_FIRST_3_MONTHS = 0.30  # OPCO Atlas: share of ruptures in the first 3 months
PUBLISHED_RUPTURE_MONTHS_6_12 = 0.40  # OPCO Atlas: share of ruptures between months 6 and 12

FIGURE_SOURCES: dict[str, str] = {
    "hosting": "ISM barometer 2016 (share of artisan firms training apprentices, by size)",
    "sector": "U2P / ISM, entreprises de proximité 2023 (artisan firms by sector)",
    "employer": "ISM, share of employer firms among artisan firms (2014)",
    "rupture": "DARES via toutpourlemploi.fr: 27.4 % of contracts started in 2020 broken before term",
    "timing": "OPCO Atlas via Centre Inffo (2024): timing of ruptures",
}


def calibration_report(
    chamber: SimulatedChamber, reference: Reference, params: ChamberSimulationParams
) -> pd.DataFrame:
    """Every published figure the simulator is calibrated on, next to the simulated rate.

    Rupture figures are measured on contracts started before `first_year`, whose planned end is observed.
    """
    rows: list[dict[str, object]] = []
    shares = hosting_share_by_band(chamber, params.first_year, params.n_years)
    simulated_hosting = dict(zip(shares["size_class"], shares["simulated_share"], strict=True))
    for size_class, published in PUBLISHED_HOSTING_SHARE.items():
        rows.append(
            {
                "figure": f"firms training apprentices, {size_class}",
                "source": FIGURE_SOURCES["hosting"],
                "published": published,
                "simulated": float(simulated_hosting[size_class]),
            }
        )
    companies = chamber.companies
    sector = companies["naf_code"].map(reference.naf.set_index("naf_code")["secteur_artisanat"])
    grouped = sector.replace({"fabrication": "fabrication et services", "service": "fabrication et services"})
    simulated_sector = grouped.value_counts(normalize=True)
    for name, published in PUBLISHED_SECTOR_SHARE.items():
        rows.append(
            {
                "figure": f"artisan firms in {name}",
                "source": FIGURE_SOURCES["sector"],
                "published": published,
                "simulated": float(simulated_sector.get(name, 0.0)),
            }
        )
    employer = float((~companies["headcount_band"].isin(["NN", "00"])).mean())
    rows.append(
        {
            "figure": "employer firms among artisan firms",
            "source": FIGURE_SOURCES["employer"],
            "published": PUBLISHED_EMPLOYER_SHARE,
            "simulated": employer,
        }
    )
    contracts = chamber.contracts
    observed = contracts[contracts["contract_start"] < pd.Timestamp(params.first_year, 1, 1)]
    broken = observed["rupture_date"].notna()
    rows.append(
        {
            "figure": "contracts broken before planned end",
            "source": FIGURE_SOURCES["rupture"],
            "published": PUBLISHED_RUPTURE_BEFORE_TERM,
            "simulated": float(broken.mean()),
        }
    )
    months = (observed.loc[broken, "rupture_date"] - observed.loc[broken, "contract_start"]).dt.days / 30.4375
    rows.append(
        {
            "figure": "ruptures in the first 3 months",
            "source": FIGURE_SOURCES["timing"],
            "published": PUBLISHED_RUPTURE_FIRST_3_MONTHS,
            "simulated": float((months < 3).mean()),
        }
    )
    rows.append(
        {
            "figure": "ruptures between months 6 and 12",
            "source": FIGURE_SOURCES["timing"],
            "published": PUBLISHED_RUPTURE_MONTHS_6_12,
            "simulated": float(((months >= 6) & (months < 12)).mean()),
        }
    )
    report = pd.DataFrame(rows)
    report["gap_points"] = (report["simulated"] - report["published"]) * 100
    return report
