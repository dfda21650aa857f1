"""SIFA, the DEPP's annual survey of apprentices (snapshot at 31 December), as every CFA's software exports
it: a `;` CSV in UTF-8 with BOM, with or without its header line, codes wrapped as Excel formulas `="..."`,
names stripped of their accents, dates as `ddMMyyyy` (field list: `SIFA_FIELDS` of
mission-apprentissage/flux-retour-cfas, `sifaCsvFields.ts`). An `.xlsx` SIFA export is read alike.

Read: the fields below, and nothing else. Derived then dropped: the learner key (from NOM, PRENOM1,
DATE_NAIS) and the age at the prediction date (from DATE_NAIS). Never read: INE, the other names,
addresses, postcodes, home commune, phones, e-mails, birth place, nationality, the guardian's PCS.
"""

from __future__ import annotations

import pandas as pd

from catalog.formats.common import (
    EMPLOYER_TYPE_SIFA,
    PRIOR_QUALIFICATION_SIFA,
    PRIOR_SITUATION_SIFA,
    FormatRead,
    Pseudonymiser,
    age_at,
    diploma_from_code,
    dotted_naf,
    iso_text,
    map_codes,
    parse_dates,
    read_delimited,
    situation_from_code,
    unexcel,
)

SIFA_FIELDS: tuple[str, ...] = (
    "INE", "NUMERO_UAI", "TYPE_CFA", "SIT_FORM", "UAI_EPLE", "NAT_STR_JUR", "STATUT", "DIPLOME", "RNCP",
    "DUR_FORM_THEO", "DUR_FORM_REELLE", "AN_FORM", "NOM", "NOM2", "PRENOM1", "PRENOM2", "PRENOM3", "ADRESSE",
    "COD_POST", "COM_RESID", "TEL_JEUNE", "TEL_RESP1_PERSO", "TEL_RESP1_PRO", "TEL_RESP2_PERSO",
    "TEL_RESP2_PRO", "MAIL_JEUNE", "MAIL_RESP1", "MAIL_RESP2", "DATE_NAIS", "LIEU_NAIS", "SEXE", "REGIME_SCO",
    "PCS", "HANDI", "NATIO", "SIT_AV_APP", "DIP_OBT", "SIT_N_1", "ETAB_N_1", "TYPE_EMP", "DATE_ENTREE_CFA",
    "DATE_DEB_CONT", "DATE_RUPT_CONT", "COM_ETAB", "NAF_ETAB", "NBSAL_EMP", "SIRET_EMP",
)  # fmt: skip
"""The 47 fields of the SIFA export, in their order (a file without header is read by position; the older
46-field layout has no RNCP)."""

IDENTITY: tuple[str, ...] = ("NOM", "PRENOM1", "DATE_NAIS")
"""Read only to derive the learner key and the age, then dropped."""

READ: tuple[str, ...] = (
    *IDENTITY,
    "SEXE",
    "HANDI",
    "DIPLOME",
    "RNCP",
    "DUR_FORM_THEO",
    "AN_FORM",
    "SIT_AV_APP",
    "DIP_OBT",
    "SIT_N_1",
    "TYPE_EMP",
    "DATE_DEB_CONT",
    "DATE_RUPT_CONT",
    "NAF_ETAB",
    "NBSAL_EMP",
    "SIRET_EMP",
)
NEVER_READ: tuple[str, ...] = tuple(f for f in SIFA_FIELDS if f not in READ)

FIELDS: dict[str, str] = {
    "learner_id": "NOM+PRENOM1+DATE_NAIS",
    "contract_id": "NOM+PRENOM1+DATE_NAIS+DATE_DEB_CONT",
    "siret": "SIRET_EMP",
    "naf_code": "NAF_ETAB",
    "employer_headcount": "NBSAL_EMP",
    "employer_type": "TYPE_EMP",
    "diploma": "DIPLOME",
    "diploma_code": "DIPLOME",
    "theoretical_months": "DUR_FORM_THEO",
    "training_year": "AN_FORM",
    "contract_start": "DATE_DEB_CONT",
    "rupture_date": "DATE_RUPT_CONT",
    "age": "DATE_NAIS",
    "sex": "SEXE",
    "rqth": "HANDI",
    "prior_situation": "SIT_AV_APP",
    "prior_qualification": "DIP_OBT",
    "observed_on": "DATE_DEB_CONT (the snapshot: 31/12 of the latest start)",
}
"""Contract column -> the SIFA field it is read from (quarantine reports name the SIFA field)."""


def read_sifa(
    raw: bytes | pd.DataFrame, source: str, pseudonyms: Pseudonymiser, prediction_weeks: int = 6
) -> FormatRead:
    """A SIFA export (the bytes of a CSV, or the text table of an `.xlsx`) as `apprentice_contracts` rows."""
    if isinstance(raw, pd.DataFrame):
        columns = [c for c in READ if c in raw.columns]
        cells = raw[columns].astype(object).where(raw[columns].notna(), None)
        frame = cells.assign(line=range(2, len(raw) + 2), fields=len(raw.columns), expected=len(raw.columns))
        for name in READ:
            if name not in frame:
                frame[name] = None
    else:
        frame = read_delimited(raw, SIFA_FIELDS, READ, source)
    value = {name: unexcel(frame[name].astype("string")) for name in READ}
    start = parse_dates(value["DATE_DEB_CONT"])
    rupture = parse_dates(value["DATE_RUPT_CONT"])
    birth = parse_dates(value["DATE_NAIS"])
    learner = pseudonyms.keys("learner", value["NOM"], value["PRENOM1"], birth.dt.strftime("%Y-%m-%d"))
    contract = pseudonyms.keys("contract", learner, start.dt.strftime("%Y-%m-%d"))
    months = value["DUR_FORM_THEO"]
    # The snapshot's date: SIFA counts the apprentices of 31 December, the year of the file's latest start.
    snapshot = f"{int(start.dt.year.max())}-12-31" if start.notna().any() else None
    table = pd.DataFrame(
        {
            "learner_id": learner,
            "contract_id": contract,
            "source": "sifa",
            "siret": value["SIRET_EMP"].str.replace(r"[\s.]", "", regex=True),
            "naf_code": dotted_naf(value["NAF_ETAB"]),
            "employer_headcount": value["NBSAL_EMP"],
            "employer_type": map_codes(value["TYPE_EMP"], EMPLOYER_TYPE_SIFA),
            "diploma": diploma_from_code(value["DIPLOME"].fillna(value["RNCP"])),
            "diploma_code": value["DIPLOME"].fillna(value["RNCP"]),
            "theoretical_months": months,
            "training_year": value["AN_FORM"].str.replace(r"^([0-9])A$", r"\1", regex=True),
            "contract_start": iso_text(start, value["DATE_DEB_CONT"]),
            "planned_end": None,
            "rupture_date": iso_text(rupture, value["DATE_RUPT_CONT"]),
            "rupture_cause": None,
            "age": age_at(birth, start + pd.Timedelta(weeks=prediction_weeks)),
            "sex": map_codes(value["SEXE"], {"1": "M", "2": "F"}),
            "rqth": value["HANDI"],
            "prior_situation": map_codes(value["SIT_AV_APP"], PRIOR_SITUATION_SIFA)
            .where(value["SIT_AV_APP"] != "99", None)
            .fillna(situation_from_code(value["SIT_N_1"])),
            "observed_on": snapshot,
            "last_class": None,
            "prior_qualification": map_codes(value["DIP_OBT"], PRIOR_QUALIFICATION_SIFA).where(
                value["DIP_OBT"] != "99", None
            ),
        }
    ).assign(line=frame["line"].to_numpy())
    out = FormatRead(source=source, format="sifa")
    ragged = frame["fields"] != frame["expected"]
    for line in frame.loc[ragged, "line"]:
        out.errors.append(
            {"source": source, "line": int(line), "column": "(ligne)", "reason": "wrong number of fields"}
        )
    no_identity = learner.isna() & ~ragged
    for line in frame.loc[no_identity, "line"]:
        out.errors.append(
            {
                "source": source,
                "line": int(line),
                "column": "NOM+PRENOM1+DATE_NAIS",
                "reason": "learner identity missing or birth date not a date: no pseudonymous key",
            }
        )
    out.add("apprentice_contracts", table[~ragged & ~no_identity].reset_index(drop=True), FIELDS)
    return out
