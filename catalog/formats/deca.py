"""DECA, the national deposit of apprenticeship contracts (DGEFP), as the dashboard and the BAL copy it:
raw contract records, a JSON array or NDJSON, with nested `alternant`, `employeur` and `formation`, dates
as ISO strings (field list: the raw record model of mission-apprentissage/flux-retour-cfas,
`shared/models/data/airbyteRawBalDeca.model.ts`, with the BAL's additions `type_employeur` and
`code_motif_rupture`; code lists of the CERFA FA13, mission-apprentissage/cerfa
`server/src/common/model/schema/specific/dossier/cerfa/parts/*.part.js`).

Read: the paths of `READ`, and nothing else (only these are copied out of a record). Only apprenticeship
contracts are kept: a record whose `dispositif` is present and not `APPR` is left out with a quarantine
entry ("dispositif is not APPR: left out"), never silently. Derived then dropped: the learner key (from
alternant.nom, alternant.prenom, alternant.date_naissance), the contract key (learner key and contract
start, as SIFA's and ERP's, so that the same contract joins across the three formats), the chamber's
contract key (a keyed hash of no_contrat, which is never copied), the age at the prediction date, the
theoretical length (months between formation.date_debut_formation and formation.date_fin_formation,
rounded) and the rupture cause (coarsened from code_motif_rupture: no code list is published, so a bare
code reads as "autre"). Never read (`NEVER_READ`): the apprentice's e-mail, phone, address, birth
department and nationality, the employer's name, e-mail, phone and address, the contract number itself,
the CFA and the training place, the rupture comment (free text), the Mongo and Airbyte fields.

Two tables:
- `apprentice_contracts` (source `deca`), one row per contract; the employer's type from `type_employeur`
  (CERFA codes 11-16 private, 21-29 public), the diploma from formation.code_diplome (its CFD) else from
  formation.type_diplome (`DIPLOMA_TYPE_CERFA`), `diploma_code` the CFD else the RNCP code. `rqth` is
  alternant.handicap, which the BAL is known to have set to false for a JSON `true` from the DECA API
  (`hydrate-deca` expectations): read it as "recorded RQTH", not as a reliable flag. `prior_situation`
  comes from alternant.derniere_classe only when it holds a SIFA situation code (4 digits, as
  `derniere_situation` of ERP v3): DECA's own codes (CERFA `derniereClasse`: 01, 11, 12, ... 40, 41, 42)
  say which year of a cycle was completed, not the situation before the contract, so they are left empty.
  `prior_qualification` is not in DECA. A record without the learner's identity gets no row here (a
  reader error at its line, as in SIFA).
- `apprenticeship_contracts` (the chamber's contracts, for the host model), one row per contract, also
  for a record without the learner's identity (it needs none): contract_id the keyed hash of no_contrat,
  the employer's SIRET, the contract dates and the diploma. The diploma is required there: a contract
  whose diploma is none of the project's (a licence, a master...) is quarantined by the contract, with its
  reason.

Dates written with a time zone (the BAL's `2023-09-18T00:00:00+02:00`) are read as their day in
Europe/Paris (`catalog.formats.erp.local_days`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from catalog.formats.common import (
    EMPLOYER_TYPE_SIFA,
    NOT_A_VALUE,
    SEX_CODES,
    FormatRead,
    Pseudonymiser,
    age_at,
    boolean_flag,
    broken_records,
    clean_rncp,
    clean_siret,
    diploma_from_code,
    dotted_naf,
    iso_text,
    json_records,
    json_text,
    local_days,
    map_codes,
    parse_dates,
    present,
    rupture_cause,
    situation_from_code,
)
from models.vocabulary import DIPLOMAS, PRIOR_SITUATIONS

DECA_FIELDS: tuple[str, ...] = (
    "_id", "no_contrat", "type_contrat", "date_debut_contrat", "date_fin_contrat", "date_effet_rupture",
    "dispositif", "created_at", "updated_at", "_ab_cdc_updated_at", "_ab_cdc_cursor", "_ab_cdc_deleted_at",
    "statut", "flag_correction", "date_suppression", "date_effet_avenant", "no_avenant",
    "rupture_avant_debut", "type_employeur", "employeur_specifique", "type_derogation", "code_motif_rupture",
    "commentaire_rupture", "date_signalement_rupture", "date_reelle_fin_contrat", "date_signature_contrat",
    "alternant.nom", "alternant.prenom", "alternant.sexe", "alternant.date_naissance",
    "alternant.departement_naissance", "alternant.nationalite", "alternant.handicap", "alternant.courriel",
    "alternant.telephone", "alternant.adresse.numero", "alternant.adresse.voie",
    "alternant.adresse.code_postal", "alternant.derniere_classe",
    "employeur.siret", "employeur.denomination", "employeur.adresse.code_postal", "employeur.naf",
    "employeur.code_idcc", "employeur.nombre_de_salaries", "employeur.courriel", "employeur.telephone",
    "formation.code_diplome", "formation.rncp", "formation.intitule_ou_qualification",
    "formation.type_diplome", "formation.date_debut_formation", "formation.date_fin_formation",
    "organisme_formation.siret", "organisme_formation.uai_cfa", "etablissement_formation.siret",
)  # fmt: skip
"""The paths of a raw DECA record (`airbyteRawBalDeca.model.ts`, and the BAL fields a copy may also hold)."""

IDENTITY: tuple[str, ...] = ("alternant.nom", "alternant.prenom", "alternant.date_naissance")
"""Read only to derive the learner key and the age, then dropped."""

READ: tuple[str, ...] = (
    *IDENTITY,
    "dispositif",
    "no_contrat",
    "date_debut_contrat",
    "date_fin_contrat",
    "date_effet_rupture",
    "code_motif_rupture",
    "type_employeur",
    "alternant.sexe",
    "alternant.handicap",
    "alternant.derniere_classe",
    "employeur.siret",
    "employeur.naf",
    "employeur.nombre_de_salaries",
    "formation.code_diplome",
    "formation.rncp",
    "formation.type_diplome",
    "formation.date_debut_formation",
    "formation.date_fin_formation",
)
NEVER_READ: tuple[str, ...] = tuple(f for f in DECA_FIELDS if f not in READ)

FIELDS: dict[str, str] = {
    "learner_id": "alternant.nom+alternant.prenom+alternant.date_naissance",
    "contract_id": "alternant.nom+alternant.prenom+alternant.date_naissance+date_debut_contrat",
    "siret": "employeur.siret",
    "naf_code": "employeur.naf",
    "employer_headcount": "employeur.nombre_de_salaries",
    "employer_type": "type_employeur",
    "diploma": "formation.code_diplome (else formation.type_diplome)",
    "diploma_code": "formation.code_diplome (else formation.rncp)",
    "theoretical_months": "formation.date_debut_formation+formation.date_fin_formation",
    "contract_start": "date_debut_contrat",
    "planned_end": "date_fin_contrat",
    "rupture_date": "date_effet_rupture",
    "rupture_cause": "code_motif_rupture",
    "age": "alternant.date_naissance",
    "sex": "alternant.sexe",
    "rqth": "alternant.handicap",
    "prior_situation": "alternant.derniere_classe",
    "last_class": "alternant.derniere_classe",
}
"""`apprentice_contracts` column -> the DECA path it is read from."""

CHAMBER_FIELDS: dict[str, str] = {
    "contract_id": "no_contrat",
    "siret": "employeur.siret",
    "contract_start": "date_debut_contrat",
    "planned_end": "date_fin_contrat",
    "rupture_date": "date_effet_rupture",
    "diploma": "formation.code_diplome (else formation.type_diplome)",
}
"""`apprenticeship_contracts` column -> the DECA path it is read from."""

DIPLOMA_TYPE_CERFA: dict[str, str] = {"33": "CAP", "35": "MC", "41": "BAC_PRO", "54": "BTS"}
"""CERFA `typeDiplome` codes (`formation.type_diplome`) of the project's diplomas; any other code (a BEP, a
licence, a master, "autre niveau bac"...) leaves `diploma` empty."""

DAYS_PER_MONTH = 365.25 / 12


def _paths(record: Mapping[str, object]) -> dict[str, object]:
    """The values of the `READ` paths of one record (nothing else is copied out of it)."""
    values: dict[str, object] = {path: json_text(present(record, path.split("."))) for path in READ}
    values["alternant.handicap"] = _handicap(present(record, ("alternant", "handicap")))
    for path in ("alternant.nom", "alternant.prenom"):  # a name is a string, nothing else is hashed
        if not isinstance(present(record, path.split(".")), str):
            values[path] = None
    for path in ("alternant.date_naissance", "no_contrat"):
        if values[path] == NOT_A_VALUE:
            values[path] = None
    return values


def _handicap(value: object) -> str | None:
    """alternant.handicap: a JSON boolean, or the text `true`/`false` the DECA API sends."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return "1" if value.strip().lower() == "true" else "0"
    return boolean_flag(value)


_DIPLOMA_TYPES: dict[str, str] = {**DIPLOMA_TYPE_CERFA, **{name: name for name in DIPLOMAS}}


def _diploma(code: pd.Series, kind: pd.Series) -> pd.Series:
    """The diploma from the CFD, else from the CERFA type (a project diploma name, `BTS`, is taken as is)."""
    by_type = kind.str.upper().map(lambda k: _DIPLOMA_TYPES.get(k) if isinstance(k, str) else None)
    by_code = diploma_from_code(code)
    return by_code.where(by_code.notna(), by_type.astype(object))


def read_deca(raw: bytes, source: str, pseudonyms: Pseudonymiser, prediction_weeks: int = 6) -> FormatRead:
    """DECA records (the bytes of a JSON array or of NDJSON) as `apprentice_contracts` rows and the
    chamber's `apprenticeship_contracts` rows."""
    records = json_records(raw, source)
    out = FormatRead(source=source, format="deca")
    out.errors.extend(broken_records(records, source))
    rows: list[dict[str, object]] = []
    for line, record in records:
        if record is None:
            continue
        values = _paths(record)
        dispositif = values["dispositif"]
        if dispositif is not None and str(dispositif).upper() != "APPR":
            out.errors.append(
                {
                    "source": source,
                    "line": line,
                    "column": "dispositif",
                    "reason": "dispositif is not APPR: left out",
                }
            )
            continue
        rows.append({**values, "line": line})
    frame = pd.DataFrame(rows, columns=[*READ, "line"], dtype=object)
    text = {path: frame[path].astype("string") for path in READ}
    birth = parse_dates(local_days(text["alternant.date_naissance"]))
    start = parse_dates(local_days(text["date_debut_contrat"]))
    end = parse_dates(local_days(text["date_fin_contrat"]))
    rupture = parse_dates(local_days(text["date_effet_rupture"]))
    learner = pseudonyms.keys(
        "learner", text["alternant.nom"], text["alternant.prenom"], birth.dt.strftime("%Y-%m-%d")
    )
    siret = clean_siret(text["employeur.siret"])
    cfd = text["formation.code_diplome"].str.upper()
    # A titre professionnel has no CFD: its RNCP code says what it is (as SIFA's and the ERP's readers do).
    diploma = _diploma(cfd.fillna(clean_rncp(text["formation.rncp"])), text["formation.type_diplome"])
    training_start = parse_dates(local_days(text["formation.date_debut_formation"]))
    training_end = parse_dates(local_days(text["formation.date_fin_formation"]))
    months = ((training_end - training_start).dt.days / DAYS_PER_MONTH).round().astype("Int64")
    situation = situation_from_code(text["alternant.derniere_classe"])
    cause = text["code_motif_rupture"]
    contracts = pd.DataFrame(
        {
            "learner_id": learner,
            "contract_id": pseudonyms.keys("contract", learner, start.dt.strftime("%Y-%m-%d")),
            "source": "deca",
            "siret": siret,
            "naf_code": dotted_naf(text["employeur.naf"]),
            "employer_headcount": text["employeur.nombre_de_salaries"],
            "employer_type": map_codes(text["type_employeur"], EMPLOYER_TYPE_SIFA),
            "diploma": diploma,
            "diploma_code": cfd.fillna(clean_rncp(text["formation.rncp"])),
            "theoretical_months": months.astype("string"),
            "training_year": None,
            "contract_start": iso_text(start, text["date_debut_contrat"]),
            "planned_end": iso_text(end, text["date_fin_contrat"]),
            "rupture_date": iso_text(rupture, text["date_effet_rupture"]),
            "rupture_cause": rupture_cause(cause.mask(cause == NOT_A_VALUE)),
            "age": age_at(birth, start + pd.Timedelta(weeks=prediction_weeks)),
            "sex": map_codes(text["alternant.sexe"].str.upper(), SEX_CODES),
            "rqth": text["alternant.handicap"],
            "prior_situation": situation.where(situation.isin(list(PRIOR_SITUATIONS)), None),
            "prior_qualification": None,
            "observed_on": None,
            "last_class": text["alternant.derniere_classe"].str.zfill(2),
        },
        index=frame.index,
    ).assign(line=frame["line"].to_numpy(dtype=int))
    no_identity = learner.isna()
    for line in frame.loc[no_identity, "line"]:
        out.errors.append(
            {
                "source": source,
                "line": int(line),
                "column": "+".join(IDENTITY),
                "reason": "learner identity missing or birth date not a date: no pseudonymous key "
                "(the contract is kept in apprenticeship_contracts)",
            }
        )
    out.add("apprentice_contracts", contracts[~no_identity].reset_index(drop=True), FIELDS)
    chamber = pd.DataFrame(
        {
            "contract_id": pseudonyms.keys("deca_contract", text["no_contrat"]),
            "siret": siret,
            "contract_start": iso_text(start, text["date_debut_contrat"]),
            "planned_end": iso_text(end, text["date_fin_contrat"]),
            "rupture_date": iso_text(rupture, text["date_effet_rupture"]),
            "diploma": diploma,
        },
        index=frame.index,
    ).assign(line=frame["line"].to_numpy(dtype=int))
    out.add("apprenticeship_contracts", chamber, CHAMBER_FIELDS)
    return out
