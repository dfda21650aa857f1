"""Data contracts: typed valid rows, and errors naming source, line, column and reason."""

from __future__ import annotations

import pandas as pd
import pytest

from models.contracts import (
    APPRENTICESHIP_CONTRACTS,
    COMPANIES,
    ContractError,
    contract_markdown,
    luhn_valid,
    validate_table,
)
from models.reference import Reference

GOOD = {
    "siret": "73282932000074",
    "naf_code": "43.22A",
    "commune_code": "69384",
    "creation_date": "2012-03-01",
    "legal_category": "5499",
    "headcount_band": "02",
    "head_qualification": "brevet_maitrise",
    "closure_date": "",
}


def _companies(*rows: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame([{**GOOD, **row} for row in rows], dtype=str)


def test_luhn_accepts_real_sirets_and_rejects_a_typo() -> None:
    ok = luhn_valid(pd.Series(["73282932000074", "35600000049837", "73282932000075"]))
    assert ok.tolist() == [True, True, False]


def test_la_poste_passes_by_luhn_or_its_own_rule() -> None:
    # La Poste's head office passes Luhn; its establishments pass by the sum of their digits.
    assert luhn_valid(pd.Series(["35600000000048", "35600000049837"])).tolist() == [True, True]


def test_a_siret_in_other_digits_is_a_row_error_not_a_crash(reference: Reference) -> None:
    arabic = "".join(chr(0x0660 + int(c)) for c in GOOD["siret"])  # Arabic-Indic digits
    valid, report = validate_table(_companies({"siret": arabic}), COMPANIES, reference, "companies.csv")
    assert len(valid) == 0 and report.n_invalid == 1


def test_valid_rows_are_typed(reference: Reference) -> None:
    valid, report = validate_table(_companies({}), COMPANIES, reference, "companies.csv")
    assert report.n_invalid == 0
    assert valid.loc[0, "creation_date"] == pd.Timestamp("2012-03-01")
    assert pd.isna(valid.loc[0, "closure_date"])
    assert valid.loc[0, "naf_code"] == "43.22A"


def test_codes_are_normalized(reference: Reference) -> None:
    valid, report = validate_table(
        _companies({"naf_code": "4322a", "commune_code": "2a004", "creation_date": "01/03/2012"}),
        COMPANIES,
        reference,
        "c.csv",
    )
    assert report.n_invalid == 0
    assert (valid.loc[0, "naf_code"], valid.loc[0, "commune_code"]) == ("43.22A", "2A004")
    assert valid.loc[0, "creation_date"] == pd.Timestamp("2012-03-01")


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ({"naf_code": "99.99Z"}, "naf_code", "unknown NAF rev.2 sub-class"),
        ({"commune_code": "99999"}, "commune_code", "unknown INSEE commune code"),
        ({"creation_date": "2012-13-45"}, "creation_date", "not a date"),
        ({"siret": "73282932000075"}, "siret", "Luhn"),
        ({"siret": "7328293200007"}, "siret", "expected 14 digits"),
        ({"headcount_band": "7"}, "headcount_band", "not an allowed value"),
        ({"legal_category": "9999"}, "legal_category", "not an allowed value"),
        ({"creation_date": ""}, "creation_date", "missing value"),
        ({"closure_date": "2001-01-01"}, "closure_date", "before creation_date"),
    ],
)
def test_invalid_row_is_quarantined_with_line_column_reason(
    reference: Reference, row: dict[str, str], column: str, reason: str
) -> None:
    other = {"siret": "44306184100047"}
    raw = _companies(other, row, {"siret": "55208131766522"})
    valid, report = validate_table(raw, COMPANIES, reference, "companies.csv")
    assert report.n_rows == 3
    assert report.n_valid == 2, "the two valid rows are kept"
    assert set(valid["siret"]) == {"44306184100047", "55208131766522"}
    err = report.errors.iloc[0]
    assert (err["source"], err["line"], err["column"]) == ("companies.csv", 3, column)
    assert reason in err["reason"]
    assert f"companies.csv:3: column '{column}'" in report.summary()


def test_missing_column_names_file_and_column(reference: Reference) -> None:
    raw = _companies({}).drop(columns=["naf_code"])
    with pytest.raises(ContractError, match=r"companies\.csv: missing column\(s\) 'naf_code'"):
        validate_table(raw, COMPANIES, reference, "companies.csv")


def test_what_a_source_may_not_say_is_kept_empty(reference: Reference) -> None:
    # A SIRENE establishment file has no legal category or head's qualification, an RNE formality may lack
    # the headcount: such rows are kept, those fields empty.
    unknown = {"legal_category": "", "head_qualification": "", "headcount_band": ""}
    valid, report = validate_table(_companies(unknown), COMPANIES, reference, "companies.csv")
    assert report.n_invalid == 0
    assert valid.loc[0, ["legal_category", "head_qualification", "headcount_band"]].isna().all()


def test_former_commune_code_is_mapped_to_the_current_one(reference: Reference) -> None:
    # 14729 is a former commune merged into Saint-Pierre-en-Auge (14654).
    assert reference.former_communes["14729"] == "14654"
    valid, report = validate_table(_companies({"commune_code": "14729"}), COMPANIES, reference, "c.csv")
    assert report.n_invalid == 0 and valid.loc[0, "commune_code"] == "14654"


def test_headers_with_spaces_and_bom_are_accepted(reference: Reference) -> None:
    raw = _companies({}).rename(columns={"siret": "\ufeffsiret ", "naf_code": " naf_code"})
    valid, report = validate_table(raw, COMPANIES, reference, "c.csv")
    assert report.n_valid == 1 and list(valid.columns)[:2] == ["siret", "naf_code"]


def test_duplicate_key_keeps_first(reference: Reference) -> None:
    _, report = validate_table(_companies({}, {}), COMPANIES, reference, "c.csv")
    assert report.n_valid == 1
    assert report.errors.iloc[0]["line"] == 3
    assert "duplicate key" in report.errors.iloc[0]["reason"]


def test_contract_date_rules(reference: Reference) -> None:
    base = {
        "contract_id": "C1",
        "siret": "73282932000074",
        "contract_start": "2022-09-01",
        "planned_end": "2024-08-31",
        "rupture_date": "",
        "diploma": "CAP",
    }
    raw = pd.DataFrame(
        [
            base,
            {**base, "contract_id": "C2", "planned_end": "2022-08-01"},
            {**base, "contract_id": "C3", "rupture_date": "2025-01-01"},
            {**base, "contract_id": "C4", "diploma": "DOCTORAT"},
        ],
        dtype=str,
    )
    valid, report = validate_table(raw, APPRENTICESHIP_CONTRACTS, reference, "contracts.csv")
    assert valid["contract_id"].tolist() == ["C1"]
    assert report.errors[["line", "column"]].values.tolist() == [
        [3, "planned_end"],
        [4, "rupture_date"],
        [5, "diploma"],
    ]


def test_contract_markdown_lists_every_column() -> None:
    text = contract_markdown(COMPANIES)
    for name in COMPANIES.column_names:
        assert f"`{name}`" in text
