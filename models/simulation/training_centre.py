"""SYNTHETIC DATA. A training centre's apprentices, contracts and first-weeks follow-up (dropout_risk).

Generative process (with its published figures in `data_samples/dropout_risk/DATASHEET.md`):

1. Employers are chamber companies from `simulate_companies` with the trades a CMA training centre teaches;
   each contract picks an employer (larger firms host more), starts on the apprenticeship calendar and
   prepares a diploma of the usual length. Its learner has an age (by diploma), a sex (by trade), a prior
   qualification (by age), a QPV flag and distances home-centre and home-employer.
2. A static risk logit `s` adds fixed effects of diploma, trade, employer size, age, sex, prior
   qualification, QPV, distances and the employer head's qualification.
3. Weekly follow-up for the first 12 weeks: absences, late arrivals, mentor changes and two assessments
   (weeks 3 and 8), each drawn from the record's own static risk plus noise (observed).
4. Before the prediction time (N weeks, default 6), a contract breaks in week w with hazard
   sigmoid(c_early + s). A contract still running at N breaks later with probability
   p = sigmoid(c_late + s + signal effects of the weeks before N): **p is the oracle**, exact because nothing
   unobserved enters it. Its rupture day follows `models.dropout_risk.timing` (so the 9-month oracle is
   p x P(day < 9 months), also exact). Follow-up after N rises in the 4 weeks before a rupture: it is
   future information a leaky feature would exploit.

Deterministic from the seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from models.dropout_risk.timing import draw_rupture_day, rupture_day_cdf
from models.reference import Reference
from models.simulation.chamber import (
    DIPLOMA_MONTHS,
    ChamberSimulationParams,
    _add_months,
    _choice,
    _contract_starts,
    simulate_companies,
)
from models.timeutils import EPOCH, NEVER
from models.vocabulary import activity_group, age_band

FOLLOW_UP_WEEKS = 12
ASSESSMENT_WEEKS: tuple[int, ...] = (3, 8)

# Trades taught by a CMA training centre and their share of contracts.
CFA_NAF_WEIGHTS: dict[str, float] = {
    "96.02A": 15,
    "96.02B": 6,
    "10.71C": 11,
    "10.71D": 3,
    "10.13B": 3,
    "47.22Z": 3,
    "56.10A": 7,
    "56.10C": 3,
    "55.10Z": 2,
    "43.22A": 6,
    "43.21A": 6,
    "43.99C": 4,
    "43.32A": 4,
    "43.34Z": 3,
    "45.20A": 10,
    "47.76Z": 3,
    "95.23Z": 1,
    "25.62B": 2,
    "16.23Z": 2,
    "47.73Z": 3,
}
CFA_DIPLOMA_SHARES: dict[str, float] = {
    "CAP": 0.45,
    "BP": 0.15,
    "BAC_PRO": 0.12,
    "MC": 0.06,
    "BTS": 0.15,
    "TITRE_PRO": 0.05,
    "BTM": 0.02,
}
AGE_BY_DIPLOMA: dict[str, dict[str, float]] = {
    "CAP": {"15-17": 0.60, "18-19": 0.25, "20-25": 0.12, "26+": 0.03},
    "MC": {"15-17": 0.45, "18-19": 0.35, "20-25": 0.17, "26+": 0.03},
    "BP": {"15-17": 0.20, "18-19": 0.42, "20-25": 0.33, "26+": 0.05},
    "BAC_PRO": {"15-17": 0.45, "18-19": 0.40, "20-25": 0.13, "26+": 0.02},
    "BTM": {"15-17": 0.15, "18-19": 0.45, "20-25": 0.35, "26+": 0.05},
    "TITRE_PRO": {"15-17": 0.05, "18-19": 0.25, "20-25": 0.45, "26+": 0.25},
    "BTS": {"15-17": 0.0, "18-19": 0.45, "20-25": 0.50, "26+": 0.05},
}
AGE_RANGES: dict[str, tuple[int, int]] = {
    "15-17": (15, 17),
    "18-19": (18, 19),
    "20-25": (20, 25),
    "26+": (26, 35),
}
FEMALE_SHARE: dict[str, float] = {
    "coiffure_beaute": 0.85,
    "hotellerie_restauration": 0.40,
    "alimentation": 0.35,
    "autre": 0.12,
}
PRIOR_BY_AGE: dict[str, dict[str, float]] = {
    "15-17": {"aucun": 0.15, "brevet": 0.70, "cap_bep": 0.10, "bac": 0.05, "superieur": 0.0},
    "18-19": {"aucun": 0.10, "brevet": 0.25, "cap_bep": 0.30, "bac": 0.33, "superieur": 0.02},
    "20-25": {"aucun": 0.08, "brevet": 0.10, "cap_bep": 0.27, "bac": 0.40, "superieur": 0.15},
    "26+": {"aucun": 0.10, "brevet": 0.05, "cap_bep": 0.30, "bac": 0.30, "superieur": 0.25},
}
INITIATOR_AFTER_PROBATION: dict[str, float] = {
    "apprenti": 0.45,
    "commun_accord": 0.35,
    "employeur": 0.15,
    "autre": 0.05,
}
SMALL_EMPLOYER_BANDS: frozenset[str] = frozenset({"NN", "00", "01", "02"})


class RuptureEffects(BaseModel):
    """Logit effects of the rupture process: every term is a function of what the centre observes."""

    model_config = ConfigDict(extra="forbid")

    # Intercepts and the effects of diploma, trade and employer size are set by `calibrate_rupture_effects`
    # (12 rounds on 100,000 contracts) to the published figures; the others are fixed assumptions.
    c_late: float = -2.7137
    c_early: float = -5.9824
    diploma: dict[str, float] = {
        "CAP": 0.0417,
        "MC": 0.0,
        "BP": -0.05,
        "BAC_PRO": -0.2595,
        "BTM": -0.2,
        "TITRE_PRO": 0.05,
        "BTS": -0.2836,
    }
    activity: dict[str, float] = {
        "coiffure_beaute": 0.4188,
        "hotellerie_restauration": 0.8308,
        "alimentation": 0.4848,
        "autre": 0.0,
    }
    small_employer: float = 0.417
    age: dict[str, float] = {"15-17": 0.3, "18-19": 0.1, "20-25": -0.1, "26+": -0.15}
    female: float = 0.15
    prior: dict[str, float] = {"aucun": 0.35, "brevet": 0.15, "cap_bep": 0.0, "bac": -0.1, "superieur": -0.2}
    qpv: float = 0.3
    per_log_km_employer: float = 0.10
    per_log_km_centre: float = 0.08
    master_craftsman: float = -0.2
    risk_reference: float = -1.6
    absences_per_week: float = 0.30
    late_per_week: float = 0.12
    mentor_change: float = 0.6
    per_assessment_point: float = -0.09
    assessment_pivot: float = 12.0


class TrainingCentreParams(BaseModel):
    """Size, calendar, prediction time and seed of a simulated training centre."""

    model_config = ConfigDict(extra="forbid")

    n_contracts: int = Field(default=100_000, gt=0)
    first_cohort: int = Field(default=2019, description="Year of the first contract starts")
    n_cohorts: int = Field(default=4, gt=0, description="Yearly cohorts of contract starts")
    prediction_weeks: int = Field(default=6, ge=1, le=FOLLOW_UP_WEEKS)
    employers_per_contract: float = Field(default=0.6, gt=0)
    seed: int = 42
    effects: RuptureEffects = RuptureEffects()


@dataclass(frozen=True)
class SimulatedTrainingCentre:
    """SYNTHETIC. Employers, learners, contracts, follow-up, and the oracle of each contract."""

    companies: pd.DataFrame
    learners: pd.DataFrame
    contracts: pd.DataFrame
    follow_up: pd.DataFrame
    oracle: pd.DataFrame  # contract_id, prediction_date, oracle_rupture, oracle_rupture_9m (running at N)


def static_rupture_logit(frame: pd.DataFrame, effects: RuptureEffects) -> np.ndarray:
    """The part of the rupture logit known at contract start (record of learner, contract and employer)."""
    age = frame["contract_start"].dt.year.to_numpy() - frame["birth_year"].to_numpy()
    return (
        frame["diploma"].map(effects.diploma).to_numpy(dtype=float)
        + activity_group(frame["naf_code"]).map(effects.activity).to_numpy(dtype=float)
        + np.where(frame["headcount_band"].isin(list(SMALL_EMPLOYER_BANDS)), effects.small_employer, 0.0)
        + pd.Series(age_band(age)).map(effects.age).to_numpy(dtype=float)
        + np.where(frame["sex"].to_numpy() == "F", effects.female, 0.0)
        + frame["prior_qualification"].map(effects.prior).to_numpy(dtype=float)
        + np.where(frame["qpv_resident"].astype(str).to_numpy() == "1", effects.qpv, 0.0)
        + effects.per_log_km_employer * np.log1p(frame["distance_home_employer_km"].to_numpy(dtype=float))
        + effects.per_log_km_centre * np.log1p(frame["distance_home_centre_km"].to_numpy(dtype=float))
        + np.where(frame["head_qualification"].to_numpy() == "brevet_maitrise", effects.master_craftsman, 0.0)
    )


def signal_logit(signals: pd.DataFrame, weeks: int, effects: RuptureEffects) -> np.ndarray:
    """The part of the rupture logit brought by the follow-up aggregated over the first `weeks` weeks."""
    assessment = signals["assessment_score_mean"].to_numpy(dtype=float)
    return (
        effects.absences_per_week * signals["absence_half_days"].to_numpy(dtype=float) / weeks
        + effects.late_per_week * signals["late_arrivals"].to_numpy(dtype=float) / weeks
        + effects.mentor_change * signals["mentor_changes"].to_numpy(dtype=float)
        + np.where(
            np.isnan(assessment), 0.0, effects.per_assessment_point * (assessment - effects.assessment_pivot)
        )
    )


def _nan_mean(values: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN; NaN where a row has no value."""
    count = (~np.isnan(values)).sum(axis=1)
    total = np.nansum(values, axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def draw_ages(rng: np.random.Generator, diploma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Age bands and ages at the contract start by diploma: a DARES age band drawn by the diploma's shares
    (`AGE_BY_DIPLOMA`), then a year uniformly within the band (`AGE_RANGES`)."""
    n = len(diploma)
    band = np.empty(n, dtype=object)
    for name, shares in AGE_BY_DIPLOMA.items():
        rows = np.flatnonzero(diploma == name)
        band[rows] = _choice(rng, {k: v for k, v in shares.items() if v > 0}, len(rows))
    low = pd.Series(band).map({k: v[0] for k, v in AGE_RANGES.items()}).to_numpy(dtype=np.int64)
    high = pd.Series(band).map({k: v[1] for k, v in AGE_RANGES.items()}).to_numpy(dtype=np.int64)
    return band, np.asarray(low + (rng.random(n) * (high - low + 1)).astype(np.int64))


Figures = dict[str, tuple[str, str, float, str]]


def rupture_figure_rows(
    groups: pd.DataFrame, calibrated: Figures, compared: Figures | None = None
) -> list[dict[str, object]]:
    """One report row per published 9-month rupture figure a simulator is calibrated on (and per figure it
    is only `compared` to): the group's simulated rate next to the published one. `groups` has the figures'
    group columns and `broken_9m`."""
    rows: list[dict[str, object]] = []
    figures = {**calibrated, **(compared or {})}
    for figure, (column, value, published, source) in figures.items():
        mask = (groups[column] == value).to_numpy()
        rows.append(
            {
                "figure": f"broken within 9 months, {figure}",
                "source": source,
                "published": published,
                "simulated": float(groups.loc[mask, "broken_9m"].mean()),
                "calibrated": figure in calibrated,
            }
        )
    return rows


def simulate_training_centre(
    reference: Reference,
    params: TrainingCentreParams,
    on_step: Callable[[str], None] | None = None,
) -> SimulatedTrainingCentre:
    """SYNTHETIC. Simulate a training centre's records and each contract's oracle at the prediction time."""
    rng = np.random.default_rng([params.seed, 10])
    eff = params.effects
    n = params.n_contracts
    n_employers = max(1, int(n * params.employers_per_contract))
    companies = simulate_companies(
        reference,
        ChamberSimulationParams(n_companies=n_employers, seed=params.seed),
        naf_weights=CFA_NAF_WEIGHTS,
    )
    size_weight = companies["headcount_band"].map({"NN": 1, "00": 1, "01": 2, "02": 3, "03": 4}).fillna(6)
    employer = rng.choice(n_employers, size=n, p=(size_weight / size_weight.sum()).to_numpy())
    cohort = np.sort(rng.integers(params.first_cohort, params.first_cohort + params.n_cohorts, size=n))
    start = np.concatenate(
        [_contract_starts(rng, int(year), int((cohort == year).sum())) for year in np.unique(cohort)]
    )
    diploma = _choice(rng, CFA_DIPLOMA_SHARES, n)
    months = pd.Series(diploma).map(DIPLOMA_MONTHS).to_numpy(dtype=np.int64)
    end = _add_months(start, months) - 1
    band, age = draw_ages(rng, diploma)
    start_year = start.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    naf_code = companies["naf_code"].to_numpy()[employer]
    group = activity_group(pd.Series(naf_code)).to_numpy()
    female = rng.random(n) < pd.Series(group).map(FEMALE_SHARE).to_numpy(dtype=float)
    prior = np.empty(n, dtype=object)
    for name, shares in PRIOR_BY_AGE.items():
        rows = np.flatnonzero(band == name)
        prior[rows] = _choice(rng, {k: v for k, v in shares.items() if v > 0}, len(rows))
    width = len(str(n))
    learner_id = np.array([f"APP-{i:0{width}d}" for i in range(1, n + 1)])
    learners = pd.DataFrame(
        {
            "learner_id": learner_id,
            "birth_year": start_year - age,
            "sex": np.where(female, "F", "M"),
            "prior_qualification": prior.astype(str),
            "qpv_resident": np.where(rng.random(n) < 0.12, "1", "0"),
            "distance_home_centre_km": np.round(np.exp(rng.normal(2.8, 0.7, n)), 1),
            "distance_home_employer_km": np.round(np.exp(rng.normal(2.2, 0.9, n)), 1),
        }
    )
    origin = pd.Timestamp(EPOCH)
    contracts = pd.DataFrame(
        {
            "contract_id": [f"CTR-{i:0{width}d}" for i in range(1, n + 1)],
            "learner_id": learner_id,
            "siret": companies["siret"].to_numpy()[employer],
            "naf_code": naf_code,
            "diploma": diploma.astype(str),
            "contract_start": pd.to_datetime(start, unit="D", origin=origin),
            "planned_end": pd.to_datetime(end, unit="D", origin=origin),
        }
    )
    if on_step is not None:
        on_step("records")

    joined = contracts.join(learners.drop(columns="learner_id")).join(
        companies[["headcount_band", "head_qualification"]].iloc[employer].reset_index(drop=True)
    )
    static = static_rupture_logit(joined, eff)
    risk = static - eff.risk_reference

    # Weekly follow-up, drawn for every contract and week, trimmed after a rupture below.
    weeks = FOLLOW_UP_WEEKS
    absences = rng.poisson(0.35 * np.exp(0.5 * risk)[:, None], size=(n, weeks))
    late = rng.poisson(0.25 * np.exp(0.35 * risk)[:, None], size=(n, weeks))
    mentor = rng.random((n, weeks)) < (0.01 * np.exp(0.3 * risk))[:, None]
    scores = np.full((n, weeks), np.nan)
    for week in ASSESSMENT_WEEKS:
        drawn = np.clip(np.round(2 * rng.normal(12.5 - 1.2 * risk, 3.0)) / 2, 0, 20)
        scores[:, week] = np.where(rng.random(n) < 0.9, drawn, np.nan)

    horizon = params.prediction_weeks
    early_hazard = _sigmoid(eff.c_early + static)
    early_week = np.full(n, -1)
    for week in range(horizon):
        breaks = (early_week < 0) & (rng.random(n) < early_hazard)
        early_week[breaks] = week
    early = early_week >= 0
    seen = np.arange(weeks)[None, :] < horizon
    signals = pd.DataFrame(
        {
            "absence_half_days": (absences * seen).sum(axis=1),
            "late_arrivals": (late * seen).sum(axis=1),
            "mentor_changes": (mentor & seen).sum(axis=1),
            "assessment_score_mean": _nan_mean(np.where(seen, scores, np.nan)),
        }
    )
    oracle = _sigmoid(eff.c_late + static + signal_logit(signals, horizon, eff))
    length = end - start + 1
    prediction_day = np.full(n, 7 * horizon)
    late_break = ~early & (rng.random(n) < oracle)
    rupture_day = np.full(n, NEVER)
    rupture_day[early] = 7 * early_week[early] + rng.integers(0, 7, size=int(early.sum()))
    rupture_day[late_break] = draw_rupture_day(rng, prediction_day[late_break], length[late_break])
    nine_months = _add_months(start, np.full(n, 9)) - start
    oracle_9m = oracle * rupture_day_cdf(nine_months, prediction_day, length)

    # Follow-up after the prediction time foreshadows the rupture (future information).
    rupture_week = np.where(rupture_day == NEVER, 10**6, rupture_day // 7)
    week_index = np.arange(weeks)[None, :]
    warning = (week_index >= horizon) & (week_index >= rupture_week[:, None] - 4)
    absences = absences + warning * rng.poisson(1.5, size=(n, weeks))
    keep = week_index <= np.minimum(rupture_week[:, None], weeks - 1)
    rows, cols = np.nonzero(keep)
    follow_up = pd.DataFrame(
        {
            "contract_id": contracts["contract_id"].to_numpy()[rows],
            "week": cols,
            "absence_half_days": absences[rows, cols],
            "late_arrivals": late[rows, cols],
            "assessment_score": scores[rows, cols],
            "mentor_change": mentor[rows, cols].astype(int).astype(str),
        }
    )
    broken = rupture_day != NEVER
    rupture_ts = pd.to_datetime(np.where(broken, start + rupture_day, 0), unit="D", origin=origin)
    probation = broken & (rupture_day < 45)
    initiator = np.where(probation, "periode_probatoire", _choice(rng, INITIATOR_AFTER_PROBATION, n))
    contracts = contracts.assign(
        rupture_date=rupture_ts.where(broken),
        rupture_initiator=pd.Series(initiator).where(broken).to_numpy(),
    )
    running = ~early
    oracle_frame = pd.DataFrame(
        {
            "contract_id": contracts["contract_id"].to_numpy()[running],
            "prediction_date": (contracts["contract_start"] + pd.Timedelta(weeks=horizon)).to_numpy()[
                running
            ],
            "oracle_rupture": oracle[running],
            "oracle_rupture_9m": oracle_9m[running],
        }
    )
    if on_step is not None:
        on_step("ruptures")
    return SimulatedTrainingCentre(
        companies=companies, learners=learners, contracts=contracts, follow_up=follow_up, oracle=oracle_frame
    )


# Published figures the simulator is calibrated on: DARES break rates within the first 9 months of contracts
# started in 2022, by diploma level, sector and employer size, and OPCO Atlas for the timing of breaks.
# Key: figure -> (group column, group value, published rate, source).
PUBLISHED_RUPTURE_9M: dict[str, tuple[str, str, float, str]] = {
    "CAP": ("diploma", "CAP", 0.293, "DARES Analyses 2024 (relays Centre Inffo, GIP Alfa): CAP 29.3 %"),
    "baccalauréat professionnel": ("diploma", "BAC_PRO", 0.225, "DARES Analyses 2024: baccalauréat 22.5 %"),
    "BTS (higher education)": ("diploma", "BTS", 0.18, "DARES Analyses 2024: higher education 18 %"),
    "employers under 5 employees": (
        "small_employer",
        "1",
        0.28,
        "DARES (issue brief): under 5 employees 28 %",
    ),
    "coiffure, soins de beauté": ("activity", "coiffure_beaute", 0.30, "DARES Analyses 2024: 30 %"),
    "hébergement-restauration": ("activity", "hotellerie_restauration", 0.36, "DARES Analyses 2024: 36 %"),
    "métiers de bouche": ("activity", "alimentation", 0.28, "DARES Analyses 2024: food industries 28 %"),
}
# National figures shown for comparison only: a CMA centre's mix of trades and levels is not the nation's.
NATIONAL_RUPTURE_9M: dict[str, tuple[str, str, float, str]] = {
    "all contracts (national, all levels)": ("all", "all", 0.21, "DARES Analyses 2024: 21 %"),
    "women": ("sex", "F", 0.23, "Fondation MMA / Letowski 2024: 23 %"),
    "men": ("sex", "M", 0.195, "Fondation MMA / Letowski 2024: 19.5 %"),
    "aged 15-17": ("age_band", "15-17", 0.254, "DARES Analyses 2024: 25.4 %"),
    "aged 20-25": ("age_band", "20-25", 0.18, "DARES Analyses 2024: 18 %"),
}
PUBLISHED_TIMING: dict[str, tuple[float, str]] = {
    "ruptures in the first 3 months": (0.30, "OPCO Atlas via Centre Inffo 2024"),
    "ruptures between months 6 and 12": (0.40, "OPCO Atlas via Centre Inffo 2024"),
}


def _groups(centre: SimulatedTrainingCentre) -> pd.DataFrame:
    contracts = centre.contracts
    learners = centre.learners.set_index("learner_id")
    employers = centre.companies.set_index("siret")
    age = contracts["contract_start"].dt.year - contracts["learner_id"].map(learners["birth_year"])
    nine = contracts["contract_start"] + pd.DateOffset(months=9)
    return pd.DataFrame(
        {
            "all": "all",
            "diploma": contracts["diploma"],
            "small_employer": contracts["siret"]
            .map(employers["headcount_band"])
            .isin(list(SMALL_EMPLOYER_BANDS))
            .map({True: "1", False: "0"}),
            "activity": activity_group(contracts["naf_code"]),
            "sex": contracts["learner_id"].map(learners["sex"]),
            "age_band": age_band(age),
            "broken_9m": (contracts["rupture_date"] < nine).to_numpy(),
        }
    )


def rupture_calibration_report(centre: SimulatedTrainingCentre, national: bool = False) -> pd.DataFrame:
    """Each published figure the training-centre simulator is calibrated on, next to the simulated rate.

    With `national`, also the national figures it is *not* calibrated on (for comparison in the datasheet).
    """
    rows = rupture_figure_rows(
        _groups(centre), PUBLISHED_RUPTURE_9M, NATIONAL_RUPTURE_9M if national else None
    )
    contracts = centre.contracts
    months = (contracts["rupture_date"] - contracts["contract_start"]).dt.days.dropna() / 30.4375
    simulated_timing = {
        "ruptures in the first 3 months": float((months < 3).mean()),
        "ruptures between months 6 and 12": float(((months >= 6) & (months < 12)).mean()),
    }
    for figure, (published, source) in PUBLISHED_TIMING.items():
        rows.append(
            {
                "figure": figure,
                "source": source,
                "published": published,
                "simulated": simulated_timing[figure],
                "calibrated": True,
            }
        )
    report = pd.DataFrame(rows)
    report["gap_points"] = (report["simulated"] - report["published"]) * 100
    return report


def logit_of(p: float) -> float:
    """The logit of a rate (clipped to [1e-4, 1 - 1e-4]), for the calibration of the simulators."""
    q = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(q / (1 - q)))


EFFECT_OF_FIGURE: dict[str, tuple[str, str | None]] = {
    "CAP": ("diploma", "CAP"),
    "baccalauréat professionnel": ("diploma", "BAC_PRO"),
    "BTS (higher education)": ("diploma", "BTS"),
    "employers under 5 employees": ("small_employer", None),
    "coiffure, soins de beauté": ("activity", "coiffure_beaute"),
    "hébergement-restauration": ("activity", "hotellerie_restauration"),
    "métiers de bouche": ("activity", "alimentation"),
}


def calibrate_rupture_effects(
    reference: Reference, params: TrainingCentreParams, iterations: int = 12, damping: float = 0.8
) -> TrainingCentreParams:
    """Rake the rupture effects until the simulated rates match the published ones (used offline).

    Each round moves both intercepts by the mean logit gap, each figure's own effect by its gap minus the
    mean, and the early intercept by the gap of the first-3-months timing figure.
    """
    current = params
    for _ in range(iterations):
        report = rupture_calibration_report(simulate_training_centre(reference, current)).set_index("figure")
        gap = {
            name: damping * (logit_of(float(row["published"])) - logit_of(float(row["simulated"])))
            for name, row in report.iterrows()
        }
        group_gaps = {f: gap[f"broken within 9 months, {f}"] for f in PUBLISHED_RUPTURE_9M}
        mean_gap = float(np.mean(list(group_gaps.values())))
        eff = current.effects.model_copy(deep=True)
        eff.c_late += mean_gap
        eff.c_early += mean_gap + gap["ruptures in the first 3 months"]
        for figure, (field, key) in EFFECT_OF_FIGURE.items():
            step = group_gaps[figure] - mean_gap
            if key is None:
                setattr(eff, field, getattr(eff, field) + step)
            else:
                getattr(eff, field)[key] += step
        current = current.model_copy(update={"effects": eff})
    return current


HEADCOUNT_LABELS: dict[str, str] = {
    "NN": "0",
    "00": "0",
    "01": "1 à 2",
    "02": "3 à 5",
    "03": "6 à 9",
    "11": "10 à 19",
    "12": "20 à 49",
}


def as_centre_extract(dataset: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC. A dropout dataset re-shaped as a centre's own spreadsheet export would be: French column
    names with stray spaces, a multi-class outcome (several kinds of rupture, completions, contracts still
    running), dates as DD/MM/YYYY, decimal commas and empty cells. Used to test retraining on an extract."""
    rng = np.random.default_rng(seed)
    n = len(dataset)
    broken = dataset["rupture"].to_numpy() == 1
    kinds = np.array(
        ["Rupture à l'initiative de l'apprenti", "Rupture employeur", "Rupture d'un commun accord"]
    )
    outcome = np.where(
        broken,
        kinds[rng.integers(0, 3, n)],
        np.where(rng.random(n) < 0.8, "Diplômé", "Fin de contrat sans diplôme"),
    )
    running = rng.random(n) < 0.05
    outcome = np.where(running, "En cours", outcome)
    age = dataset["contract_start"].dt.year - dataset["birth_year"]
    score = dataset["assessment_score_mean"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}".replace(".", ","))
    distance = dataset["distance_home_employer_km"].map(lambda v: f"{v:.1f}".replace(".", ","))
    frame = pd.DataFrame(
        {
            "N° contrat": dataset["contract_id"].str.replace("CTR-", "C", regex=False),
            " Début contrat ": dataset["contract_start"].dt.strftime("%d/%m/%Y"),
            "Diplôme préparé": dataset["diploma"],
            "Métier": activity_group(dataset["naf_code"]),
            "Âge": age.astype(str),
            "Sexe": dataset["sex"],
            "QPV": dataset["qpv_resident"].map({"1": "oui", "0": "non"}),
            "Absences 6 premières semaines": dataset["absence_half_days"].astype(int).astype(str),
            "Retards": dataset["late_arrivals"].astype(int).astype(str),
            "Moyenne évaluations ": score,
            "Distance domicile-entreprise (km)": distance,
            "Taille entreprise": dataset["headcount_band"].map(HEADCOUNT_LABELS),
            "Issue du contrat": outcome,
        }
    )
    blank = rng.random(n) < 0.03
    frame.loc[blank, "Taille entreprise"] = ""
    return frame
