"""The DECA reader: apprenticeship contracts only (others left out with an entry), the learner's rows and
the chamber's contracts, keys that join ERP's and SIFA's, nothing personal copied out of a record, and
what the contracts then quarantine at which line."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from catalog.formats.common import FormatRead
from catalog.formats.deca import DECA_FIELDS, FIELDS, NEVER_READ, READ, read_deca
from catalog.formats.erp import read_erp
from catalog.formats.sifa import SIFA_FIELDS, read_sifa
from models.contracts import APPRENTICE_CONTRACTS, APPRENTICESHIP_CONTRACTS, validate_table
from models.reference import Reference
from tests.catalog.formats.test_erp import (
    BAD_SIRET,
    MARKER,
    OTHER_SIRET,
    PSEUDONYMS,
    SIRET,
    eloise,
    everything,
    ndjson,
)

NO_CONTRAT = "069202409001234"


def deca(**changes: object) -> dict[str, Any]:
    """Éloïse's first contract (invented) as DECA records it; `changes` replace top-level keys, or nested
    ones written `block__key`."""
    record: dict[str, Any] = {
        "_id": {"$oid": "65f0c0ffee0000000000abcd"},
        "no_contrat": NO_CONTRAT,
        "type_contrat": "11",
        "dispositif": "APPR",
        "date_debut_contrat": "2024-09-02",
        "date_fin_contrat": "2026-08-31",
        "date_effet_rupture": "2025-01-10",
        "code_motif_rupture": "01",
        "commentaire_rupture": f"départ voulu par Mme {MARKER}",
        "type_employeur": 11,
        "alternant": {
            "nom": "DUPONT LEGER",
            "prenom": "ELOISE",
            "sexe": "F",
            "date_naissance": "2006-03-15",
            "departement_naissance": f"0{MARKER}69",
            "nationalite": f"{MARKER}1",
            "handicap": True,
            "courriel": f"eloise.{MARKER}@example.org",
            "telephone": f"+33 6 12 34 56 78 {MARKER}",
            "adresse": {"numero": f"12{MARKER}", "voie": f"rue des Lilas {MARKER}", "code_postal": "69001"},
            "derniere_classe": "01",
        },
        "employeur": {
            "siret": SIRET,
            "denomination": f"Boulangerie {MARKER}",
            "adresse": {"code_postal": "69002"},
            "naf": "1071C",
            "code_idcc": "0843",
            "nombre_de_salaries": 4,
            "courriel": f"patron.{MARKER}@example.org",
            "telephone": f"04 78 00 00 00 {MARKER}",
        },
        "organisme_formation": {"siret": OTHER_SIRET, "uai_cfa": "0691234A"},
        "etablissement_formation": {"siret": OTHER_SIRET},
        "formation": {
            "code_diplome": "50022137",
            "rncp": "RNCP37861",
            "intitule_ou_qualification": "BOULANGER (CAP)",
            "type_diplome": "33",
            "date_debut_formation": "2024-09-02",
            "date_fin_formation": "2026-06-30",
        },
    }
    for key, value in changes.items():
        block, _, name = key.partition("__")
        if name:
            nested = dict(record[block])
            nested[name] = value
            record[block] = nested
        else:
            record[key] = value
    return record


def learners_of(read: FormatRead) -> pd.DataFrame:
    return read.tables["apprentice_contracts"]


def chamber_of(read: FormatRead) -> pd.DataFrame:
    return read.tables["apprenticeship_contracts"]


def sifa_csv(**values: str) -> bytes:
    """A SIFA export with its header and one row (the fields not given are empty)."""
    row = [values.get(name, "") for name in SIFA_FIELDS]
    return ("\ufeff" + ";".join(SIFA_FIELDS) + "\n" + ";".join(row) + "\n").encode()


def test_a_contract_gives_a_learner_row_and_a_chamber_row() -> None:
    other = deca(
        no_contrat="069202410004321",
        date_debut_contrat="2024-10-01",
        date_effet_rupture=None,
        code_motif_rupture=None,
        type_employeur=None,
        alternant__nom="BERNARD",
        alternant__prenom="Lina",
        alternant__date_naissance="2005-11-30",
        alternant__sexe="H",
        alternant__handicap="false",
        alternant__derniere_classe="3101",
        employeur__naf="43.22a",
        formation__code_diplome="32031102",
        formation__type_diplome="54",
        formation__date_debut_formation="2024-09-01",
        formation__date_fin_formation="2026-08-31",
    )
    by_type = deca(
        no_contrat="069202410009999",
        alternant__prenom="Inès",
        formation__code_diplome="46X32101",
        formation__type_diplome="41",
        formation__date_debut_formation=None,
    )
    read = read_deca(ndjson(deca(), other, by_type), "deca.ndjson", PSEUDONYMS)
    table, chamber = learners_of(read), chamber_of(read)

    assert read.format == "deca" and read.errors == []
    assert set(APPRENTICE_CONTRACTS.column_names) <= set(table.columns)
    assert set(APPRENTICESHIP_CONTRACTS.column_names) <= set(chamber.columns)
    assert table["line"].tolist() == chamber["line"].tolist() == [1, 2, 3]
    first, second, third = (table.iloc[i] for i in range(3))
    assert first["source"] == "deca"
    assert (first["siret"], first["naf_code"], first["employer_headcount"]) == (SIRET, "10.71C", "4")
    assert second["naf_code"] == "43.22A"
    assert (first["employer_type"], second["employer_type"]) == ("artisan", None)
    assert (first["diploma"], first["diploma_code"]) == ("CAP", "50022137")
    assert (second["diploma"], third["diploma"], third["diploma_code"]) == ("BTS", "BAC_PRO", "46X32101")
    assert (first["theoretical_months"], second["theoretical_months"]) == ("22", "24")
    assert pd.isna(third["theoretical_months"])
    assert (first["contract_start"], first["planned_end"], first["rupture_date"]) == (
        "2024-09-02",
        "2026-08-31",
        "2025-01-10",
    )
    assert first["rupture_cause"] == "autre"  # a bare code: no published code list
    assert pd.isna(second["rupture_cause"]) and pd.isna(second["rupture_date"])
    assert (first["age"], second["age"]) == (18.0, 18.0)
    assert (first["sex"], second["sex"]) == ("F", "M")
    assert (first["rqth"], second["rqth"]) == ("1", "0")
    assert pd.isna(first["prior_situation"])  # DECA's own code 01: not a situation
    assert second["prior_situation"] == "apprentissage"  # a SIFA code
    assert table["training_year"].isna().all() and table["prior_qualification"].isna().all()

    numbers = pd.Series([NO_CONTRAT, "069202410004321", "069202410009999"])
    assert chamber["contract_id"].tolist() == PSEUDONYMS.keys("deca_contract", numbers).tolist()
    assert chamber["contract_id"].nunique() == 3
    assert chamber["siret"].tolist() == [SIRET] * 3
    assert chamber["contract_start"].tolist() == ["2024-09-02", "2024-10-01", "2024-09-02"]
    assert chamber["diploma"].tolist() == ["CAP", "BTS", "BAC_PRO"]
    assert read.source_fields["apprentice_contracts"] == FIELDS
    assert read.source_fields["apprenticeship_contracts"]["contract_id"] == "no_contrat"


def test_the_same_learner_and_contract_get_the_same_keys_in_sifa_erp_and_deca() -> None:
    sifa = read_sifa(
        sifa_csv(
            NOM="DUPONT LEGER",
            PRENOM1="ELOISE",
            DATE_NAIS="15032006",
            DATE_DEB_CONT="02092024",
            SIRET_EMP=f'="{SIRET}"',
            DIPLOME='="50022137"',
            SEXE="2",
        ),
        "sifa.csv",
        PSEUDONYMS,
    )
    erp = read_erp(ndjson(eloise()), "erp.ndjson", PSEUDONYMS)
    deca_read = read_deca(
        ndjson(deca(date_debut_contrat="2024-09-02T00:00:00+02:00", alternant__date_naissance="15/03/2006")),
        "deca.ndjson",
        PSEUDONYMS,
    )
    rows = [learners_of(r).iloc[0] for r in (sifa, erp, deca_read)]
    assert [r["source"] for r in rows] == ["sifa", "erp", "deca"]
    assert len({r["learner_id"] for r in rows}) == 1
    assert len({r["contract_id"] for r in rows}) == 1
    assert {r["age"] for r in rows} == {18.0}
    assert all(r["contract_id"] != chamber_of(deca_read)["contract_id"].iloc[0] for r in rows)


def test_only_apprenticeship_contracts_are_kept_and_the_others_are_reported() -> None:
    raw = ndjson(deca(), deca(dispositif="PROF", no_contrat="1"), deca(dispositif=None, no_contrat="2"))
    read = read_deca(raw, "deca.ndjson", PSEUDONYMS)
    assert read.errors == [
        {
            "source": "deca.ndjson",
            "line": 2,
            "column": "dispositif",
            "reason": "dispositif is not APPR: left out",
        }
    ]
    assert learners_of(read)["line"].tolist() == [1, 3]
    assert chamber_of(read)["line"].tolist() == [1, 3]


def test_no_personal_field_is_ever_copied_out_of_a_record() -> None:
    raw = ndjson(
        deca(),
        deca(alternant__nom=None),  # no learner key: an error, the chamber's contract kept
        deca(date_debut_contrat="pas une date", employeur__nombre_de_salaries={"nested": MARKER}),
        deca(dispositif="PROF"),
    )
    read = read_deca(raw, "deca.ndjson", PSEUDONYMS)
    text = everything(read)
    assert MARKER not in text
    for secret in (NO_CONTRAT, "DUPONT", "ELOISE", "2006-03-15", "Boulangerie", "0843", "69001", "69002"):
        assert secret not in text
    assert len(learners_of(read)) == 2 and len(chamber_of(read)) == 3


def test_the_fields_read_are_paths_of_the_model_and_no_identifier_is_among_them() -> None:
    assert set(READ) <= set(DECA_FIELDS)
    assert set(READ) | set(NEVER_READ) == set(DECA_FIELDS)
    for path in (
        "alternant.courriel",
        "alternant.telephone",
        "alternant.adresse.voie",
        "alternant.adresse.code_postal",
        "alternant.departement_naissance",
        "alternant.nationalite",
        "employeur.denomination",
        "employeur.courriel",
        "employeur.telephone",
        "commentaire_rupture",
    ):
        assert path in NEVER_READ


def test_broken_lines_and_missing_identities_are_errors_at_their_line() -> None:
    raw = ndjson(deca(), "{broken", deca(alternant__date_naissance="bientôt", no_contrat="3"), "42")
    read = read_deca(raw, "deca.ndjson", PSEUDONYMS)
    assert [(e["line"], e["column"]) for e in read.errors] == [
        (2, "(ligne)"),
        (4, "(ligne)"),
        (3, "alternant.nom+alternant.prenom+alternant.date_naissance"),
    ]
    assert learners_of(read)["line"].tolist() == [1]
    assert chamber_of(read)["line"].tolist() == [1, 3]


def test_the_contracts_quarantine_bad_values_at_the_record_line(reference: Reference) -> None:
    raw = json.dumps(
        [
            deca(),
            deca(no_contrat="2", alternant__prenom="Lina", employeur__siret=BAD_SIRET),
            deca(no_contrat="3", alternant__prenom="Noé", employeur__naf="9999Z"),
            deca(
                no_contrat="4",
                alternant__prenom="Inès",
                formation__code_diplome="25031234",
                formation__type_diplome="62",
            ),
            deca(
                no_contrat="5",
                alternant__prenom="Yanis",
                date_fin_contrat="2024-08-01",
                date_effet_rupture=None,
            ),
        ]
    ).encode()
    read = read_deca(raw, "deca.json", PSEUDONYMS)

    frame = learners_of(read)
    valid, report = validate_table(
        frame.drop(columns="line"), APPRENTICE_CONTRACTS, reference, "deca.json", lines=frame["line"]
    )
    found = set(zip(report.errors["line"], report.errors["column"], report.errors["reason"], strict=True))
    assert found == {
        (2, "siret", "SIRET checksum (Luhn) fails"),
        (3, "naf_code", "unknown NAF rev.2 sub-class (expected e.g. 43.22A)"),
        (5, "planned_end", "planned_end must be after contract_start"),
    }
    assert len(valid) == 2  # Éloïse, and Inès whose licence is no project diploma (nullable here)

    chamber = chamber_of(read)
    valid, report = validate_table(
        chamber.drop(columns="line"), APPRENTICESHIP_CONTRACTS, reference, "deca.json", lines=chamber["line"]
    )
    blamed = set(zip(report.errors["line"], report.errors["column"], strict=True))
    assert blamed == {(2, "siret"), (4, "diploma"), (5, "planned_end")}
    assert len(valid) == 2
