"""INSEE BPE files into the site store: the "ensemble" layout (one row per equipment), bad rows quarantined
by line and reason, former communes brought to COG 2026, a newer year added next to the shipped ones."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from catalog.reference import BPE_SAMPLE, load_bpe_types, load_passage, load_reference
from models.contracts import ContractError
from pipelines.bpe import ingest_bpe, read_bpe
from pipelines.cli import app

HEADER = "REG;DEP;DEPCOM;DCIRIS;AN;TYPEQU;LAMBERT_X;LAMBERT_Y;QUALITE_XY"


def _ensemble(path: Path, rows: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join([HEADER, *rows]) + "\n")
    return path


def _rows() -> list[str]:
    return [
        "75;33;33063;330630101;2021;A501;417000;6423000;Bonne",  # line 2
        "75;33;33063;330630102;2021;A501;417100;6423100;Bonne",  # line 3
        "75;33;33063;330630102;2021;B101;417100;6423100;Bonne",  # line 4: a hypermarket, not a trade
        "84;01;01039;;2021;A501;;;Non géolocalisé",  # line 5: Culoz, merged into Culoz-Béon (01138)
        "75;33;3306;;2021;A501;;;",  # line 6: malformed commune
        "75;33;33999;;2021;A501;;;",  # line 7: no such commune
        "75;33;33063;;2021;coif;;;",  # line 8: malformed type
        "75;33;33063;;vingt;A501;;;",  # line 9: no year
    ]


def test_an_ensemble_file_is_counted_by_commune_and_type(tmp_path: Path) -> None:
    path = _ensemble(tmp_path / "bpe21_ensemble_xy.csv.gz", _rows())
    counts, quarantine, report = read_bpe(path, load_reference(), load_passage(), load_bpe_types())
    by = counts.set_index(["commune_code", "typequ"])["count"]
    assert by[("33063", "A501")] == 2
    assert by[("01138", "A501")] == 1, "a former commune code counts in its COG 2026 commune"
    assert "B101" not in set(counts["typequ"]) and report.other_types == 1
    assert report.years == [2021] and report.rows_read == 8 and report.rows_kept == 3
    assert report.communes_remapped == 1
    assert quarantine[["line", "field"]].values.tolist() == [
        [6, "DEPCOM"],
        [8, "TYPEQU"],
        [9, "AN"],
        [7, "DEPCOM"],
    ]
    assert report.rows_quarantined == 4
    text = quarantine.to_csv(index=False)
    for value in ("3306;", "33999", "coif", "vingt"):
        assert value not in text, "the quarantine gives line, field and reason, never the value"


def test_a_file_without_the_columns_or_a_year_is_refused(tmp_path: Path) -> None:
    reference, passage, types = load_reference(), load_passage(), load_bpe_types()
    other = tmp_path / "autre.csv"
    other.write_text("commune;type\n33063;A501\n", encoding="utf-8")
    with pytest.raises(ContractError, match="DEPCOM, TYPEQU"):
        read_bpe(other, reference, passage, types)
    no_year = tmp_path / "sans_annee.csv"
    no_year.write_text("DEPCOM;TYPEQU\n33063;A501\n", encoding="utf-8")
    with pytest.raises(ContractError, match="--year"):
        read_bpe(no_year, reference, passage, types)
    counts, _, report = read_bpe(no_year, reference, passage, types, year=2022)
    assert report.years == [2022] and counts["count"].sum() == 1


def test_a_newer_year_is_added_next_to_the_shipped_ones(tmp_path: Path) -> None:
    store = tmp_path / "store"
    reference, passage, types = load_reference(), load_passage(), load_bpe_types()
    shipped = ingest_bpe(BPE_SAMPLE, store, reference, passage, types)
    assert shipped.years == [2009, 2013] and shipped.rows_quarantined == 0
    path = _ensemble(tmp_path / "BPE21.csv.gz", _rows())
    result = CliRunner().invoke(app, ["ingest-bpe", str(path), "--out", str(store)])
    assert result.exit_code == 0, result.output
    assert "4 quarantined" in " ".join(result.output.split())
    assert len(pd.read_csv(store / "quarantine_bpe.csv")) == 4
    table = pd.read_parquet(store / "competition.parquet")
    assert sorted(table["year"].unique()) == [2009, 2013, 2021]
    bordeaux = table[(table["commune_code"] == "33063") & (table["typequ"] == "A501")]
    assert bordeaux.set_index("year")["count"].to_dict() == {2009: 362.0, 2013: 388.0, 2021: 2.0}
    again = ingest_bpe(BPE_SAMPLE, store, reference, passage, types)
    assert again.years == [2009, 2013]
    assert sorted(pd.read_parquet(store / "competition.parquet")["year"].unique()) == [2009, 2013, 2021]
