"""The chamber simulator: real codes, valid identifiers, determinism, an exact oracle."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from catalog.tables import as_text
from models.apprenticeship_host.history import history_features
from models.contracts import APPRENTICESHIP_CONTRACTS, COMPANIES, luhn_valid, validate_table
from models.reference import Reference
from models.simulation.chamber import (
    ChamberSimulationParams,
    SimulatedChamber,
    dynamic_logit,
    simulate_chamber,
    static_logit,
)
from models.timeutils import days_of


def test_simulated_records_satisfy_their_contracts(
    small_chamber: SimulatedChamber, reference: Reference
) -> None:
    _, rep = validate_table(as_text(small_chamber.companies), COMPANIES, reference, "companies")
    assert rep.n_invalid == 0, rep.summary()
    _, rep = validate_table(
        as_text(small_chamber.contracts), APPRENTICESHIP_CONTRACTS, reference, "contracts"
    )
    assert rep.n_invalid == 0, rep.summary()


def test_only_real_artisan_codes_and_populated_communes(
    small_chamber: SimulatedChamber, reference: Reference
) -> None:
    artisan = set(reference.artisan_naf()["naf_code"])
    assert set(small_chamber.companies["naf_code"]) <= artisan
    assert set(small_chamber.companies["commune_code"]) <= set(reference.populated_communes()["commune_code"])
    assert luhn_valid(small_chamber.companies["siret"]).all()
    assert small_chamber.companies["siret"].is_unique


def test_same_seed_same_records(reference: Reference) -> None:
    params = ChamberSimulationParams(n_companies=500, seed=5)
    a, b = simulate_chamber(reference, params), simulate_chamber(reference, params)
    pd.testing.assert_frame_equal(a.contracts, b.contracts)
    pd.testing.assert_frame_equal(a.company_years, b.company_years)
    c = simulate_chamber(reference, params.model_copy(update={"seed": 6}))
    assert not a.companies["siret"].equals(c.companies["siret"])


def test_oracle_is_recomputable_from_observable_facts(
    small_chamber: SimulatedChamber, reference: Reference, small_params: ChamberSimulationParams
) -> None:
    """The oracle is a function of the record and the history before the cut-off, nothing hidden."""
    companies, contracts = small_chamber.companies, small_chamber.contracts
    cutoff = date(2023, 1, 1)
    position = pd.Index(companies["siret"]).get_indexer(contracts["siret"])
    hist = history_features(
        position,
        days_of(contracts["contract_start"]),
        days_of(contracts["planned_end"]),
        days_of(contracts["rupture_date"]),
        len(companies),
        cutoff,
    )
    age = (pd.Timestamp(cutoff) - companies["creation_date"]).dt.days.to_numpy() / 365.25
    small = companies["headcount_band"].isin(["NN", "00", "01"]).to_numpy()
    logit = static_logit(companies, reference, small_params) + dynamic_logit(
        age, small, hist, small_params.effects
    )
    expected = pd.Series(1 / (1 + np.exp(-logit)), index=companies["siret"])
    year = small_chamber.company_years[small_chamber.company_years["cutoff_date"] == pd.Timestamp(cutoff)]
    np.testing.assert_allclose(year["oracle_probability"].to_numpy(), expected.loc[year["siret"]].to_numpy())


def test_oracle_is_calibrated(reference: Reference) -> None:
    chamber = simulate_chamber(reference, ChamberSimulationParams(n_companies=20_000, seed=3))
    years = chamber.company_years
    bins = pd.qcut(years["oracle_probability"], 10, labels=False)
    table = years.groupby(bins).agg(
        p=("oracle_probability", "mean"), y=("hosted", "mean"), n=("hosted", "size")
    )
    tolerance = 4 * np.sqrt(table["p"] * (1 - table["p"]) / table["n"]) + 1e-3
    assert ((table["p"] - table["y"]).abs() <= tolerance).all(), table
