"""The RNE reader: stock (JSON array) and flux (NDJSON) files give one `companies` row per establishment,
the fields derived as documented, no person's field anywhere in what it returns, and every bad record at
its line (the reader's own errors, then the contract's quarantine). All names, dates, addresses, phones
and e-mails below are invented, and carry a marker that must never come out of the reader."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from catalog.formats.common import Pseudonymiser
from catalog.formats.rne import head_qualification, legal_category, read_rne
from models.contracts import COMPANIES, validate_table
from pipelines.reference import load_reference

PSEUDONYMS = Pseudonymiser(b"0123456789abcdef-test")
EXTRAS = ["apprentices_declared", "rnm_registered"]
MARKERS = ("zzmark", "1971-05", "1984-11", "0611223344", "84100", "69003")


def person(tag: str, birth: str) -> dict[str, Any]:
    """A natural person's fields as the RNE holds them, every one marked."""
    return {
        "descriptionPersonne": {
            "nom": f"ZZMARK-NOM-{tag}",
            "nomUsage": f"ZZMARK-USAGE-{tag}",
            "prenoms": [f"ZZMARK-PRENOM-{tag}", "ZZMARK-SECOND"],
            "genre": "2",
            "dateDeNaissance": birth,
            "lieuDeNaissance": f"ZZMARK-LIEU-{tag}",
            "paysNaissance": "ZZMARK-PAYS",
            "nationalite": "ZZMARK-NATIONALITE",
        },
        "adresseDomicile": {
            "codePostal": "84100",
            "commune": "ZZMARK-COMMUNE",
            "codeInseeCommune": "84087",
            "voie": f"ZZMARK-RUE-{tag}",
            "numVoie": "12",
        },
        "contact": {"mail": f"zzmark.{tag}@example.org", "telephone": "0611223344"},
    }


def establishment(siret: str | None, commune: str, ape: str | None = None) -> dict[str, Any]:
    description: dict[str, Any] = {
        "enseigne": "ZZMARK-ENSEIGNE",
        "nomCommercial": "ZZMARK-NOMCOMMERCIAL",
        "indicateurEtablissementPrincipal": True,
    }
    if siret is not None:
        description["siret"] = siret
    if ape is not None:
        description["codeApe"] = ape
    return {
        "descriptionEtablissement": description,
        "adresse": {
            "codePostal": "69003",
            "commune": "ZZMARK-VILLE",
            "codeInseeCommune": commune,
            "typeVoie": "RUE",
            "voie": "ZZMARK-VOIE-ETAB",
            "numVoie": "3",
        },
        "activites": [{"codeApe": ape, "descriptionDetaillee": "ZZMARK-ACTIVITE"}],
    }


def sole_trader(siret: str = "81234567800013", commune: str = "84087", ape: str = "4322A") -> dict[str, Any]:
    """An EI (personnePhysique) with its qualité d'artisan, its own and its spouse's personal fields."""
    entrepreneur = person("EI", "1971-05")
    entrepreneur["qualiteArtisan"] = "ARTISAN"
    entrepreneur["roleConjoint"] = "COLLABORATEUR"
    entrepreneur["conjoint"] = person("CONJOINT", "1984-11")
    return {
        "siren": siret[:9],
        "updatedAt": "2024-05-18T21:50:26+02:00",
        "formality": {
            "siren": siret[:9],
            "typePersonne": "P",
            "formeJuridique": "1000",
            "diffusionINSEE": "O",
            "content": {
                "natureCreation": {"dateCreation": "2012-04-06", "formeJuridique": "1000"},
                "personnePhysique": {
                    "identite": {
                        "entreprise": {
                            "siren": siret[:9],
                            "denomination": "ZZMARK-DENOMINATION-EI",
                            "nomCommercial": "ZZMARK-NOM-COMMERCIAL",
                            "nomExploitation": "ZZMARK-NOM-EXPLOITATION",
                            "codeApe": ape,
                            "dateImmat": "2012-04-10",
                            "effectifSalarie": 3,
                            "effectifApprenti": 1,
                        },
                        "entrepreneur": entrepreneur,
                    },
                    "adresseEntreprise": {
                        "adresse": {"voie": "ZZMARK-VOIE-ENTREPRISE", "codePostal": "84100"}
                    },
                    "etablissementPrincipal": {
                        **establishment(siret, commune),
                        "registreAnterieur": {
                            "rnm": {"estPresent": True, "dateDebut": "2012-03-01T00:00:00+01:00"}
                        },
                    },
                },
            },
        },
    }


def company(
    sirets: tuple[str | None, str | None] = ("90123456700013", "90123456700021"),
    communes: tuple[str, str] = ("69384", "75112"),
    apes: tuple[str, str] = ("10.71C", "4711B"),
) -> dict[str, Any]:
    """A SARL (personneMorale) with two establishments, an inactive and an active director, a beneficial
    owner; its form is given only as a code outside the contract's list (5485: a SARL)."""
    director = person("GERANT", "1971-05")
    director["qualiteArtisan"] = "MAITRE_ARTISAN"
    director["actif"] = True
    former = person("ANCIEN", "1984-11")
    return {
        "siren": "901234567",
        "formality": {
            "siren": "901234567",
            "typePersonne": "M",
            "content": {
                "natureCreation": {"formeJuridique": "5485"},
                "personneMorale": {
                    "identite": {
                        "entreprise": {
                            "denomination": "ZZMARK-DENOMINATION-SARL",
                            "codeApe": "1071C",
                            "dateImmat": "2019-05-02",
                            "effectifSalarie": "12",
                            "effectifApprenti": "2",
                        },
                        "description": {"objet": "ZZMARK-OBJET", "montantCapital": 1000.0},
                    },
                    "composition": {
                        "pouvoirs": [
                            {
                                "typeDePersonne": "INDIVIDU",
                                "actif": False,
                                "qualiteArtisan": "ARTISAN",
                                "individu": former,
                            },
                            {"typeDePersonne": "INDIVIDU", "roleEntreprise": "30", "individu": director},
                        ]
                    },
                    "beneficiairesEffectifs": [
                        {"beneficiaire": person("BENEFICIAIRE", "1971-05"), "modalite": {"dateEffet": "2020"}}
                    ],
                    "registreAnterieur": {
                        "rnm": {
                            "estPresent": True,
                            "dateDebut": "2019-05-01T00:00:00+02:00",
                            "dateFin": "2023-06-30T00:00:00+02:00",
                        }
                    },
                    "etablissementPrincipal": establishment(sirets[0], communes[0], apes[0]),
                    "autresEtablissements": [establishment(sirets[1], communes[1], apes[1])],
                },
            },
        },
    }


def ndjson(*items: object) -> bytes:
    return "\n".join(item if isinstance(item, str) else json.dumps(item) for item in items).encode()


def everything(read: Any) -> str:
    """All a FormatRead holds, as text, in full (no display truncation)."""
    tables = "".join(t.to_csv() + t.to_string() + str(t) for t in read.tables.values())
    return (tables + repr(read.errors) + repr(read.source_fields)).lower()


EXPECTED_EI = {
    "siret": "81234567800013",
    "naf_code": "43.22A",
    "commune_code": "84087",
    "creation_date": "2012-04-06",
    "legal_category": "1000",
    "headcount_band": "02",
    "head_qualification": "cap_bep",
    "closure_date": None,
    "apprentices_declared": "1",
    "rnm_registered": "1",
}
EXPECTED_SARL = {
    "naf_code": ["10.71C", "47.11B"],
    "commune_code": ["69384", "75112"],
    "creation_date": ["2019-05-02"] * 2,
    "legal_category": ["5499"] * 2,
    "headcount_band": ["11"] * 2,
    "head_qualification": ["brevet_maitrise"] * 2,
    "closure_date": ["2023-06-30"] * 2,
    "apprentices_declared": ["2"] * 2,
    "rnm_registered": ["1"] * 2,
}


def check_rows(table: pd.DataFrame, ei_line: int, sarl_line: int) -> None:
    assert list(table.columns) == [*COMPANIES.column_names, *EXTRAS, "line"]
    ei = table[table["line"] == ei_line]
    assert len(ei) == 1
    assert ei.drop(columns="line").iloc[0].to_dict() == EXPECTED_EI
    sarl = table[table["line"] == sarl_line]
    assert sarl["siret"].tolist() == ["90123456700013", "90123456700021"]
    for column, values in EXPECTED_SARL.items():
        assert sarl[column].tolist() == values, column


def test_a_stock_array_gives_one_row_per_establishment() -> None:
    raw = json.dumps([sole_trader(), company()], ensure_ascii=False).encode()
    read = read_rne(raw, "stock.json", PSEUDONYMS)
    assert read.format == "rne"
    assert read.errors == []
    table = read.tables["companies"]
    assert len(table) == 3
    check_rows(table, ei_line=1, sarl_line=2)
    assert "apprentices_declared" not in read.source_fields["companies"]
    assert set(read.source_fields["companies"]) == set(COMPANIES.column_names)


def test_a_flux_gives_the_same_rows_and_no_personal_field() -> None:
    raw = ndjson({"company": sole_trader(), "updatedAt": "2024-05-18"}, "", company())
    read = read_rne(raw, "rne_flux_2024-05-18.json", PSEUDONYMS)
    assert read.errors == []
    check_rows(read.tables["companies"], ei_line=1, sarl_line=3)
    text = everything(read)
    for marker in MARKERS:
        assert marker in raw.decode().lower(), marker  # the file holds them, the reader gives none
        assert marker not in text, marker


def test_broken_lines_and_companies_without_siret_are_errors_at_their_line() -> None:
    no_siret = company(sirets=(None, None))
    raw = ndjson({"company": sole_trader()}, '{"company": {"siren": ', no_siret, "[1, 2]", company())
    read = read_rne(raw, "flux.json", PSEUDONYMS)
    errors = sorted((e["line"], e["column"]) for e in read.errors)
    assert errors == [
        (2, "(ligne)"),
        (3, "etablissementPrincipal.descriptionEtablissement.siret"),
        (4, "(ligne)"),
    ]
    assert read.tables["companies"]["line"].tolist() == [1, 5, 5]
    text = everything(read)
    for marker in MARKERS:
        assert marker not in text, marker


def test_the_contract_quarantines_bad_codes_at_their_line_and_keeps_the_rest() -> None:
    raw = ndjson(
        {"company": sole_trader()},
        {"company": company(sirets=("90123456700013", "90123456700022"))},  # 2nd: Luhn fails
        {"company": sole_trader(siret="77777777700015", ape="9999Z")},  # unknown NAF
        {"company": sole_trader(siret="77777777700023", commune="99999")},  # unknown commune
        {"company": company(sirets=("81234567800021", "90123456700039"))},
    )
    read = read_rne(raw, "flux.json", PSEUDONYMS)
    assert read.errors == []
    frame = read.tables["companies"]
    valid, report = validate_table(
        frame.drop(columns=["line", *EXTRAS]), COMPANIES, load_reference(), "flux.json", lines=frame["line"]
    )
    bad = sorted(zip(report.errors["line"], report.errors["column"], report.errors["reason"], strict=True))
    assert [(line, column) for line, column, _ in bad] == [
        (2, "siret"),
        (3, "naf_code"),
        (4, "commune_code"),
    ]
    assert "Luhn" in bad[0][2]
    assert sorted(valid["siret"]) == sorted(
        ["81234567800013", "90123456700013", "81234567800021", "90123456700039"]
    )
    assert report.n_rows == 7 and report.n_valid == 4


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("1000", "1000"),
        ("5499", "5499"),
        ("5720", "5720"),
        ("5485", "5499"),
        ("5785", "5710"),
        ("5505", "5599"),
        ("5699", "5599"),
        ("6541", "6540"),
        ("9220", "9220"),
        ("ASSO", "ASSO"),
        (None, None),
    ],
)
def test_legal_categories_outside_the_list_go_to_their_family(code: str | None, expected: str | None) -> None:
    assert legal_category(code) == expected


def test_qualities_of_artisan_give_the_head_qualification() -> None:
    qualities = pd.Series(
        [
            "ARTISAN",
            "ARTISAN_QUALIFIE",
            "ARTISAN_D_ART",
            "MAITRE_ARTISAN",
            "Maître artisan en métier d'art",
            None,
            "AUTRE",
        ],
        dtype=object,
    )
    assert head_qualification(qualities).tolist() == ["cap_bep"] * 3 + ["brevet_maitrise"] * 2 + [
        None,
        "AUTRE",
    ]
