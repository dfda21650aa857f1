"""The dashboard's ERP API v3 (tableau de bord de l'apprentissage, "dossier apprenant" v3), as a CFA's
software sends it: flat JSON records, a JSON array or NDJSON, one record per learner and training with up
to four contracts (contract 1 without suffix, then `_2`, `_3`, `_4` on every contract field), dates as
ISO-8601 strings (`2024-09-02` or `2024-09-02T00:00:00.000Z`), `rqth_apprenant` a JSON boolean (field
list: `dossierApprenantSchemaV3Base` of mission-apprentissage/flux-retour-cfas,
`shared/models/parts/dossierApprenantSchemaV3.ts`).

Read: the fields of `READ`, and nothing else (a record is a JSON object: only these keys are copied out
of it). Derived then dropped: the learner key (from nom_apprenant, prenom_apprenant,
date_de_naissance_apprenant), the contract key (learner key and contract start), the age at the
prediction date (from the birth date) and the rupture cause (coarsened from cause_rupture_contrat, whose
free text is never kept). Never read (`NEVER_READ`): the ERP's learner id, INE, NIR, e-mails, phone,
address, postcodes and communes (home and birth), the guardians' e-mails, the RQTH date, the disability
referent's name and e-mail, the exclusion cause, the statuses, the CFA's establishments. v3 has no NAF,
headcount or type of the employer and no prior qualification: those columns are empty.

One record gives one `apprentice_contracts` row per contract present (a non-empty `contrat_date_debut`,
`_2`, `_3` or `_4`), every row with the record's line; a record without any contract start (a learner
registered without a contract) gives no row and no error. The quarantine names a contract column by its
contract-1 field with `[_n]` (`contrat_date_debut[_n]`): `source_fields` is one mapping per table, not per
row, so a bad value of contract 2 is reported as `contrat_date_debut[_n]` at its record's line with its
value.

Dates written with a time zone (`...Z`, `...+02:00`) are read as their day in Europe/Paris (a date sent as
the UTC instant of Paris midnight, `2006-03-14T23:00:00Z`, is 15 March), so that keys join SIFA's.
"""

from __future__ import annotations

import pandas as pd

from catalog.formats.common import (
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
    iso_text,
    json_records,
    json_text,
    local_days,
    map_codes,
    parse_dates,
    rupture_cause,
    situation_from_code,
)

CONTRACT_SUFFIXES: tuple[str, ...] = ("", "_2", "_3", "_4")
"""Contract 1 has no suffix; contracts 2 to 4 add these to every contract field."""

CONTRACT_FIELDS: tuple[str, ...] = (
    "contrat_date_debut",
    "contrat_date_fin",
    "contrat_date_rupture",
    "cause_rupture_contrat",
    "siret_employeur",
)

ERP_FIELDS: tuple[str, ...] = (
    "nom_apprenant", "prenom_apprenant", "date_de_naissance_apprenant", "annee_scolaire", "statut_apprenant",
    "date_metier_mise_a_jour_statut", "id_erp_apprenant", "ine_apprenant", "nir_apprenant", "email_contact",
    "tel_apprenant", "libelle_court_formation", "annee_formation", "formation_rncp",
    "custom_statut_apprenant", "adresse_apprenant", "code_postal_apprenant",
    "code_postal_de_naissance_apprenant",
    "code_commune_insee_apprenant", "code_commune_insee_de_naissance_apprenant", "sexe_apprenant",
    "rqth_apprenant", "date_rqth_apprenant", "responsable_apprenant_mail1", "responsable_apprenant_mail2",
    "obtention_diplome_formation", "date_obtention_diplome_formation", "date_exclusion_formation",
    "cause_exclusion_formation", "nom_referent_handicap_formation", "prenom_referent_handicap_formation",
    "email_referent_handicap_formation",
    *(f"{name}{suffix}" for suffix in CONTRACT_SUFFIXES for name in CONTRACT_FIELDS),
    "formation_presentielle", "duree_theorique_formation", "duree_theorique_formation_mois",
    "date_inscription_formation", "date_entree_formation", "date_fin_formation",
    "etablissement_responsable_uai", "etablissement_responsable_siret", "etablissement_formateur_uai",
    "etablissement_formateur_siret", "etablissement_lieu_de_formation_uai",
    "etablissement_lieu_de_formation_siret", "etablissement_lieu_de_formation_adresse",
    "etablissement_lieu_de_formation_code_postal", "formation_cfd", "derniere_situation",
    "dernier_organisme_uai", "type_cfa", "source", "api_version", "source_organisme_id",
)  # fmt: skip
"""The fields of an ERP API v3 record (`dossierApprenantSchemaV3Input`: the base schema, `nir_apprenant`
and the fields the API adds)."""

IDENTITY: tuple[str, ...] = ("nom_apprenant", "prenom_apprenant", "date_de_naissance_apprenant")
"""Read only to derive the learner key and the age, then dropped."""

LEARNER_READ: tuple[str, ...] = (
    *IDENTITY,
    "sexe_apprenant",
    "rqth_apprenant",
    "derniere_situation",
    "formation_cfd",
    "formation_rncp",
    "duree_theorique_formation_mois",
    "duree_theorique_formation",
    "annee_formation",
)
"""The fields of the learner and the training, read once per record."""

READ: tuple[str, ...] = (
    *LEARNER_READ,
    *(f"{name}{suffix}" for suffix in CONTRACT_SUFFIXES for name in CONTRACT_FIELDS),
)
NEVER_READ: tuple[str, ...] = tuple(f for f in ERP_FIELDS if f not in READ)

FIELDS: dict[str, str] = {
    "learner_id": "nom_apprenant+prenom_apprenant+date_de_naissance_apprenant",
    "contract_id": "nom_apprenant+prenom_apprenant+date_de_naissance_apprenant+contrat_date_debut[_n]",
    "siret": "siret_employeur[_n]",
    "diploma": "formation_cfd (else formation_rncp)",
    "diploma_code": "formation_cfd (else formation_rncp)",
    "theoretical_months": "duree_theorique_formation_mois (else duree_theorique_formation x 12)",
    "training_year": "annee_formation",
    "contract_start": "contrat_date_debut[_n]",
    "planned_end": "contrat_date_fin[_n]",
    "rupture_date": "contrat_date_rupture[_n]",
    "rupture_cause": "cause_rupture_contrat[_n]",
    "age": "date_de_naissance_apprenant",
    "sex": "sexe_apprenant",
    "rqth": "rqth_apprenant",
    "prior_situation": "derniere_situation",
}
"""Contract column -> the ERP field it is read from (`[_n]`: the field of the row's contract, no suffix for
contract 1, `_2` to `_4` for the others)."""


def read_erp(raw: bytes, source: str, pseudonyms: Pseudonymiser, prediction_weeks: int = 6) -> FormatRead:
    """ERP API v3 records (the bytes of a JSON array or of NDJSON) as `apprentice_contracts` rows."""
    records = json_records(raw, source)
    out = FormatRead(source=source, format="erp")
    out.errors.extend(broken_records(records, source))
    learners: list[dict[str, object]] = []
    contracts: list[dict[str, object]] = []
    for line, record in records:
        if record is None:
            continue
        learner: dict[str, object] = {name: json_text(record.get(name)) for name in LEARNER_READ}
        learner["rqth_apprenant"] = boolean_flag(record.get("rqth_apprenant"))
        for name in ("nom_apprenant", "prenom_apprenant"):  # a name is a string, nothing else is hashed
            if not isinstance(record.get(name), str):
                learner[name] = None
        learner["line"] = line
        learners.append(learner)
        for suffix in CONTRACT_SUFFIXES:
            if json_text(record.get(f"contrat_date_debut{suffix}")) is None:
                continue
            contract: dict[str, object] = {
                name: json_text(record.get(f"{name}{suffix}")) for name in CONTRACT_FIELDS
            }
            contract["record"] = len(learners) - 1
            contracts.append(contract)
    columns = [*LEARNER_READ, "line"]
    people = pd.DataFrame(learners, columns=columns, dtype=object)
    value = {name: people[name].astype("string").mask(people[name] == NOT_A_VALUE) for name in IDENTITY}
    birth = parse_dates(local_days(value["date_de_naissance_apprenant"]))
    learner_key = pseudonyms.keys(
        "learner", value["nom_apprenant"], value["prenom_apprenant"], birth.dt.strftime("%Y-%m-%d")
    )
    for line in people.loc[learner_key.isna(), "line"]:
        out.errors.append(
            {
                "source": source,
                "line": int(line),
                "column": "+".join(IDENTITY),
                "reason": "learner identity missing or birth date not a date: no pseudonymous key",
            }
        )
    rows = pd.DataFrame(contracts, columns=[*CONTRACT_FIELDS, "record"], dtype=object)
    at = rows["record"].to_numpy(dtype=int)
    keyed = learner_key.notna().to_numpy()[at]
    rows, at = rows[keyed].reset_index(drop=True), at[keyed]
    person = people.iloc[at].reset_index(drop=True)
    text = {name: person[name].astype("string") for name in LEARNER_READ}
    text.update({name: rows[name].astype("string") for name in CONTRACT_FIELDS})
    learner_id = learner_key.iloc[at].reset_index(drop=True)
    born = birth.iloc[at].reset_index(drop=True)
    start = parse_dates(local_days(text["contrat_date_debut"]))
    end = parse_dates(local_days(text["contrat_date_fin"]))
    rupture = parse_dates(local_days(text["contrat_date_rupture"]))
    code = text["formation_cfd"].str.upper().fillna(clean_rncp(text["formation_rncp"]))
    years = pd.to_numeric(text["duree_theorique_formation"], errors="coerce")
    years_in_months = (years * 12).round().astype("Int64").astype("string")
    cause = text["cause_rupture_contrat"]
    table = pd.DataFrame(
        {
            "learner_id": learner_id,
            "contract_id": pseudonyms.keys("contract", learner_id, start.dt.strftime("%Y-%m-%d")),
            "source": "erp",
            "siret": clean_siret(text["siret_employeur"]),
            "naf_code": None,
            "employer_headcount": None,
            "employer_type": None,
            "diploma": diploma_from_code(code),
            "diploma_code": code,
            "theoretical_months": text["duree_theorique_formation_mois"].fillna(
                years_in_months.fillna(text["duree_theorique_formation"])
            ),
            "training_year": text["annee_formation"],
            "contract_start": iso_text(start, text["contrat_date_debut"]),
            "planned_end": iso_text(end, text["contrat_date_fin"]),
            "rupture_date": iso_text(rupture, text["contrat_date_rupture"]),
            "rupture_cause": rupture_cause(cause.mask(cause == NOT_A_VALUE)),
            "age": age_at(born, start + pd.Timedelta(weeks=prediction_weeks)),
            "sex": map_codes(text["sexe_apprenant"].str.upper(), SEX_CODES),
            "rqth": text["rqth_apprenant"],
            "prior_situation": situation_from_code(text["derniere_situation"]),
            "prior_qualification": None,
            "observed_on": None,
            "last_class": None,
        },
        index=rows.index,
    ).assign(line=person["line"].to_numpy(dtype=int))
    out.add("apprentice_contracts", table, FIELDS)
    return out
