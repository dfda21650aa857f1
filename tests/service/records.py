"""Random valid and invalid records of the two models' record schemas (derived from their contracts), and
the pydantic reference every faster reader is compared with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from models.apprenticeship_host.model import HOST_INPUT
from models.dropout_risk.features import dropout_input
from service.model_schemas import record_schema, request_schema
from service.validation import ValidBatch, validate_records

# The record schemas the service derives from the two models' own contracts.
HostCompany = record_schema(HOST_INPUT, "HostCompany")
DropoutContract = record_schema(dropout_input(6), "DropoutContract")
HostScoresRequest = request_schema(HostCompany, "companies", {}, "HostScoresRequest", {})

Record = dict[str, Any]


def luhn_siret(rng: np.random.Generator) -> str:
    """A random SIRET with a valid Luhn key (outside La Poste's SIREN), as the simulators write them."""
    body = [int(d) for d in rng.integers(0, 10, size=13)]
    body[0] = body[0] or 1
    for check in range(10):
        digits = [*body, check]
        doubled = [d * 2 - 9 if d * 2 > 9 else d * 2 for d in digits[0::2]]
        if (sum(doubled) + sum(digits[1::2])) % 10 == 0 and not "".join(map(str, digits)).startswith(
            "356000000"
        ):
            return "".join(map(str, digits))
    return luhn_siret(rng)


def host_record(rng: np.random.Generator) -> Record:
    cutoff = date(2025, 1, 1) - timedelta(days=int(rng.integers(0, 800)))
    record: Record = {
        "siret": luhn_siret(rng),
        "naf_code": str(rng.choice(["43.22A", "4322A", "96.02a", "10.71C", "45.20A"])),
        "commune_code": str(rng.choice(["69384", "2A004", "2b033", "33063", "01001"])),
        "creation_date": (cutoff - timedelta(days=int(rng.integers(1, 20_000)))).isoformat(),
        "legal_category": str(rng.choice(["1000", "5499", "5710"])),
        "headcount_band": str(rng.choice(["NN", "00", "01", "11"])),
        "head_qualification": str(rng.choice(["aucune", "cap_bep", "superieur"])),
        "contracts_last_12m": int(rng.integers(0, 3)),
        "years_since_last_contract": None if rng.random() < 0.3 else float(rng.uniform(0, 8)),
    }
    if rng.random() < 0.5:
        record["cutoff_date"] = cutoff.isoformat()
    if rng.random() < 0.5:
        record["years_since_last_contract"] = int(rng.integers(0, 5))  # an int for a float field
    return record


def dropout_record(rng: np.random.Generator) -> Record:
    start = date(2024, 9, 1) + timedelta(days=int(rng.integers(0, 60)))
    record: Record = {
        "contract_id": f"CTR-{int(rng.integers(0, 10**6))}",
        "contract_start": start.isoformat(),
        "planned_end": (start + timedelta(days=700)).isoformat(),
        "diploma": str(rng.choice(["CAP", "BP", "BTS"])),
        "naf_code": str(rng.choice(["96.02A", "10.71C"])),
        "birth_year": int(rng.integers(1990, 2010)),
        "sex": str(rng.choice(["F", "M"])),
        "prior_qualification": str(rng.choice(["aucun", "brevet"])),
        "distance_home_centre_km": float(rng.uniform(0, 80)),
        "distance_home_employer_km": int(rng.integers(0, 50)),
        "absence_half_days": int(rng.integers(0, 10)),
        "assessment_score_mean": None if rng.random() < 0.3 else float(rng.uniform(0, 20)),
    }
    if rng.random() < 0.5:
        record["headcount_band"] = str(rng.choice(["00", "01", "NN"]))
    return record


# Ways a value can go wrong, or be unusual yet valid for pydantic (the column-wise path must defer to it).
VALUE_MUTATIONS: list[Any] = [
    None,
    True,
    "",
    "abc",
    "1" * 200,
    "２０２４-01-01",
    "2023-02-30",
    "2023-2-3",
    "1650-01-01",
    "2024-01-01T00:00:00",
    "12345678901234\n",
    "١٢٣٤٥٦٧٨٩٠١٢٣٤",
    -1,
    10**30,
    2.0,
    2.5,
    float("inf"),
    "3",
    [1],
    {"a": 1},
    # Of the right form, yet impossible (the contract's rules refuse them) or rare but real.
    "73282932000075",
    "35600000049837",
    "99.99Z",
    "00000",
    "2099-01-01",
    "1990-01-01",
]


def mutate(record: Record, rng: np.random.Generator, fields: list[str]) -> Any:
    kind = rng.integers(0, 5)
    if kind == 0:
        return "not a record"
    mutated = dict(record)
    if kind == 1:
        mutated.pop(str(rng.choice(fields)), None)
    elif kind == 2:
        mutated["unknown_field"] = 1
    else:
        mutated[str(rng.choice(fields))] = VALUE_MUTATIONS[rng.integers(len(VALUE_MUTATIONS))]
    return mutated


def batch(
    make: Callable[[np.random.Generator], Record], schema: type[BaseModel], n: int, seed: int
) -> list[Any]:
    rng = np.random.default_rng(seed)
    fields = list(schema.model_fields)
    return [mutate(make(rng), rng, fields) if rng.random() < 0.3 else make(rng) for _ in range(n)]


def pydantic_reference(records: list[Any], schema: type[BaseModel]) -> ValidBatch:
    valid, errors = validate_records(records, schema)
    return ValidBatch(schema, [i for i, _ in valid], errors, records=[item.model_dump() for _, item in valid])


def assert_same(got: ValidBatch, expected: ValidBatch) -> None:
    assert got.indices == expected.indices
    assert [e.model_dump() for e in got.errors] == [e.model_dump() for e in expected.errors]
    pd.testing.assert_frame_equal(got.as_frame(), expected.as_frame())


SAME_TYPE_MUTATIONS: dict[str, list[Any]] = {
    "text": [
        *[None, "", "abc", "1" * 200, "12345678901234\n", "١٢٣٤٥٦٧٨٩٠١٢٣٤", "43.22a", " 69384"],
        *["73282932000075", "35600000049837", "99.99Z", "00000", "2a004"],
    ],
    "date": [
        *[None, "2023-02-30", "2023-2-3", "1650-01-01", "2024-01-01T00:00:00", "２０２４-01-01", ""],
        *["2099-01-01", "1990-01-01"],
    ],
    "int": [None, -1, 5000, 10**6, 0],
    "float": [None, -1.0, 2, 1000.5, 0.0],
}
