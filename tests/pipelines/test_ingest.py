"""SIRENE ingestion: official columns, streaming into Parquet, quarantine with line numbers, COG mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from catalog.reference import DATA_SAMPLES, load_passage
from models.contracts import ContractError
from pipelines.ingest import ingest_sirene

STOCK_HEADER = (
    "siren,nic,siret,dateCreationEtablissement,trancheEffectifsEtablissement,activitePrincipaleEtablissement,"
    "nomenclatureActivitePrincipaleEtablissement,codeCommuneEtablissement,etatAdministratifEtablissement"
)
STOCK_ROWS = [
    "732829320,00074,73282932000074,2012-03-01,02,43.22A,NAFRev2,69384,A",
    "443061841,00047,44306184100047,2015-06-01,NN,96.02A,NAFRev2,14729,F",
    "broken,line",
    "552081317,66522,55208131766522,2020-13-45,01,10.71C,NAFRev2,33063,A",
    "552081317,00001,ABC,2020-01-01,01,10.71C,NAFRev2,33063,A",
    "356000000,49837,35600000049837,2001-02-03,NN,47.76Z,NAFRev2,75056,A",
]
HISTORY = """siret,dateFin,dateDebut,etatAdministratifEtablissement,activitePrincipaleEtablissement
73282932000074,,2012-03-01,A,43.22A
44306184100047,2018-02-28,2015-06-01,A,96.02A
44306184100047,,2018-03-01,F,96.02A
"""


def _files(tmp_path: Path) -> tuple[Path, Path]:
    stock = tmp_path / "StockEtablissement.csv"
    stock.write_text(STOCK_HEADER + "\n" + "\n".join(STOCK_ROWS) + "\n", encoding="utf-8")
    history = tmp_path / "StockEtablissementHistorique.csv"
    history.write_text(HISTORY, encoding="utf-8")
    return stock, history


def test_stock_and_history_are_ingested_with_quarantine(tmp_path: Path) -> None:
    stock, history = _files(tmp_path)
    report = ingest_sirene(tmp_path / "out", load_passage(), stock=stock, history=history)
    assert report.rows_read["StockEtablissement.csv"] == 6
    assert report.rows_quarantined["StockEtablissement.csv"] == 3
    quarantine = pd.read_csv(tmp_path / "out" / "quarantine.csv")
    assert quarantine[["line"]].to_numpy().ravel().tolist() == [4, 5, 6]
    reasons = quarantine["reason"].tolist()
    assert (
        reasons[0].startswith("MISSING COLUMNS") and "not a date" in reasons[1] and "14 digits" in reasons[2]
    )

    est = pd.read_parquet(tmp_path / "out" / "establishments.parquet").set_index("siret")
    assert len(est) == 3, "valid rows are kept"
    assert est.loc["44306184100047", "closure_date"] == pd.Timestamp("2018-03-01")
    assert pd.isna(est.loc["73282932000074", "closure_date"])
    assert est.loc["44306184100047", "commune_code"] == "14654", "former code mapped to COG 2026"
    assert report.communes_remapped == 1


def test_missing_official_column_is_named(tmp_path: Path) -> None:
    stock = tmp_path / "stock.csv"
    stock.write_text("siret,dateCreationEtablissement\n73282932000074,2012-03-01\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"missing SIRENE column.*activitePrincipaleEtablissement"):
        ingest_sirene(tmp_path / "out", load_passage(), stock=stock)


def test_parquet_input_gives_the_same_establishments(tmp_path: Path) -> None:
    _stock, history = _files(tmp_path)
    csv_report = ingest_sirene(tmp_path / "a", load_passage(), history=history)
    pd.read_csv(history, dtype=str).to_parquet(tmp_path / "history.parquet")
    parquet_report = ingest_sirene(tmp_path / "b", load_passage(), history=tmp_path / "history.parquet")
    assert csv_report.establishments == parquet_report.establishments == 2
    a = pd.read_parquet(tmp_path / "a" / "establishments.parquet").sort_values("siret").reset_index(drop=True)
    b = pd.read_parquet(tmp_path / "b" / "establishments.parquet").sort_values("siret").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_real_lyon_extract(tmp_path: Path) -> None:
    path = DATA_SAMPLES / "sirene" / "sirene_historique_lyon4e_69384.csv.gz"
    report = ingest_sirene(tmp_path, load_passage(), history=path)
    assert report.rows_read[path.name] == 58_228
    est = pd.read_parquet(tmp_path / "establishments.parquet")
    assert est["siret"].is_unique and 26_000 < len(est) <= 26_614
    assert set(est["commune_code"]) == {"69384"}
    assert est["naf_code"].dropna().str.fullmatch(r"\d{2}\.\d{2}[A-Z]").all(), "NAF rev.1 codes are not kept"
    assert (est["creation_date"] > pd.Timestamp("1900-01-01")).all(), "placeholder dates are not creations"
    naf = est["naf_code"].value_counts()
    assert (naf["70.10Z"], naf["56.10A"], naf["96.02A"]) == (359, 262, 123), (
        "before the 70.10Z rule: 695, 203, 104"
    )


STOCK_WITH_PERIODS = (
    "siret,dateCreationEtablissement,dateDebut,activitePrincipaleEtablissement,codeCommuneEtablissement,"
    "etatAdministratifEtablissement\n"
    "73282932000074,2012-03-01,2012-03-01,43.22A,69384,A\n"
    "44306184100047,2015-06-01,2019-04-01,96.02A,69384,F\n"  # closed: on its current period's first day
    "55208131766522,,2016-01-01,10.71C,69384,A\n"  # no creation date, no history to date it from
    "35600000049837,2001-02-03,,47.76Z,69384,F\n"  # closed, period start unknown
)


def test_a_stock_file_alone_dates_closures_and_quarantines_what_it_cannot_date(tmp_path: Path) -> None:
    """Before: a closed establishment of a stock file had no closure date (survival models saw survivors
    only), and a row without a creation date vanished without a reason."""
    stock = tmp_path / "StockEtablissement.csv"
    stock.write_text(STOCK_WITH_PERIODS, encoding="utf-8")
    report = ingest_sirene(tmp_path / "out", load_passage(), stock=stock)
    est = pd.read_parquet(tmp_path / "out" / "establishments.parquet").set_index("siret")
    assert est.loc["44306184100047", "closure_date"] == pd.Timestamp("2019-04-01")
    assert not est.loc["44306184100047", "closed_without_date"]
    assert pd.isna(est.loc["73282932000074", "closure_date"])
    assert est.loc["35600000049837", "closed_without_date"], "closed, undated: flagged, not a survivor"
    assert "55208131766522" not in est.index
    quarantine = pd.read_csv(tmp_path / "out" / "quarantine.csv")
    assert quarantine[["line", "reason"]].values.tolist() == [
        [4, "no dateCreationEtablissement and no period to date it from"]
    ]
    assert report.rows_quarantined["StockEtablissement.csv"] == 1
    assert "no period to date it from" in report.summary()


def test_a_row_without_creation_date_is_dated_from_its_first_period(tmp_path: Path) -> None:
    stock = tmp_path / "StockEtablissement.csv"
    stock.write_text(STOCK_WITH_PERIODS, encoding="utf-8")
    history = tmp_path / "StockEtablissementHistorique.csv"
    history.write_text(
        "siret,dateFin,dateDebut,etatAdministratifEtablissement\n55208131766522,,2016-01-01,A\n",
        encoding="utf-8",
    )
    report = ingest_sirene(tmp_path / "out", load_passage(), stock=stock, history=history)
    est = pd.read_parquet(tmp_path / "out" / "establishments.parquet").set_index("siret")
    assert est.loc["55208131766522", "creation_date"] == pd.Timestamp("2016-01-01")
    assert report.rows_quarantined["StockEtablissement.csv"] == 0
    assert any("dated from its first period" in reason for reason in report.reasons)


HEAD_OFFICE_HISTORY = """siret,dateFin,dateDebut,etatAdministratifEtablissement,\
activitePrincipaleEtablissement
10000000000001,2012-05-31,2012-01-01,A,70.10Z
10000000000001,,2012-06-01,A,56.10A
10000000000002,,2014-01-01,A,70.10Z
10000000000003,2016-12-31,2015-01-01,A,96.02A
10000000000003,,2017-01-01,A,70.10Z
10000000000004,2007-12-31,2005-01-01,A,55.3A
10000000000004,2009-12-31,2008-01-01,A,70.10Z
10000000000004,2019-12-31,2010-01-01,A,96.02A
10000000000004,,2020-01-01,F,96.02A
10000000000005,,2018-01-01,A,70.10Z
"""


def test_the_activity_is_the_first_code_other_than_head_office(tmp_path: Path) -> None:
    """70.10Z (head office) first, then the trade: the trade. Before, 70.10Z was kept because it came first
    (in Lyon 4e, 59 of 262 restaurants 56.10A and 19 of 123 hairdressers 96.02A were classed head offices)."""
    history = tmp_path / "StockEtablissementHistorique.csv"
    history.write_text(HEAD_OFFICE_HISTORY, encoding="utf-8")
    stock = tmp_path / "StockEtablissement.csv"
    stock.write_text(
        "siret,dateCreationEtablissement,activitePrincipaleEtablissement,codeCommuneEtablissement,"
        "etatAdministratifEtablissement\n"
        "10000000000002,2014-01-01,70.10Z,69384,A\n"
        "10000000000005,2018-01-01,43.22A,69384,A\n",  # the stock's current code: another activity
        encoding="utf-8",
    )
    expected = {
        "10000000000001": "56.10A",  # head office, then restaurant
        "10000000000002": "70.10Z",  # only ever a head office
        "10000000000003": "96.02A",  # hairdresser that became a head office: its first activity
        "10000000000004": "96.02A",  # NAF rev.1 code skipped, then head office, then hairdresser
        "10000000000005": "70.10Z",
    }
    ingest_sirene(tmp_path / "history", load_passage(), history=history)
    naf = pd.read_parquet(tmp_path / "history" / "establishments.parquet").set_index("siret")["naf_code"]
    assert naf.to_dict() == expected
    ingest_sirene(tmp_path / "both", load_passage(), stock=stock, history=history)
    naf = pd.read_parquet(tmp_path / "both" / "establishments.parquet").set_index("siret")["naf_code"]
    assert naf.to_dict() == {"10000000000002": "70.10Z", "10000000000005": "43.22A"}
    ingest_sirene(tmp_path / "stock", load_passage(), stock=stock)
    naf = pd.read_parquet(tmp_path / "stock" / "establishments.parquet").set_index("siret")["naf_code"]
    assert naf.to_dict() == {"10000000000002": "70.10Z", "10000000000005": "43.22A"}
