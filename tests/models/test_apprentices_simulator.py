"""The national apprentices simulator (SYNTHETIC): reproducible, calibrated on the published figures, an exact
oracle given what is observable at prediction time (the prior qualification marginalised where no SIFA
snapshot by then tells it), codes consistent with what the readers map back, invented identities that join
as keys."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from catalog.formats.common import (
    DIPLOMA_CFD_PREFIX,
    EMPLOYER_TYPE_SIFA,
    PRIOR_QUALIFICATION_SIFA,
    PRIOR_SITUATION_SIFA,
    situation_from_code,
)
from models.reference import Reference
from models.simulation.apprentices import (
    APPRENTICE_NAF_WEIGHTS,
    CAP_IN_ONE_YEAR,
    CFD_PREFIX,
    EMPLOYER_TYPE_OF_CODE,
    LAST_CLASS_WITHOUT_DIPLOMA,
    PRIOR_QUALIFICATION,
    PRIOR_SITUATION,
    QUALIFICATION_CODES,
    QUALIFICATIONS,
    SITUATION_CODES,
    THEORETICAL_MONTHS,
    ApprenticeSimulationParams,
    SimulatedApprentices,
    calibration_report,
    completed_years,
    fold_name,
    relapse_logit,
    rupture_logit,
    sifa_snapshot,
    sifa_years,
    simulate_apprentices,
)
from models.vocabulary import age_band


@pytest.fixture(scope="module")
def sim(reference: Reference) -> SimulatedApprentices:
    return simulate_apprentices(reference, ApprenticeSimulationParams(n_contracts=20_000, seed=3))


def test_reproducible_with_its_seed(reference: Reference) -> None:
    params = ApprenticeSimulationParams(n_contracts=400, seed=5)
    first, again = simulate_apprentices(reference, params), simulate_apprentices(reference, params)
    for name in ("learners", "employers", "contracts", "oracle"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    other = simulate_apprentices(reference, params.model_copy(update={"seed": 6}))
    assert not first.learners["nom"].equals(other.learners["nom"])


def test_calibrated_rates_match_the_published_ones(sim: SimulatedApprentices) -> None:
    report = calibration_report(sim)
    calibrated = report[report["calibrated"]]
    assert len(calibrated) == 9
    gaps = calibrated.set_index("figure")["gap_points"].abs()
    assert (gaps < 3.0).all(), gaps[gaps >= 3.0]


def test_oracle_is_the_logit_of_the_observed_fields(sim: SimulatedApprentices) -> None:
    oracle = sim.oracle.set_index("ref").loc[sim.contracts["ref"]]
    for name in ("oracle_rupture", "oracle_rupture_full"):
        assert ((oracle[name] > 0) & (oracle[name] < 1)).all()
    definitive = oracle["oracle_definitive"]
    assert ((definitive > 0) & (definitive <= oracle["oracle_rupture"])).all()
    recomputed = 1 / (1 + np.exp(-rupture_logit(sim.contracts, sim.params.rupture)))
    np.testing.assert_allclose(oracle["oracle_rupture_full"].to_numpy(), recomputed)
    q = 1 / (1 + np.exp(-relapse_logit(sim.contracts, sim.params.relapse)))
    q = np.where(sim.contracts["rank"] == 4, 0.0, q)
    np.testing.assert_allclose(oracle["oracle_definitive_full"].to_numpy(), recomputed * (1 - q))
    # Given what is observable: the full oracle where a SIFA snapshot by the prediction date tells the
    # prior qualification; elsewhere marginalised, and the definitive one is it times (1 - q) all the same.
    seen = oracle["qualification_observed"].to_numpy()
    assert 0.05 < seen.mean() < 0.4
    for name in ("oracle_rupture", "oracle_definitive"):
        np.testing.assert_array_equal(oracle[name].to_numpy()[seen], oracle[f"{name}_full"].to_numpy()[seen])
    np.testing.assert_allclose(oracle["oracle_definitive"].to_numpy(), oracle["oracle_rupture"] * (1 - q))
    # DECA's last class tells the qualification but among cap_bep, bac and superieur ("01"): elsewhere the
    # marginalised oracle is the full one, and with "01" it departs from it for some contracts.
    last_class = sim.contracts["learner_ref"].map(sim.learners.set_index("ref")["last_class_code"])
    told = (last_class != "01").to_numpy()
    np.testing.assert_allclose(
        oracle["oracle_rupture"][told], oracle["oracle_rupture_full"][told], rtol=1e-12
    )
    gap = (oracle["oracle_rupture"] - oracle["oracle_rupture_full"]).abs().to_numpy()
    assert (gap[~seen & ~told] > 1e-3).mean() > 0.1
    # The age it uses is the readers' one: completed years at contract start + prediction_weeks.
    birth = sim.contracts["learner_ref"].map(sim.learners.set_index("ref")["birth_date"])
    when = sim.contracts["contract_start"] + pd.Timedelta(weeks=sim.params.prediction_weeks)
    np.testing.assert_array_equal(completed_years(birth.reset_index(drop=True), when), sim.contracts["age"])


def test_gross_rate_is_about_twice_the_definitive_and_matches_the_oracle(sim: SimulatedApprentices) -> None:
    past = sim.contracts[~sim.contracts["current"]]
    oracle = sim.oracle.set_index("ref").loc[past["ref"]]
    broken = past["rupture_date"].notna()
    definitive = broken & ~past["resigned"]
    assert 1.7 < broken.mean() / definitive.mean() < 2.3
    for suffix in ("", "_full"):
        assert abs(broken.mean() - oracle[f"oracle_rupture{suffix}"].mean()) < 0.015
        assert abs(definitive.mean() - oracle[f"oracle_definitive{suffix}"].mean()) < 0.015
    # Calibrated where the qualification is unknown too (the marginalised oracle, not the full one).
    unseen = ~oracle["qualification_observed"].to_numpy()
    assert abs(broken[unseen].mean() - oracle["oracle_rupture"][unseen].mean()) < 0.015
    days = (past.loc[broken, "rupture_date"] - past.loc[broken, "contract_start"]).dt.days
    assert 0.45 < (days < 45).mean() < 0.55


def test_calendar_past_cohorts_fully_observed_current_one_runs(sim: SimulatedApprentices) -> None:
    params = sim.params
    as_of = pd.Timestamp(params.extraction_date)
    assert params.extraction_date == date(2026, 12, 31)
    contracts = sim.contracts
    past, current = contracts[~contracts["current"]], contracts[contracts["current"]]
    assert (past["planned_end"] + pd.DateOffset(months=params.relapse_months) < as_of).all()
    assert (contracts["contract_start"] <= as_of).all()
    first = current[current["rank"] == 1]
    assert (first["contract_start"].dt.month.isin([9, 10, 11])).all()
    assert (first["contract_start"].dt.year == as_of.year).all()
    assert (contracts["planned_end"] > contracts["contract_start"]).all()
    broken = contracts["rupture_date"].notna()
    assert (contracts.loc[broken, "rupture_date"] <= contracts.loc[broken, "planned_end"]).all()
    # A new contract follows its rupture within relapse_months, with another employer of the same trade.
    following = contracts.groupby("learner_ref").shift(-1)
    again = contracts["resigned"] & following["contract_start"].notna()
    window = contracts.loc[again, "rupture_date"] + pd.DateOffset(months=params.relapse_months)
    assert (following.loc[again, "contract_start"] > contracts.loc[again, "rupture_date"]).all()
    assert (following.loc[again, "contract_start"] <= window).all()
    assert (following.loc[again, "siret"] != contracts.loc[again, "siret"]).all()
    assert (following.loc[again, "naf_code"] == contracts.loc[again, "naf_code"]).all()
    assert contracts["rank"].max() <= 4
    with pytest.raises(ValueError, match="as_of"):
        ApprenticeSimulationParams(as_of=date(2024, 12, 31))


def test_codes_are_the_ones_the_readers_map_back(sim: SimulatedApprentices, reference: Reference) -> None:
    assert {prefix: diploma for diploma, prefix in CFD_PREFIX.items()} == DIPLOMA_CFD_PREFIX
    assert EMPLOYER_TYPE_OF_CODE == EMPLOYER_TYPE_SIFA
    for situation, options in SITUATION_CODES.items():
        for before, last_year, _ in options:
            if before != "99":
                assert PRIOR_SITUATION_SIFA[before] == situation
            assert situation_from_code(pd.Series([last_year]))[0] == situation
    for qualification, codes in QUALIFICATION_CODES.items():
        assert {PRIOR_QUALIFICATION_SIFA[c] for c in codes} == {qualification}
    learners = sim.learners
    cfd = learners["diploma_cfd"].dropna()
    assert cfd.str.fullmatch(r"[0-9]{8}").all()
    assert (cfd.str.slice(0, 3).map(DIPLOMA_CFD_PREFIX) == learners.loc[cfd.index, "diploma"]).all()
    assert learners.loc[learners["diploma_cfd"].isna(), "diploma"].eq("TITRE_PRO").all()
    assert learners["diploma_rncp"].str.fullmatch(r"RNCP[0-9]{5}").all()
    craft = set(reference.artisan_naf()["naf_code"])
    assert set(APPRENTICE_NAF_WEIGHTS) <= craft
    assert set(sim.contracts["naf_code"]) <= craft
    from models.contracts import luhn_valid

    assert luhn_valid(sim.employers["siret"]).all()
    assert (sim.contracts["employer_type_code"] == "11").mean() > 0.8
    assert 0.02 < (learners["rqth"] == "1").mean() < 0.04


def test_invented_identities_are_distinct_keys(sim: SimulatedApprentices) -> None:
    learners = sim.learners
    birth = learners["birth_date"].astype(str)
    key = fold_name(learners["nom"]) + "|" + fold_name(learners["prenom"]) + "|" + birth
    assert key.is_unique
    names = pd.concat([learners["nom"], learners["prenom"]])
    assert names.str.contains("-").any()
    assert names.str.contains("[éèëêïîôöüûàâç]", regex=True).any()
    assert names.str.contains("'").any()
    assert learners["phone"].str.fullmatch(r"06399[0-9]{5}").all()
    assert learners["email"].str.endswith(("@example.org", "@example.net", "@example.com")).all()
    assert learners["ine"].str.fullmatch(r"[0-9]{10}[A-Z]").all()
    adults = learners["guardian_phone"].isna()
    assert 0.2 < adults.mean() < 0.9


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-x)))


def _enumerated(sim: SimulatedApprentices, ref: str) -> float:
    """The rupture probability of a contract given what is observable without its learner's prior
    qualification, enumerated by hand: sum over v of P(v | observed) p(v), P(v | observed) proportional to
    P(v | diploma, band) P(situation | v, band) P(length | diploma, v) P(last class | v) and the ruptures of
    the learner's earlier contracts under v."""
    contracts = sim.contracts
    row = contracts[contracts["ref"] == ref]
    person = sim.learners.set_index("ref").loc[row["learner_ref"].iloc[0]]
    mine = contracts[contracts["learner_ref"] == row["learner_ref"].iloc[0]]
    band = str(age_band(mine.loc[mine["rank"] == 1, "age"])[0])  # the band the learner's age was drawn in
    diploma, months, code = person["diploma"], int(person["theoretical_months"]), person["last_class_code"]
    earlier = mine[mine["rank"] < row["rank"].iloc[0]]
    weights, rupture = [], []
    for v in QUALIFICATIONS:
        w = PRIOR_QUALIFICATION[diploma][band].get(v, 0.0) * PRIOR_SITUATION[(v, band)].get(
            person["prior_situation"], 0.0
        )
        length = THEORETICAL_MONTHS[diploma].get(months, 0.0)
        if diploma == "CAP" and v in ("cap_bep", "bac", "superieur"):
            length = length * (1 - CAP_IN_ONE_YEAR) + CAP_IN_ONE_YEAR * (months == 12)
        w *= length
        if v in ("cap_bep", "bac", "superieur"):
            w *= float(code == "01")
        elif v == "brevet":
            w *= float(code == "40")
        else:
            w *= LAST_CLASS_WITHOUT_DIPLOMA.get(code, 0.0)
        if len(earlier):
            w *= float(
                np.prod(_sigmoid(rupture_logit(earlier.assign(prior_qualification=v), sim.params.rupture)))
            )
        weights.append(w)
        rupture.append(
            float(_sigmoid(rupture_logit(row.assign(prior_qualification=v), sim.params.rupture))[0])
        )
    return float(np.dot(weights, rupture) / sum(weights))


def test_marginalised_oracle_is_the_enumerated_expectation(sim: SimulatedApprentices) -> None:
    oracle = sim.oracle.set_index("ref")
    contracts = sim.contracts.set_index("ref")
    unseen = contracts[~oracle.loc[contracts.index, "qualification_observed"].to_numpy()]
    last_class = unseen["learner_ref"].map(sim.learners.set_index("ref")["last_class_code"])
    picks = [
        *unseen[(unseen["rank"] == 1) & (last_class == "01") & (unseen["diploma"] == "CAP")].index[:3],
        *unseen[(unseen["rank"] == 1) & (last_class == "01") & (unseen["diploma"] == "BTS")].index[:2],
        *unseen[(unseen["rank"] == 1) & (last_class != "01")].index[:2],
        *unseen[(unseen["rank"] >= 2) & (last_class == "01")].index[:3],
        *unseen[unseen["rank"] == 3].index[:1],
    ]
    assert len(picks) == 11
    for ref in picks:
        expected = _enumerated(sim, str(ref))
        assert oracle.loc[ref, "oracle_rupture"] == pytest.approx(expected, rel=1e-12), ref
        relapse = _sigmoid(relapse_logit(contracts.loc[[ref]], sim.params.relapse))[0]
        relapse = 0.0 if contracts.loc[ref, "rank"] == 4 else relapse
        assert oracle.loc[ref, "oracle_definitive"] == pytest.approx(expected * (1 - relapse), rel=1e-12)


def test_qualification_observed_is_a_snapshot_by_the_prediction_date(sim: SimulatedApprentices) -> None:
    contracts = sim.contracts
    prediction = contracts["contract_start"] + pd.Timedelta(weeks=sim.params.prediction_weeks)
    seen = pd.Series(False, index=contracts.index)
    for year in sifa_years(sim.params):
        held = set(sifa_snapshot(contracts, year, sim.params.relapse_months)["learner_ref"])
        for i in contracts.index[(prediction >= pd.Timestamp(year, 12, 31)).to_numpy()]:
            seen[i] = seen[i] or contracts.at[i, "learner_ref"] in held
    flag = contracts["ref"].map(sim.oracle.set_index("ref")["qualification_observed"])
    assert (flag.to_numpy() == seen.to_numpy()).all()
    # A first contract is told only by a snapshot after its start: started from 19 November on.
    first = contracts["rank"] == 1
    told = contracts.loc[first & flag.to_numpy(), "contract_start"]
    assert ((told.dt.month == 12) | ((told.dt.month == 11) & (told.dt.day >= 19))).all()
