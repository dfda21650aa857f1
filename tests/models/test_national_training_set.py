"""The dropout training set of the national formats: contracts merged across formats, outcomes in words,
and the label (gross or definitive rupture) said by the retraining config."""

from __future__ import annotations

from datetime import date

import pandas as pd

from models.contracts import APPRENTICE_CONTRACTS
from models.dropout_risk.national import (
    BROKEN_AGAIN,
    BROKEN_FOR_GOOD,
    BROKEN_OPEN,
    BROKEN_RECENTLY,
    COMPLETED,
    OUTCOME,
    RUNNING,
    dropout_training_set,
    extract_config,
    merge_sources,
    outcomes,
    scoring_rows,
)


def _row(**values: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(APPRENTICE_CONTRACTS.column_names)
    row.update(values)
    return row


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for name in ("contract_start", "planned_end", "rupture_date"):
        frame[name] = pd.to_datetime(frame[name])
    return frame


def test_merge_takes_each_field_from_the_first_format_that_knows_it() -> None:
    rows = _frame(
        [
            _row(contract_id="c1", learner_id="l1", source="sifa", contract_start="2023-09-01", diploma="CAP",
                 prior_qualification="brevet", siret="11111111111111"),
            _row(contract_id="c1", learner_id="l1", source="deca", contract_start="2023-09-01",
                 planned_end="2025-08-31", siret="22222222222222", diploma=None),
            _row(contract_id="c1", learner_id="l1", source="sifa", contract_start="2023-09-01",
                 diploma="CAP"),
        ]
    )  # fmt: skip
    merged = merge_sources(rows)
    assert len(merged) == 1
    one = merged.iloc[0]
    assert one["siret"] == "22222222222222"  # DECA wins
    assert one["diploma"] == "CAP"  # DECA did not say: SIFA's
    assert one["prior_qualification"] == "brevet"
    assert one["sources"] == "deca+sifa"


def test_outcomes_tell_a_rupture_followed_by_a_new_contract_from_a_definitive_one() -> None:
    contracts = _frame(
        [
            # broken, new contract 2 months later: not definitive
            _row(contract_id="a1", learner_id="A", contract_start="2022-09-01", planned_end="2024-08-31",
                 rupture_date="2022-10-01"),
            _row(contract_id="a2", learner_id="A", contract_start="2022-12-01", planned_end="2024-08-31"),
            # broken, nothing after: definitive once 3 months have passed
            _row(contract_id="b1", learner_id="B", contract_start="2022-09-01", planned_end="2024-08-31",
                 rupture_date="2023-01-10"),
            # broken a month before the extraction: too early to know
            _row(contract_id="c1", learner_id="C", contract_start="2022-09-01", planned_end="2024-11-30",
                 rupture_date="2024-11-30"),
            # broken, but its cohort is not closed (planned end after the extraction): left out
            _row(contract_id="h1", learner_id="H", contract_start="2024-09-01", planned_end="2026-08-31",
                 rupture_date="2024-10-01"),
            # ended early by the diploma: completed
            _row(contract_id="g1", learner_id="G", contract_start="2022-09-01", planned_end="2024-08-31",
                 rupture_date="2024-06-30", rupture_cause="diplome"),
            # running
            _row(contract_id="d1", learner_id="D", contract_start="2024-09-01", planned_end="2026-08-31"),
            # a rupture after the extraction date is not known yet: running
            _row(contract_id="e1", learner_id="E", contract_start="2024-09-01", planned_end="2026-08-31",
                 rupture_date="2025-02-01"),
        ]
    )  # fmt: skip
    said = outcomes(contracts, date(2024, 12, 31), relapse_months=3).tolist()
    assert said == [
        BROKEN_AGAIN, COMPLETED, BROKEN_FOR_GOOD, BROKEN_RECENTLY, BROKEN_OPEN, COMPLETED, RUNNING, RUNNING
    ]  # fmt: skip


def test_the_label_is_configurable_and_the_running_contracts_are_what_is_scored() -> None:
    contracts = _frame(
        [
            _row(contract_id="b1", learner_id="B", contract_start="2022-09-01", planned_end="2024-08-31",
                 rupture_date="2023-01-10", age=17.0, diploma="CAP"),
            _row(contract_id="d1", learner_id="D", contract_start="2024-09-01", planned_end="2026-08-31",
                 age=19.0, diploma="BTS", sex="F"),
        ]
    )  # fmt: skip
    training = dropout_training_set(merge_sources(contracts.assign(source="deca")), date(2024, 12, 31))
    assert training[OUTCOME].tolist() == [BROKEN_FOR_GOOD, RUNNING]
    assert "learner_id" not in training  # the learner key joins formats; the model never needs it
    to_score = scoring_rows(training)
    assert to_score["contract_id"].tolist() == ["d1"] and OUTCOME not in to_score
    gross = extract_config("cfa", "gross", 3, date(2024, 12, 31), "x.csv")
    definitive = extract_config("cfa", "definitive", 3, date(2024, 12, 31), "x.csv")
    assert BROKEN_AGAIN in gross["columns"]["target"]["positive"]
    assert BROKEN_AGAIN in definitive["columns"]["target"]["negative"]
    assert RUNNING not in gross["columns"]["target"]["negative"]  # unknown outcome: left out
    assert (
        BROKEN_RECENTLY
        not in definitive["columns"]["target"]["positive"] + definitive["columns"]["target"]["negative"]
    )
    assert "3 mois" in definitive["card"]["outcome"]
    assert set(gross["columns"]["sensitive"]) == {"sex", "rqth"}
