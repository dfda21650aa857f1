"""Reading chamber files: separators, BOM, quarantine written and counted, valid rows kept."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.contracts import COMPANIES, ContractError
from models.reference import Reference
from pipelines.io import read_validated

HEADER = (
    "siret;naf_code;commune_code;creation_date;legal_category;headcount_band;head_qualification;closure_date"
)
ROWS = [
    "73282932000074;43.22A;69384;2012-03-01;5499;02;brevet_maitrise;",
    "44306184100047;96.02A;99999;2015-01-01;1000;NN;cap_bep;",
    "55208131766522;10.71C;33063;03/02/2001;5710;03;aucune;",
]


def test_semicolon_bom_file_with_a_bad_row(tmp_path: Path, reference: Reference) -> None:
    path = tmp_path / "export_cma.csv"
    path.write_text("\ufeff" + HEADER + "\n" + "\n".join(ROWS) + "\n", encoding="utf-8")
    valid, report = read_validated(path, COMPANIES, reference, tmp_path / "q")
    assert valid["siret"].tolist() == ["73282932000074", "55208131766522"]
    assert report.n_invalid == 1
    quarantine = pd.read_csv(tmp_path / "q" / "export_cma.csv.quarantine.csv", dtype=str)
    assert quarantine.loc[0, ["source", "line", "column"]].tolist() == ["export_cma.csv", "3", "commune_code"]


def test_missing_file_is_a_contract_error(tmp_path: Path, reference: Reference) -> None:
    with pytest.raises(ContractError, match="file not found"):
        read_validated(tmp_path / "absent.csv", COMPANIES, reference)


def test_shipped_samples_are_valid(reference: Reference) -> None:
    from models.contracts import APPRENTICESHIP_CONTRACTS
    from pipelines.reference import DATA_SAMPLES

    folder = DATA_SAMPLES / "apprenticeship_host"
    _, rep = read_validated(folder / "companies.csv", COMPANIES, reference)
    assert rep.n_invalid == 0 and rep.n_rows > 100
    _, rep = read_validated(folder / "contracts.csv", APPRENTICESHIP_CONTRACTS, reference)
    assert rep.n_invalid == 0 and rep.n_rows > 50


def test_shipped_error_sample_is_quarantined_row_by_row(tmp_path: Path, reference: Reference) -> None:
    from pipelines.reference import DATA_SAMPLES

    valid, rep = read_validated(
        DATA_SAMPLES / "apprenticeship_host" / "companies_with_errors.csv", COMPANIES, reference, tmp_path
    )
    assert rep.n_invalid == 5 and len(valid) == rep.n_rows - 5
    assert set(rep.errors["column"]) == {
        "siret",
        "naf_code",
        "commune_code",
        "creation_date",
        "headcount_band",
    }
