"""RNE, the national register of companies (INPI, Registre national des entreprises), as INPI delivers it:
the yearly stock (zip of `.json` files, each one JSON array of company objects) and the daily flux of the
API `companies/diff` (one item a line, NDJSON, the company under `company`; a bare company a line is read
too). One company object holds one formality (the consolidated state): `formality.content` and in it
exactly one block, `personneMorale`, `exploitation` or `personnePhysique` (same shape). Field list: the
pydantic model of annuaire-entreprises-data-gouv-fr/search-infra,
`workflows/data_pipelines/rne/database/rne_model.py`, and INPI payloads published as examples.

Rows: one `companies` row per establishment of the block (`etablissementPrincipal` and each of
`autresEtablissements`), `line` = the NDJSON line or the rank of the company in the stock array.

Read (the paths below, and nothing else; `<block>` is the block present, `<etab>` an establishment):
`<etab>.descriptionEtablissement.{siret, codeApe}`, `<etab>.adresse.codeInseeCommune` (not the street),
`<etab>.detailCessationEtablissement.dateRadiation`, `registreAnterieur.rnm.{estPresent, dateDebut,
dateFin}` (of the establishment, else of the block, else of `content`), `<block>.identite.entreprise.
{codeApe, formeJuridique, dateImmat, effectifSalarie, effectifApprenti}`,
`<block>.detailCessationEntreprise.dateRadiation`, `content.natureCreation.{dateCreation,
formeJuridique}`, `formality.{formeJuridique, codeAPE}` (also when a payload has them next to
`formality`), and the head's `qualiteArtisan` (`<block>.identite.entrepreneur.qualiteArtisan`, else the
first active `composition.pouvoirs[]` carrying one, on the pouvoir or in its `individu`).

Derived: `naf_code` in the dotted SIRENE form; `legal_category` (a code outside
`models.vocabulary.LEGAL_CATEGORIES` mapped to the listed code of its family, see
`LEGAL_CATEGORY_FAMILIES`); `headcount_band` from the declared number of employees; `head_qualification`
from the qualité d'artisan (see `head_qualification`: the level it implies, not the quality);
the RNM timestamps cut to their date. Two columns outside the contract, kept by the import when present:
`apprentices_declared` (`effectifApprenti`) and `rnm_registered` (`rnm.estPresent`: "1" / "0").

Never read (not copied out of the record): every `descriptionPersonne` (nom, nomUsage, prenoms,
pseudonyme, genre, titre, dateDeNaissance, lieuDeNaissance, paysNaissance, nationalite, situation
matrimoniale) of the entrepreneur, the directors (`pouvoirs[].individu`, `representant`,
`entreprise.individuRepresentant`), the spouse and the beneficial owners; every `adresseDomicile`,
`contact` (mail, telephone), `conjoint` / `roleConjoint`, `beneficiairesEffectifs`; the names that may be
a person's (`denomination`, `nomCommercial`, `nomExploitation`, `enseigne`, `nomEtablissement`); the
addresses (`adresseEntreprise`, the establishment's street, postcode and commune name: only its
`codeInseeCommune`); `identite.description` (objet, capital), `activites[]`, `observations`,
`historique`, `inscriptionsOffices`, `metierArt`, and every other field.

Caveats: `qualiteArtisan` is seen as `"ARTISAN"` in published payloads; its other spellings (artisan
d'art, maître artisan, maître artisan en métier d'art) are not confirmed by a public source, hence the
matching on words (`MAITRE`, `ARTISAN`) and not on codes: a value with neither word is kept for the
contract to quarantine (and then to be mapped here). `effectifApprenti` is a declaration at the date of the
formality, not a count at a point in time: the host model does not use it as a feature (its history of
contracts, from DECA, gives the point-in-time count). `effectifSalarie` absent leaves `headcount_band`
empty (the contract quarantines the row: the RNE does not say "no employee" by leaving it out).
`formality.diffusionINSEE` ("N": the entrepreneur refused the diffusion of the SIRENE data) is not read;
the chamber's register is its legal purpose, a publication of these rows would have to honour it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from catalog.formats.common import (
    FormatRead,
    Pseudonymiser,
    broken_records,
    dotted_naf,
    fold,
    headcount_band,
    iso_text,
    json_records,
    parse_dates,
    present,
)
from models.vocabulary import LEGAL_CATEGORIES

BLOCKS: tuple[str, ...] = ("personneMorale", "exploitation", "personnePhysique")
"""The blocks of `formality.content`, in the order search-infra looks for them (one is present)."""

SIRET_FIELD = "etablissementPrincipal.descriptionEtablissement.siret"

FIELDS: dict[str, str] = {
    "siret": "descriptionEtablissement.siret",
    "naf_code": "descriptionEtablissement.codeApe | identite.entreprise.codeApe | formality.codeAPE",
    "commune_code": "adresse.codeInseeCommune",
    "creation_date": "natureCreation.dateCreation | identite.entreprise.dateImmat | "
    "registreAnterieur.rnm.dateDebut",
    "legal_category": "formality.formeJuridique | natureCreation.formeJuridique | "
    "identite.entreprise.formeJuridique",
    "headcount_band": "identite.entreprise.effectifSalarie",
    "head_qualification": "entrepreneur.qualiteArtisan | pouvoirs[].qualiteArtisan",
    "closure_date": "detailCessationEntreprise.dateRadiation | detailCessationEtablissement.dateRadiation | "
    "registreAnterieur.rnm.dateFin",
}
"""Contract column -> the RNE path it is read from (`a | b`: the first present), for quarantine reports."""

EXTRA_FIELDS: dict[str, str] = {
    "apprentices_declared": "identite.entreprise.effectifApprenti",
    "rnm_registered": "registreAnterieur.rnm.estPresent",
}
"""Columns outside the `companies` contract (the import keeps them when present) -> their RNE path."""

COLUMNS: tuple[str, ...] = (*FIELDS, *EXTRA_FIELDS)

LEGAL_CATEGORY_FAMILIES: tuple[tuple[str, str], ...] = (
    ("1", "1000"),  # 1xxx: entrepreneur individuel
    ("54", "5499"),  # 54xx: SARL
    ("57", "5710"),  # 57xx: SAS
    ("55", "5599"),  # 55xx: SA à conseil d'administration
    ("56", "5599"),  # 56xx: SA à directoire, counted with the SA
    ("65", "6540"),  # 65xx: sociétés civiles
)
"""A 4-digit INSEE catégorie juridique outside `LEGAL_CATEGORIES` -> the listed code of its family (first
digits); any other code is kept as it is and the contract quarantines it."""


def legal_category(code: str | None) -> str | None:
    """The contract's legal category of a formeJuridique (see `LEGAL_CATEGORY_FAMILIES`)."""
    if code is None or code in LEGAL_CATEGORIES:
        return code
    if re.fullmatch(r"[0-9]{4}", code):
        for prefix, family in LEGAL_CATEGORY_FAMILIES:
            if code.startswith(prefix):
                return family
    return code


def head_qualification(qualities: pd.Series) -> pd.Series:
    """The head's `qualiteArtisan` as `HEAD_QUALIFICATIONS`, by its words (accents, case and separators
    ignored): `MAITRE` (maître artisan, maître artisan en métier d'art) -> `brevet_maitrise` (the title
    requires the brevet de maîtrise); `ARTISAN` (artisan, artisan qualifié, artisan d'art) -> `cap_bep` (the
    quality requires a CAP/BEP of the trade or its equivalent in experience); absent -> empty; any other
    value kept for the contract to quarantine."""
    folded = fold(qualities)
    out = qualities.astype(object).where(qualities.notna(), None)
    out = out.mask(folded.str.contains("ARTISAN", regex=False).fillna(False).astype(bool), "cap_bep")
    return out.mask(folded.str.contains("MAITRE", regex=False).fillna(False).astype(bool), "brevet_maitrise")


def read_rne(raw: bytes, source: str, pseudonyms: Pseudonymiser, prediction_weeks: int = 6) -> FormatRead:
    """An RNE stock file (JSON array of companies) or flux file (NDJSON of `{"company": ...}` items, or of
    companies) as `companies` rows, one per establishment. `pseudonyms` and `prediction_weeks` are not used
    (no person is keyed, no age derived): the signature is every reader's."""
    del pseudonyms, prediction_weeks
    records: list[tuple[int, dict[str, object] | None]] = list(json_records(raw, source))
    out = FormatRead(source=source, format="rne")
    out.errors.extend(broken_records(records, source))
    rows: list[dict[str, object]] = []
    for line, record in records:
        if record is None:
            continue
        company = record.get("company")
        found = _company_rows(company if isinstance(company, Mapping) else record)
        if not any(row["siret"] is not None for row in found):
            out.errors.append(
                {
                    "source": source,
                    "line": int(line),
                    "column": SIRET_FIELD,
                    "reason": "no establishment with a SIRET (etablissementPrincipal, autresEtablissements): "
                    "the company gives no row",
                }
            )
            continue
        rows.extend({**row, "line": int(line)} for row in found)
    out.add("companies", _table(rows), FIELDS)
    return out


def _table(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The texts read as the contract's columns (plus the extras and `line`), the derivations applied."""
    raw = pd.DataFrame(rows, columns=[*COLUMNS, "line"], dtype=object)
    creation = parse_dates(raw["creation_date"])
    closure = parse_dates(raw["closure_date"])
    table = pd.DataFrame(
        {
            "siret": raw["siret"].astype("string").str.replace(r"[\s.]", "", regex=True),
            "naf_code": dotted_naf(raw["naf_code"]),
            "commune_code": raw["commune_code"],
            "creation_date": iso_text(creation, raw["creation_date"]),
            "legal_category": raw["legal_category"].map(legal_category),
            "headcount_band": headcount_band(raw["headcount_band"]),
            "head_qualification": head_qualification(raw["head_qualification"]),
            "closure_date": iso_text(closure, raw["closure_date"]),
            "apprentices_declared": raw["apprentices_declared"],
            "rnm_registered": raw["rnm_registered"],
        },
        index=raw.index,
    )
    table = table.astype(object).where(table.notna(), None)
    return table.assign(line=raw["line"].astype("int64"))


def _company_rows(company: Mapping[str, object]) -> list[dict[str, object]]:
    """The row of each establishment of one company object, as texts before their derivation."""
    formality = present(company, ("formality",))
    formality = formality if isinstance(formality, Mapping) else {}
    content = present(formality, ("content",))
    content = content if isinstance(content, Mapping) else {}
    block: Mapping[str, object] = {}
    for name in BLOCKS:
        candidate = content.get(name)
        if isinstance(candidate, Mapping):
            block = candidate
            break
    entreprise = ("identite", "entreprise")
    shared = {
        "naf_code": _text(present(block, (*entreprise, "codeApe")))
        or _formality_text(company, formality, "codeAPE"),
        "creation_date": _text(present(content, ("natureCreation", "dateCreation")))
        or _text(present(block, (*entreprise, "dateImmat"))),
        "legal_category": _formality_text(company, formality, "formeJuridique")
        or _text(present(content, ("natureCreation", "formeJuridique")))
        or _text(present(block, (*entreprise, "formeJuridique"))),
        "headcount_band": _text(present(block, (*entreprise, "effectifSalarie"))),
        "head_qualification": _head_quality(block),
        "closure_date": _text(present(block, ("detailCessationEntreprise", "dateRadiation"))),
        "apprentices_declared": _text(present(block, (*entreprise, "effectifApprenti"))),
    }
    establishments: list[Mapping[str, object]] = []
    main = block.get("etablissementPrincipal")
    if isinstance(main, Mapping):
        establishments.append(main)
    others = block.get("autresEtablissements")
    if isinstance(others, list):
        establishments.extend(e for e in others if isinstance(e, Mapping))
    rows: list[dict[str, object]] = []
    for etab in establishments:
        rnm = _rnm(etab, block, content)
        registered = rnm.get("estPresent")
        rows.append(
            {
                "siret": _text(present(etab, ("descriptionEtablissement", "siret"))),
                "naf_code": _text(present(etab, ("descriptionEtablissement", "codeApe")))
                or shared["naf_code"],
                "commune_code": _text(present(etab, ("adresse", "codeInseeCommune"))),
                "creation_date": shared["creation_date"] or _text(rnm.get("dateDebut")),
                "legal_category": shared["legal_category"],
                "headcount_band": shared["headcount_band"],
                "head_qualification": shared["head_qualification"],
                "closure_date": shared["closure_date"]
                or _text(present(etab, ("detailCessationEtablissement", "dateRadiation")))
                or _text(rnm.get("dateFin")),
                "apprentices_declared": shared["apprentices_declared"],
                "rnm_registered": None if not isinstance(registered, bool) else "1" if registered else "0",
            }
        )
    return rows


def _formality_text(company: Mapping[str, object], formality: Mapping[str, object], name: str) -> str | None:
    """A field of `formality` (search-infra's place), else the same field next to it (as some payloads)."""
    return _text(formality.get(name)) or _text(company.get(name))


def _rnm(*levels: Mapping[str, object]) -> Mapping[str, object]:
    """The first `registreAnterieur.rnm` of the levels (establishment, block, content), its fields read
    together (the start and the end of one registration)."""
    for level in levels:
        rnm = present(level, ("registreAnterieur", "rnm"))
        if isinstance(rnm, Mapping):
            return rnm
    return {}


def _head_quality(block: Mapping[str, object]) -> str | None:
    """The head's `qualiteArtisan`: the entrepreneur's (an EI), else the first active director carrying one
    (`actif` false on the pouvoir or its `individu`: not active), on the pouvoir or inside `individu`."""
    own = _text(present(block, ("identite", "entrepreneur", "qualiteArtisan")))
    if own is not None:
        return own
    pouvoirs = present(block, ("composition", "pouvoirs"))
    if not isinstance(pouvoirs, list):
        return None
    for pouvoir in pouvoirs:
        if not isinstance(pouvoir, Mapping):
            continue
        individu = pouvoir.get("individu")
        individu = individu if isinstance(individu, Mapping) else {}
        active = pouvoir.get("actif", individu.get("actif"))
        if active is False:
            continue
        quality = _text(pouvoir.get("qualiteArtisan")) or _text(individu.get("qualiteArtisan"))
        if quality is not None:
            return quality
    return None


def _text(value: object) -> str | None:
    """A scalar of the record as text (a JSON number as its digits), None when missing, empty, a boolean
    or a structure (an object or a list is never copied out of the record)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str):
        text = value.strip()
        return text or None
    return None
