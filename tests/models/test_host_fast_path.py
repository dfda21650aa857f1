"""The record path (dict look-ups, no pandas) gives exactly the batch path's features and scores."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from models.apprenticeship_host.dataset import SNAPSHOT_COLUMNS, build_host_datasets
from models.apprenticeship_host.features import FEATURES, transform_records
from models.apprenticeship_host.model import HostModel
from models.apprenticeship_host.training import fit_host_model, split_by_cutoff
from models.contracts import HEAD_QUALIFICATIONS, HEADCOUNT_BANDS, LEGAL_CATEGORIES
from models.estimator import LightGBMParams
from models.reference import Reference
from models.simulation.chamber import SimulatedChamber


@pytest.fixture(scope="module")
def model(small_chamber: SimulatedChamber, reference: Reference) -> HostModel:
    ds = build_host_datasets(
        small_chamber.companies, small_chamber.contracts, [date(y, 1, 1) for y in range(2020, 2025)]
    )
    train, valid, _ = split_by_cutoff(ds)
    fitted, _ = fit_host_model(train, valid, reference, LightGBMParams(min_data_in_leaf=20, num_leaves=15))
    return fitted


def _random_records(reference: Reference, n: int, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    nafs = [*list(reference.naf["naf_code"]), "99.99Z", "4322a", " 96.02A "]
    communes = [
        *list(reference.communes["commune_code"].sample(2000, random_state=seed)),
        "00000",
        "2a004",
        "1001",
    ]
    records = []
    for _ in range(n):
        cutoff = date(2025, 1, 1) - timedelta(days=int(rng.integers(0, 800)))
        records.append(
            {
                "siret": "73282932000074",
                "naf_code": nafs[rng.integers(len(nafs))],
                "commune_code": communes[rng.integers(len(communes))],
                "creation_date": cutoff - timedelta(days=int(rng.integers(1, 20_000))),
                "legal_category": list(LEGAL_CATEGORIES)[rng.integers(len(LEGAL_CATEGORIES))],
                "headcount_band": list(HEADCOUNT_BANDS)[rng.integers(len(HEADCOUNT_BANDS))],
                "head_qualification": list(HEAD_QUALIFICATIONS)[rng.integers(len(HEAD_QUALIFICATIONS))],
                "cutoff_date": cutoff,
                "contracts_last_12m": int(rng.integers(0, 3)),
                "contracts_last_3y": int(rng.integers(0, 6)),
                "contracts_total": int(rng.integers(0, 10)),
                "active_contracts": int(rng.integers(0, 3)),
                "ruptures_last_3y": int(rng.integers(0, 2)),
                "years_since_last_contract": None if rng.random() < 0.4 else float(rng.uniform(0, 8)),
            }
        )
    return records


def test_record_path_equals_batch_path_on_random_records(model: HostModel, reference: Reference) -> None:
    records = _random_records(reference, 3000, seed=1)
    frame = pd.DataFrame(records, columns=list(SNAPSHOT_COLUMNS))
    for column in ("creation_date", "cutoff_date"):
        frame[column] = pd.to_datetime(frame[column])
    frame["years_since_last_contract"] = frame["years_since_last_contract"].astype(float)
    batch = model.encoder.transform(frame)
    fast = transform_records(model.encoder, records)
    np.testing.assert_array_equal(batch, fast)
    np.testing.assert_array_equal(model.estimator.predict(batch), model.estimator.predict(fast))
    assert np.isnan(fast[:, 0]).any(), "unknown NAF codes reach the model as missing"


def test_missing_codes_reach_the_model_as_missing(model: HostModel, reference: Reference) -> None:
    records = _random_records(reference, 5, seed=2)
    frame = pd.DataFrame(records, columns=list(SNAPSHOT_COLUMNS)).assign(naf_code=None, commune_code=None)
    for column in ("creation_date", "cutoff_date"):
        frame[column] = pd.to_datetime(frame[column])
    matrix = model.encoder.transform(frame)
    names = list(FEATURES)
    for name in (
        "naf_code",
        "naf_division",
        "artisan_sector",
        "departement_code",
        "commune_population_log10",
    ):
        assert np.isnan(matrix[:, names.index(name)]).all(), name
    fast = transform_records(model.encoder, [{**r, "naf_code": None, "commune_code": None} for r in records])
    np.testing.assert_array_equal(matrix, fast)


def test_arrow_columns_give_the_frame_path_features(model: HostModel, reference: Reference) -> None:
    """The service hands validated Arrow columns straight to the encoder: same matrix as from a frame."""
    import pyarrow as pa

    records = _random_records(reference, 2000, seed=3)
    frame = pd.DataFrame(records, columns=list(SNAPSHOT_COLUMNS))
    for column in ("creation_date", "cutoff_date"):
        frame[column] = pd.to_datetime(frame[column])
    frame["years_since_last_contract"] = frame["years_since_last_contract"].astype(float)
    arrow = {
        name: pa.array(
            [r[name].isoformat() if isinstance(r[name], date) else r[name] for r in records]
            if name in ("creation_date", "cutoff_date")
            else [r[name] for r in records]
        )
        for name in SNAPSHOT_COLUMNS
    }
    arrow["legal_category"] = pa.array([None, *[r["legal_category"] for r in records[1:]]])
    frame.loc[0, "legal_category"] = None
    np.testing.assert_array_equal(model.encoder.transform(arrow), model.encoder.transform(frame))
    assert pa.types.is_string(arrow["creation_date"].type) and pa.types.is_int64(
        arrow["contracts_total"].type
    )


def test_history_from_past_contracts_equals_the_training_features(
    model: HostModel, small_chamber: SimulatedChamber
) -> None:
    from models.apprenticeship_host.dataset import COMPANY_FIELDS, build_host_dataset

    cutoff = date(2024, 1, 1)
    rows = build_host_dataset(small_chamber.companies, small_chamber.contracts, cutoff).head(400)
    assert rows["contracts_total"].gt(0).sum() > 50, "enough companies with a history"
    companies = rows[[*COMPANY_FIELDS, "cutoff_date"]]  # no history counts given
    deals = small_chamber.contracts[small_chamber.contracts["siret"].isin(rows["siret"])]
    deals = deals[["siret", "contract_start", "planned_end", "rupture_date"]]
    derived = model.score(companies, related={"contracts": deals})["probability"]
    np.testing.assert_array_equal(derived, model.score(rows)["probability"])
    # As JSON records would bring them: ISO texts, no rupture column.
    records = [
        {**r, "cutoff_date": "2024-01-01", "creation_date": str(r["creation_date"])[:10]}
        for r in companies.to_dict("records")
    ]
    deals_json = deals.assign(
        **{c: deals[c].dt.strftime("%Y-%m-%d") for c in ("contract_start", "planned_end", "rupture_date")}
    )
    derived_json = model.score(records, related={"contracts": deals_json.to_dict("records")})["probability"]
    np.testing.assert_array_equal(derived_json, derived)
