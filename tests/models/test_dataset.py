"""Point-in-time correctness of the apprenticeship_host dataset builder."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.apprenticeship_host.dataset import LABEL, build_host_dataset
from models.apprenticeship_host.history import HISTORY_FEATURES
from models.simulation.chamber import SimulatedChamber

CUTOFF = date(2022, 1, 1)
FEATURE_COLUMNS = [c for c in ("siret", "naf_code", "commune_code", *HISTORY_FEATURES)]


def _hand_made() -> tuple[pd.DataFrame, pd.DataFrame]:
    companies = pd.DataFrame(
        {
            "siret": ["A", "B", "C", "D"],
            "naf_code": ["96.02A"] * 4,
            "commune_code": ["69384"] * 4,
            "creation_date": pd.to_datetime(["2010-01-01", "2015-06-01", "2021-12-31", "2022-03-01"]),
            "legal_category": ["1000"] * 4,
            "headcount_band": ["01"] * 4,
            "head_qualification": ["cap_bep"] * 4,
            "closure_date": pd.to_datetime([None, None, None, None]),
        }
    )
    contracts = pd.DataFrame(
        {
            "contract_id": ["1", "2", "3", "4", "5"],
            "siret": ["A", "A", "B", "B", "C"],
            "contract_start": pd.to_datetime(
                ["2019-09-01", "2021-09-01", "2020-09-01", "2022-10-01", "2023-01-01"]
            ),
            "planned_end": pd.to_datetime(
                ["2021-08-31", "2023-08-31", "2022-08-31", "2024-09-30", "2024-12-31"]
            ),
            "rupture_date": pd.to_datetime([None, None, "2021-03-01", None, None]),
            "diploma": ["CAP"] * 5,
        }
    )
    return companies, contracts


def test_hand_made_history_and_label() -> None:
    companies, contracts = _hand_made()
    ds = build_host_dataset(companies, contracts, CUTOFF).set_index("siret")
    assert list(ds.index) == ["A", "B", "C"], "D is created after the cut-off"
    assert ds.loc["A", "contracts_last_12m"] == 1
    assert ds.loc["A", "contracts_last_3y"] == 2
    assert ds.loc["A", "active_contracts"] == 1
    assert ds.loc["A", "years_since_last_contract"] == pytest.approx(122 / 365.25)
    assert ds.loc["B", "ruptures_last_3y"] == 1 and ds.loc["B", "active_contracts"] == 0
    assert np.isnan(ds.loc["C", "years_since_last_contract"])
    assert ds[LABEL].to_dict() == {"A": 0, "B": 1, "C": 0}, "C's contract starts 12 months + 1 day later"


def test_closed_companies_are_not_scored() -> None:
    companies, contracts = _hand_made()
    companies = companies.assign(closure_date=pd.to_datetime(["2021-06-30", None, None, None]))
    ds = build_host_dataset(companies, contracts, CUTOFF)
    assert "A" not in set(ds["siret"])


def _perturb_future(
    companies: pd.DataFrame, contracts: pd.DataFrame, cutoff: date, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Change every fact dated on or after the cut-off, keep everything before it."""
    cut = pd.Timestamp(cutoff)
    shift = pd.to_timedelta(rng.integers(1, 400, size=len(contracts)), unit="D")
    future_start = contracts["contract_start"] >= cut
    moved = contracts.assign(
        contract_start=contracts["contract_start"].where(~future_start, contracts["contract_start"] + shift),
        planned_end=contracts["planned_end"].where(
            contracts["planned_end"] < cut, contracts["planned_end"] + shift
        ),
        rupture_date=contracts["rupture_date"].where(
            contracts["rupture_date"].isna() | (contracts["rupture_date"] < cut), cut + shift
        ),
    )
    moved = moved.assign(
        rupture_date=moved["rupture_date"].where(moved["rupture_date"] <= moved["planned_end"])
    )
    extra = moved.sample(n=min(200, len(moved)), random_state=1).assign(
        contract_id=lambda f: "X" + f["contract_id"], contract_start=cut + pd.Timedelta(days=3)
    )
    extra = extra.assign(planned_end=extra["contract_start"] + pd.Timedelta(days=700), rupture_date=pd.NaT)
    closed = companies.assign(
        closure_date=pd.Series(pd.NaT, index=companies.index).where(
            rng.random(len(companies)) > 0.2, cut + pd.Timedelta(days=30)
        )
    )
    return closed, pd.concat([moved, extra], ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_changing_anything_after_the_cutoff_never_changes_a_feature(
    small_chamber: SimulatedChamber, seed: int
) -> None:
    cutoff = date(2022, 1, 1)
    before = build_host_dataset(small_chamber.companies, small_chamber.contracts, cutoff)
    companies, contracts = _perturb_future(
        small_chamber.companies, small_chamber.contracts, cutoff, np.random.default_rng(seed)
    )
    after = build_host_dataset(companies, contracts, cutoff)
    feature_cols = [c for c in before.columns if c != LABEL]
    pd.testing.assert_frame_equal(before[feature_cols], after[feature_cols])
    assert not before[LABEL].equals(after[LABEL]), "the perturbation does reach the label window"


def test_changing_the_past_does_change_features(small_chamber: SimulatedChamber) -> None:
    cutoff = date(2022, 1, 1)
    before = build_host_dataset(small_chamber.companies, small_chamber.contracts, cutoff)
    past = small_chamber.contracts["contract_start"] < pd.Timestamp(cutoff)
    contracts = small_chamber.contracts[~past | (np.arange(len(past)) % 2 == 0)]
    after = build_host_dataset(small_chamber.companies, contracts, cutoff)
    assert not before["contracts_total"].equals(after["contracts_total"])


def test_builder_labels_and_history_match_the_simulator(small_chamber: SimulatedChamber) -> None:
    for year in (2020, 2024):
        cutoff = pd.Timestamp(year, 1, 1)
        ds = build_host_dataset(small_chamber.companies, small_chamber.contracts, cutoff.date())
        truth = small_chamber.company_years[small_chamber.company_years["cutoff_date"] == cutoff]
        merged = ds.merge(truth, on=["siret", "cutoff_date"], how="outer", validate="1:1", indicator=True)
        assert (merged["_merge"] == "both").all(), "same company-years in builder and simulator"
        assert (merged[LABEL] == merged["hosted"]).all()
