"""`cma-predict import` on SIFA exports: the broken rows of a real layout quarantined by file, line, SIFA
field and reason (never the value), the valid ones kept, nothing personal written."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from catalog.formats.sifa import SIFA_FIELDS
from pipelines.cli import app

SECRET = "0123456789abcdef-test-secret"
MARKER = "ZQXMARKER"


def sifa_row(**values: str) -> dict[str, str]:
    """A SIFA row with invented personal fields carrying the marker, and a valid contract."""
    row = dict.fromkeys(SIFA_FIELDS, "")
    row.update(
        INE=f'="{MARKER}01"',
        NOM=f"NOM{MARKER}",
        PRENOM1=f"Prenom{MARKER}",
        ADRESSE=f"3 rue {MARKER}",
        COD_POST='="69004"',
        COM_RESID='="69384"',
        TEL_JEUNE=f'="06{MARKER}"',
        MAIL_JEUNE=f"{MARKER}@example.org",
        MAIL_RESP1=f"parent.{MARKER}@example.org",
        LIEU_NAIS=f'="{MARKER}"',
        DATE_NAIS='="05032006"',
        SEXE="2",
        HANDI="0",
        DIPLOME='="50022101"',
        DUR_FORM_THEO="24",
        AN_FORM="1A",
        SIT_AV_APP="11",
        DIP_OBT='="03"',
        TYPE_EMP="11",
        DATE_DEB_CONT='="02092024"',
        NAF_ETAB="9602A",
        NBSAL_EMP="3",
        SIRET_EMP='="73282932000074"',
    )
    row.update(values)
    return row


def write_sifa(path: Path, rows: list[dict[str, str]], header: bool = True) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    if header:
        writer.writerow(SIFA_FIELDS)
    for row in rows:
        writer.writerow([row[f] for f in SIFA_FIELDS])
    path.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode("utf-8"))
    return path


def readable(path: Path) -> str:
    """A written file's text: a CSV's, or every part of an `.xlsx` (a zip of XML files)."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as book:
            return "".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())
    return path.read_text(encoding="utf-8")


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMA_PSEUDONYM_KEY", SECRET)


def test_sifa_rows_broken_in_every_usual_way_are_quarantined_by_line_and_sifa_field(
    tmp_path: Path, secret: None
) -> None:
    rows = [
        sifa_row(),  # line 2: valid, Excel-quoted, ddMMyyyy dates
        sifa_row(NOM="DUPONT", PRENOM1="Helene", DATE_DEB_CONT="02/09/2024"),  # 3: French date, valid
        sifa_row(NOM="DURAND", PRENOM1="Noel", DATE_DEB_CONT="2024-09-02"),  # 4: ISO date, valid
        sifa_row(NOM="MARTIN", SIRET_EMP='="73282932000075"'),  # 5: SIRET checksum
        sifa_row(NOM="PETIT", NAF_ETAB="9999Z"),  # 6: unknown NAF
        sifa_row(NOM="ROUX", DATE_DEB_CONT='="31022024"'),  # 7: not a date
        sifa_row(NOM="FAURE", DATE_NAIS="pas une date"),  # 8: no birth date: no key
        sifa_row(NOM="BLANC", DIP_OBT='="42"'),  # 9: unknown code
    ]
    source = write_sifa(tmp_path / "sifa_2024.csv", rows)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["import", "--format", "sifa", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    quarantine = pd.read_csv(out / "quarantine.csv")
    assert list(quarantine.columns) == ["source", "line", "field", "reason"]  # no value column
    found = {(int(r.line), r.field) for r in quarantine.itertuples()}
    assert found == {
        (5, "SIRET_EMP"),
        (6, "NAF_ETAB"),
        (7, "DATE_DEB_CONT"),
        (7, "NOM+PRENOM1+DATE_NAIS+DATE_DEB_CONT"),
        (8, "NOM+PRENOM1+DATE_NAIS"),
        (9, "DIP_OBT"),
    }
    assert set(quarantine["source"]) == {"sifa_2024.csv"}
    assert "Luhn" in quarantine.set_index("field").loc["SIRET_EMP", "reason"]
    kept = pd.read_csv(out / "apprentice_contracts.csv")
    assert len(kept) == 3
    assert set(kept["contract_start"]) == {"2024-09-02"}  # three date forms read alike
    assert kept["learner_id"].nunique() == 3 and kept["learner_id"].str.startswith("k1-").all()
    assert "sifa_2024.csv (sifa): apprentice_contracts: 8 rows read, 3 kept, 5 quarantined" in result.output
    for path in out.iterdir():
        assert MARKER not in readable(path), path.name
    assert MARKER not in result.output


def test_a_sifa_export_without_its_header_is_read_by_position(tmp_path: Path, secret: None) -> None:
    source = write_sifa(tmp_path / "sifa.csv", [sifa_row(), sifa_row(NOM="DUPONT")], header=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["import", str(source), "--out", str(out)])  # --format auto
    assert result.exit_code == 0, result.output
    kept = pd.read_csv(out / "apprentice_contracts.csv")
    assert len(kept) == 2 and set(kept["naf_code"]) == {"96.02A"} and set(kept["diploma"]) == {"CAP"}
    assert (
        "line" not in pd.read_csv(out / "quarantine.csv").columns
        or len(pd.read_csv(out / "quarantine.csv")) == 0
    )


def test_the_same_learner_keeps_the_same_key_across_files_and_not_across_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accented = sifa_row(NOM="Lefèvre-Dupré", PRENOM1="Hélène")
    stripped = sifa_row(NOM="LEFEVRE DUPRE", PRENOM1="HELENE")
    keys = []
    for secret_value, row in (
        (SECRET, accented),
        (SECRET, stripped),
        ("another-secret-0123456789", stripped),
    ):
        monkeypatch.setenv("CMA_PSEUDONYM_KEY", secret_value)
        out = tmp_path / f"out{len(keys)}"
        source = write_sifa(tmp_path / f"s{len(keys)}.csv", [row])
        assert CliRunner().invoke(app, ["import", str(source), "--out", str(out)]).exit_code == 0
        keys.append(pd.read_csv(out / "apprentice_contracts.csv")["learner_id"].iloc[0])
    assert keys[0] == keys[1]  # SIFA strips accents and hyphens: the key does too
    assert keys[1] != keys[2]


def test_no_secret_no_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CMA_PSEUDONYM_KEY", raising=False)
    source = write_sifa(tmp_path / "sifa.csv", [sifa_row()])
    result = CliRunner().invoke(app, ["import", str(source), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "CMA_PSEUDONYM_KEY" in result.output
    assert not (tmp_path / "out").exists()


def test_a_file_of_no_known_format_is_refused_whole(tmp_path: Path, secret: None) -> None:
    source = tmp_path / "notes.json"
    source.write_text('[{"hello": "world"}]', encoding="utf-8")
    result = CliRunner().invoke(app, ["import", str(source), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no known format" in result.output


def test_a_sifa_xlsx_export_reads_as_its_csv(tmp_path: Path, secret: None) -> None:
    """The dashboard's newer SIFA export is an `.xlsx`: the same rows as the CSV export."""
    from pipelines.io import write_table

    rows = [sifa_row(), sifa_row(NOM="DUPONT", NAF_ETAB="9999Z")]
    csv_source = write_sifa(tmp_path / "sifa.csv", rows)
    frame = pd.DataFrame([{k: v.removeprefix('="').removesuffix('"') for k, v in r.items()} for r in rows])
    xlsx_source = write_table(frame.replace("", None), tmp_path / "sifa.xlsx")
    outputs = []
    for source in (csv_source, xlsx_source):
        out = tmp_path / source.suffix.lstrip(".")
        result = CliRunner().invoke(app, ["import", str(source), "--out", str(out)])
        assert result.exit_code == 0, result.output
        outputs.append(pd.read_csv(out / "apprentice_contracts.csv"))
        quarantine = pd.read_csv(out / "quarantine.csv")
        assert quarantine[["line", "field"]].values.tolist() == [[3, "NAF_ETAB"]]
    pd.testing.assert_frame_equal(outputs[0], outputs[1])


def test_train_extract_takes_the_national_exports_directly(
    mlflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.reference import DATA_SAMPLES

    monkeypatch.setenv("CMA_PSEUDONYM_KEY", SECRET)
    folder = DATA_SAMPLES / "national" / "dropout"
    files = [folder / "erp.ndjson.gz", folder / "deca.ndjson.gz", *sorted(folder.glob("sifa_*"))]
    args = ["train-extract", *(f"--data={path}" for path in files)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "dropout_risk_import" in result.output and "Promotion: no champion yet" in result.output
    assert (mlflow_home / "data" / "import" / "dropout_training_set.yaml").exists()
    mixed = CliRunner().invoke(app, ["train-extract", f"--data={files[0]}", "--data=other.csv"])
    assert mixed.exit_code == 2


def test_a_sirene_file_becomes_companies_the_chamber_does_not_register(tmp_path: Path, secret: None) -> None:
    from pipelines.reference import DATA_SAMPLES

    source = DATA_SAMPLES / "sirene" / "sirene_historique_lyon4e_69384.csv.gz"  # StockEtablissementHistorique
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["import", "--format", "sirene", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    companies = pd.read_csv(out / "companies.csv", dtype=str)
    assert len(companies) > 10_000 and set(companies["commune_code"]) == {"69384"}
    assert companies["legal_category"].isna().all() and companies["head_qualification"].isna().all()
    quarantine = pd.read_csv(out / "quarantine.csv")
    assert set(quarantine["field"]) <= {"activitePrincipaleEtablissement", "trancheEffectifsEtablissement"}
    assert "companies: 26,293 rows read" in result.output.replace("\n", "")
