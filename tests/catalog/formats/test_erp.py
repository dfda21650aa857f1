"""The ERP API v3 reader: one row per contract of a record, keys that join SIFA's, nothing personal copied
out of a record, and what the contract then quarantines at which line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from catalog.formats.common import FormatError, FormatRead, Pseudonymiser
from catalog.formats.erp import ERP_FIELDS, FIELDS, NEVER_READ, READ, read_erp
from models.contracts import APPRENTICE_CONTRACTS, validate_table
from models.reference import Reference

PSEUDONYMS = Pseudonymiser(b"0123456789abcdef-test")
SIRET = "73282932000074"
OTHER_SIRET = "44306184100047"
BAD_SIRET = "73282932000075"  # Luhn fails

MARKER = "ZQXMARK"
"""Planted in every personal field the reader must never copy; it must appear nowhere in what it returns."""


def personal_fields(tag: str) -> dict[str, object]:
    """Every personal field of an ERP v3 record the reader must not read, each holding the marker."""
    return {
        "id_erp_apprenant": f"{MARKER}-id-{tag}",
        "ine_apprenant": f"{MARKER}INE{tag}",
        "nir_apprenant": f"{MARKER}NIR{tag}",
        "email_contact": f"eloise.{MARKER}{tag}@example.org",
        "tel_apprenant": f"06 12 34 56 78 {MARKER}{tag}",
        "adresse_apprenant": f"12 rue des Lilas {MARKER}{tag}",
        "code_postal_apprenant": f"{MARKER}69001",
        "code_commune_insee_apprenant": f"{MARKER}69381",
        "code_postal_de_naissance_apprenant": f"{MARKER}99109",
        "code_commune_insee_de_naissance_apprenant": f"{MARKER}69123",
        "date_rqth_apprenant": f"{MARKER}-2020-01-01",
        "responsable_apprenant_mail1": f"parent1.{MARKER}@example.org",
        "responsable_apprenant_mail2": f"parent2.{MARKER}@example.org",
        "nom_referent_handicap_formation": f"Referent {MARKER}",
        "prenom_referent_handicap_formation": f"Camille {MARKER}",
        "email_referent_handicap_formation": f"referent.{MARKER}@example.org",
        "cause_exclusion_formation": f"absences répétées {MARKER}",
        "custom_statut_apprenant": f"statut {MARKER}",
        "dernier_organisme_uai": f"{MARKER}0691234A",
        "libelle_court_formation": f"CAP Boulanger {MARKER}",
        "etablissement_lieu_de_formation_adresse": f"1 place {MARKER}",
    }


def eloise(**changes: object) -> dict[str, object]:
    """The learner every test format shares (invented): two contracts, the second broken."""
    record: dict[str, object] = {
        "nom_apprenant": "DUPONT-LÉGER",
        "prenom_apprenant": "Éloïse",
        "date_de_naissance_apprenant": "2006-03-15T00:00:00.000Z",
        "annee_scolaire": "2024-2025",
        "statut_apprenant": 3,
        "sexe_apprenant": "F",
        "rqth_apprenant": False,
        "derniere_situation": 3101,
        "formation_cfd": "50022137",
        "formation_rncp": "RNCP37861",
        "duree_theorique_formation_mois": 24,
        "annee_formation": 1,
        "date_inscription_formation": "2024-06-20",
        "date_entree_formation": "2024-09-02",
        "date_fin_formation": "2026-06-30",
        "etablissement_responsable_uai": "0691234A",
        "etablissement_responsable_siret": OTHER_SIRET,
        "etablissement_formateur_uai": "0691234A",
        "etablissement_formateur_siret": OTHER_SIRET,
        "contrat_date_debut": "2024-09-02",
        "contrat_date_fin": "2026-08-31",
        "contrat_date_rupture": "2025-01-10",
        "cause_rupture_contrat": f"Démission de l'apprentie, voir Mme {MARKER}",
        "siret_employeur": "732 829 320 00074",
        "contrat_date_debut_2": "2025-02-03",
        "contrat_date_fin_2": "2026-08-31",
        "siret_employeur_2": OTHER_SIRET,
        **personal_fields("eloise"),
    }
    record.update(changes)
    return record


def ndjson(*records: object) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n").encode()


def everything(read: FormatRead) -> str:
    """All a reader hands over, as text (every cell of every table, every error, the field names)."""
    parts = [frame.to_csv(index=False) for frame in read.tables.values()]
    return "\n".join([*parts, repr(read.errors), repr(read.source_fields)])


def contracts_of(read: FormatRead) -> pd.DataFrame:
    return read.tables["apprentice_contracts"]


def test_one_row_per_contract_with_the_record_line_and_the_contract_values() -> None:
    no_contract = {
        "nom_apprenant": "MARTIN",
        "prenom_apprenant": "Noé",
        "date_de_naissance_apprenant": "2007-01-20",
        "statut_apprenant": 2,
    }
    third = eloise(
        nom_apprenant="BERNARD",
        prenom_apprenant="Lina",
        date_de_naissance_apprenant="2005-11-30",
        contrat_date_debut=None,
        contrat_date_fin=None,
        contrat_date_rupture=None,
        cause_rupture_contrat=None,
        siret_employeur=None,
        contrat_date_debut_2=None,
        contrat_date_fin_2=None,
        siret_employeur_2=None,
        contrat_date_debut_4="2024-10-01",
        contrat_date_fin_4="2025-09-30",
        siret_employeur_4=SIRET,
        formation_cfd=None,
        formation_rncp="35316",
        duree_theorique_formation_mois=None,
        duree_theorique_formation=1,
        sexe_apprenant="2",
        rqth_apprenant=True,
        derniere_situation=9999,
    )
    read = read_erp(ndjson(eloise(), no_contract, third), "erp.ndjson", PSEUDONYMS)
    table = contracts_of(read)

    assert read.format == "erp" and read.errors == []
    assert table["line"].tolist() == [1, 1, 3]
    assert set(APPRENTICE_CONTRACTS.column_names) <= set(table.columns)
    assert table["source"].tolist() == ["erp"] * 3
    first, second, fourth = (table.iloc[i] for i in range(3))
    assert first["learner_id"] == second["learner_id"] != fourth["learner_id"]
    assert first["contract_id"] != second["contract_id"]
    assert (first["siret"], second["siret"], fourth["siret"]) == (SIRET, OTHER_SIRET, SIRET)
    assert (first["contract_start"], first["planned_end"], first["rupture_date"]) == (
        "2024-09-02",
        "2026-08-31",
        "2025-01-10",
    )
    assert first["rupture_cause"] == "demission" and pd.isna(second["rupture_cause"])
    assert pd.isna(second["rupture_date"]) and second["contract_start"] == "2025-02-03"
    assert (first["diploma"], first["diploma_code"]) == ("CAP", "50022137")
    assert (fourth["diploma"], fourth["diploma_code"]) == ("TITRE_PRO", "RNCP35316")
    assert first["theoretical_months"] == "24" and fourth["theoretical_months"] == "12"
    assert first["training_year"] == "1"
    assert first["age"] == 18.0  # born 15 March 2006, 2 September 2024 + 6 weeks
    assert second["age"] == 19.0  # 3 February 2025 + 6 weeks: after her birthday
    assert fourth["age"] == 18.0
    assert (first["sex"], fourth["sex"]) == ("F", "F")
    assert (first["rqth"], fourth["rqth"]) == ("0", "1")
    assert first["prior_situation"] == "apprentissage" and pd.isna(fourth["prior_situation"])
    for column in ("naf_code", "employer_headcount", "employer_type", "prior_qualification"):
        assert table[column].isna().all()
    assert read.source_fields["apprentice_contracts"] == FIELDS


def test_age_follows_the_prediction_weeks() -> None:
    record = eloise(date_de_naissance_apprenant="2006-09-20", contrat_date_debut_2=None)
    assert contracts_of(read_erp(ndjson(record), "e", PSEUDONYMS))["age"].tolist() == [18.0]
    assert contracts_of(read_erp(ndjson(record), "e", PSEUDONYMS, prediction_weeks=1))["age"].tolist() == [
        17.0
    ]


def test_the_learner_key_is_the_contract_key_base_and_does_not_depend_on_accents_or_the_date_form() -> None:
    forms = [
        eloise(nom_apprenant="DUPONT LEGER", prenom_apprenant="ELOISE"),
        eloise(date_de_naissance_apprenant="15/03/2006", contrat_date_debut="02/09/2024"),
        eloise(date_de_naissance_apprenant="15032006", contrat_date_debut="02092024"),
        eloise(date_de_naissance_apprenant="2006-03-14T23:00:00.000Z"),  # Paris midnight, in UTC
        eloise(contrat_date_debut="2024-09-02T00:00:00+02:00"),
    ]
    table = contracts_of(read_erp(ndjson(*forms), "erp.ndjson", PSEUDONYMS))
    firsts = table.drop_duplicates("line", keep="first")
    assert firsts["learner_id"].nunique() == 1
    assert firsts["contract_id"].nunique() == 1
    assert firsts["contract_start"].tolist() == ["2024-09-02"] * 5
    other = contracts_of(read_erp(ndjson(eloise(prenom_apprenant="Eloane")), "e", PSEUDONYMS))
    assert other["learner_id"].iloc[0] != firsts["learner_id"].iloc[0]


def test_no_personal_field_is_ever_copied_out_of_a_record() -> None:
    records = [
        eloise(),
        eloise(nom_apprenant=None, **personal_fields("noname")),  # an error, with its line only
        eloise(contrat_date_debut="pas une date", **personal_fields("bad")),
    ]
    read = read_erp(ndjson(*records), "erp.ndjson", PSEUDONYMS)
    text = everything(read)
    assert MARKER not in text
    for secret in ("DUPONT", "LÉGER", "LEGER", "Éloïse", "ELOISE", "2006-03-15", "Démission"):
        assert secret not in text
    assert len(contracts_of(read)) == 4


def test_the_fields_read_are_the_v3_fields_of_the_model_and_no_identifier_is_among_them() -> None:
    assert set(READ) <= set(ERP_FIELDS)
    assert set(READ) | set(NEVER_READ) == set(ERP_FIELDS)
    for name in (
        "email_contact",
        "tel_apprenant",
        "adresse_apprenant",
        "code_postal_apprenant",
        "code_commune_insee_apprenant",
        "ine_apprenant",
        "nir_apprenant",
        "id_erp_apprenant",
        "responsable_apprenant_mail1",
        "email_referent_handicap_formation",
        "date_rqth_apprenant",
        "cause_exclusion_formation",
    ):
        assert name in NEVER_READ
    assert {f"contrat_date_debut{s}" for s in ("", "_2", "_3", "_4")} <= set(READ)


def test_broken_lines_and_missing_identities_are_errors_at_their_line() -> None:
    raw = ndjson(
        eloise(),
        "{not json",
        '["a list"]',
        eloise(date_de_naissance_apprenant=None),
        eloise(prenom_apprenant=""),
        eloise(date_de_naissance_apprenant="le 15 mars"),
    )
    read = read_erp(raw, "erp.ndjson", PSEUDONYMS)
    errors = pd.DataFrame(read.errors)
    broken = errors[errors["column"] == "(ligne)"]
    assert broken["line"].tolist() == [2, 3]
    assert set(broken["reason"]) == {"not a JSON object"}
    identity = errors[errors["column"] == "nom_apprenant+prenom_apprenant+date_de_naissance_apprenant"]
    assert identity["line"].tolist() == [4, 5, 6]
    assert contracts_of(read)["line"].tolist() == [1, 1]


def test_a_json_array_is_read_with_the_rank_of_each_record() -> None:
    raw = json.dumps([eloise(), "not an object", eloise(prenom_apprenant="Lina")]).encode()
    read = read_erp(raw, "erp.json", PSEUDONYMS)
    assert contracts_of(read)["line"].tolist() == [1, 1, 3, 3]
    assert [(e["line"], e["column"]) for e in read.errors] == [(2, "(ligne)")]


def test_an_empty_or_unreadable_file_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        read_erp(b"   ", "empty.json", PSEUDONYMS)
    with pytest.raises(FormatError):
        read_erp(b'[{"nom_apprenant": ', "cut.json", PSEUDONYMS)


def test_the_contract_quarantines_bad_values_at_the_record_line(reference: Reference) -> None:
    raw = ndjson(
        eloise(),
        eloise(prenom_apprenant="Lina", siret_employeur=BAD_SIRET, contrat_date_debut_2=None),
        eloise(prenom_apprenant="Noé", contrat_date_debut_2="31/02/2025"),
        eloise(prenom_apprenant="Inès", sexe_apprenant="X", contrat_date_debut_2=None),
        eloise(prenom_apprenant="Yanis", rqth_apprenant="oui", contrat_date_debut_2=None),
    )
    read = read_erp(raw, "erp.ndjson", PSEUDONYMS)
    frame = contracts_of(read)
    valid, report = validate_table(
        frame.drop(columns="line"), APPRENTICE_CONTRACTS, reference, "erp.ndjson", lines=frame["line"]
    )
    found = set(zip(report.errors["line"], report.errors["column"], report.errors["reason"], strict=True))
    assert (2, "siret", "SIRET checksum (Luhn) fails") in found
    assert (3, "contract_start", "not a date (expected YYYY-MM-DD or DD/MM/YYYY)") in found
    assert any(line == 4 and column == "sex" for line, column, _ in found)
    assert any(line == 5 and column == "rqth" for line, column, _ in found)
    assert {line for line, _, _ in found} == {2, 3, 4, 5}
    assert len(valid) == 3  # Éloïse's two contracts and Noé's first one
    assert valid["contract_start"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-09-02",
        "2025-02-03",
        "2024-09-02",
    ]
    assert read.source_fields["apprentice_contracts"]["contract_start"] == "contrat_date_debut[_n]"
