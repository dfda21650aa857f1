"""SYNTHETIC example files in the national systems' real layouts, written from the simulators, with the oracle
keyed exactly as the readers (`catalog.formats`) key the contracts.

- `write_national`: a simulated population of apprentices (`models.simulation.apprentices`) as the yearly
  SIFA snapshots (`sifa_<year>.csv`, the older CSV export: 47 fields, `;`, UTF-8 with BOM, header, Excel
  `="..."` cells, `ddMMyyyy` dates), the ERP API v3 records (`erp.ndjson`, one per learner and training, up
  to 4 contracts), the DECA raw contract records (`deca.ndjson`) and `oracle.csv` (contract_id as the
  readers compute it with the same secret; oracle_rupture and oracle_definitive given what is observable
  at the contract's prediction date through these formats, and the same `_full`, given the true prior
  qualification too).
- `write_chamber_national`: a simulated chamber (`models.simulation.chamber`) as an RNE stock file
  (`rne.json`, a JSON array of company objects), the DECA records of its contracts and its `oracle.csv`
  (siret, cutoff_date, oracle_probability).

Every personal field of these layouts is filled, with invented values (`invent_people`): the files are as
full of personal data as real exports, so that the readers' minimisation is tested on them. Only what is
known at each export date is written (a SIFA snapshot at its 31 December, the ERP and DECA files at the
simulation's `as_of`): a rupture or a contract after that date is not in the files, it is in the oracle.

`gzip_over` (bytes): a file larger than that is written gzipped (`.gz` added; the import reads both).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catalog.formats.common import Pseudonymiser
from catalog.formats.sifa import SIFA_FIELDS
from models.simulation.apprentices import (
    DECA_DIPLOMA_TYPE,
    HEADCOUNT_RANGE,
    IDCC,
    MAIL_DOMAINS,
    PHONE_BLOCK,
    TRADE_WORDS,
    SimulatedApprentices,
    fold_name,
    invent_people,
    known_on,
    postcodes_of,
    sifa_snapshot,
    sifa_years,
    training_of,
)
from models.simulation.chamber import SimulatedChamber
from models.simulation.training_centre import FEMALE_SHARE, draw_ages
from models.vocabulary import activity_group

SIFA_WRAPPED: frozenset[str] = frozenset(
    {
        "INE", "DIPLOME", "DATE_NAIS", "LIEU_NAIS", "TYPE_CFA", "TEL_JEUNE", "TEL_RESP1_PERSO",
        "TEL_RESP1_PRO", "COD_POST", "COM_RESID", "DIP_OBT", "SIRET_EMP", "DATE_DEB_CONT", "DATE_RUPT_CONT",
        "COM_ETAB", "ETAB_N_1",
    }
)  # fmt: skip
"""The fields the older SIFA export (flux-retour-cfas `generateSifa`, CSV with header) wraps as `="..."`
(ETAB_N_1 only when it is not a full UAI)."""

_SIFA_LETTERS = str.maketrans(
    {
        **{c: "A" for c in "ÀÁÂÃÄÅÆ"},
        **{c: "a" for c in "àáâãäåæ"},
        **{c: "E" for c in "ÈÉÊË"},
        **{c: "e" for c in "èéêë"},
        **{c: "I" for c in "ÌÍÎÏ"},
        **{c: "i" for c in "ìíîï"},
        **{c: "O" for c in "ÒÓÔÕÖ×Ø"},
        **{c: "o" for c in "òóôõö÷ø"},
        **{c: "U" for c in "ÙÚÛÜ"},
        **{c: "u" for c in "ùúûü"},
        "Ñ": "N",
        "ñ": "n",
        "Ç": "C",
        "ç": "c",
        "-": " ",
    }
)


def sifa_text(value: str) -> str:
    """A name as SIFA exports it (`formatStringForSIFA`): Latin-1 accents to their letter, hyphens to
    spaces, every other character but letters, digits and spaces removed, at most 100 characters."""
    return re.sub(r"[^0-9A-Za-z ]", "", value.translate(_SIFA_LETTERS))[:100]


def _wrap(value: object) -> str | None:
    """The Excel text formula `="..."` of a value (None stays empty)."""
    return None if value is None else f'="{value}"'


def _cell(value: object) -> str:
    """A CSV cell as json2csv writes it: numbers bare, strings quoted (inner quotes doubled), none empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value)
    return '"' + text.replace('"', '""') + '"'


def _packed(day: Any) -> str | None:
    return None if day is None or pd.isna(day) else day.strftime("%d%m%Y")


def _iso(day: Any) -> str | None:
    return None if day is None or pd.isna(day) else pd.Timestamp(day).strftime("%Y-%m-%d")


def _zulu(day: Any) -> str | None:
    """A date as the ERP API examples write it: UTC midnight with milliseconds."""
    return None if day is None or pd.isna(day) else pd.Timestamp(day).strftime("%Y-%m-%dT00:00:00.000Z")


def _paris(day: Any) -> str | None:
    """A date as the BAL stores DECA dates: Paris midnight with its offset (`+01:00` / `+02:00`)."""
    if day is None or pd.isna(day):
        return None
    return pd.Timestamp(day).tz_localize("Europe/Paris").isoformat()


def _write(path: Path, data: bytes, gzip_over: int | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = path.with_name(path.name + ".gz")
    if gzip_over is not None and len(data) > gzip_over:
        path.unlink(missing_ok=True)
        stale.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
        return stale
    stale.unlink(missing_ok=True)
    path.write_bytes(data)
    return path


def _ndjson(records: Iterable[Mapping[str, object]]) -> bytes:
    lines = [json.dumps(_pruned(r), ensure_ascii=False, separators=(",", ":")) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _pruned(value: Any) -> Any:
    """A record without its null properties (the ERP API strips them; DECA copies leave optional ones out)."""
    if isinstance(value, Mapping):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _plain(value: object) -> object:
    """numpy and pandas scalars as JSON's."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


@lru_cache(maxsize=1)
def shipped_postal_codes() -> dict[str, str]:
    """Commune code -> its first postcode (La Poste's base shipped in `data_samples/reference`)."""
    from catalog.reference import load_postal_codes

    codes = load_postal_codes().sort_values(["code_insee", "code_postal"])
    return dict(zip(codes["code_insee"], codes["code_postal"], strict=True))


def oracle_keys(
    pseudonyms: Pseudonymiser, nom: pd.Series, prenom: pd.Series, birth: pd.Series, start: pd.Series
) -> pd.Series:
    """The contract key the readers compute: a keyed hash of the learner key (name, first name, birth date
    YYYY-MM-DD) and the contract start (YYYY-MM-DD)."""
    learner = pseudonyms.keys("learner", nom, prenom, pd.to_datetime(birth).dt.strftime("%Y-%m-%d"))
    return pseudonyms.keys("contract", learner, pd.to_datetime(start).dt.strftime("%Y-%m-%d"))


# ---------------------------------------------------------------------------------------------------------
# Apprentices: SIFA, ERP v3, DECA, oracle.


def sifa_rows(sim: SimulatedApprentices, year: int) -> pd.DataFrame:
    """The SIFA snapshot at 31 December `year`: each learner's latest contract running that day, or broken
    within the relapse window before it (the learner is then a "rupturant", still at the centre). The rule
    is the simulator's (`sifa_snapshot`): its oracle knows the prior qualification (DIP_OBT) of a contract
    only from a snapshot dated by the contract's prediction date."""
    return sifa_snapshot(sim.contracts, year, sim.params.relapse_months)


def _sifa_table(
    sim: SimulatedApprentices,
    rows: pd.DataFrame,
    year: int,
    rng: np.random.Generator,
    lookups: tuple[dict[Any, dict[str, Any]], dict[Any, dict[str, Any]]] | None = None,
) -> bytes:
    learners, employers = lookups or (_by(sim.learners, "ref"), _by(sim.employers, "siret"))
    responsable = _by(sim.centres, "role")["responsable"]
    sites = sim.centres.loc[sim.centres["role"] == "formateur", "uai"].to_numpy()
    day = pd.Timestamp(year, 12, 31)
    lines = [";".join(_cell(f) for f in SIFA_FIELDS)]
    n = len(rows)
    no_ine = rng.random(n) < 0.05
    site = sites[rng.integers(0, len(sites), n)]
    for i, contract in enumerate(_records(rows)):
        person, employer = learners[contract["learner_ref"]], employers[contract["siret"]]
        cfd = person["diploma_cfd"] if isinstance(person["diploma_cfd"], str) else None
        years_in = (day - person["training_start"]).days // 365
        year_of_training = min(
            int(person["entry_year"]) + years_in, math.ceil(person["theoretical_months"] / 12)
        )
        situation = person["prior_situation"]
        in_school = situation in (
            "college",
            "lycee_general",
            "voie_pro_scolaire",
            "apprentissage",
            "superieur",
        )
        previous = (
            _department(person["commune_code"])
            if in_school
            else ("995" if situation in ("emploi", "sans_emploi") else "993")
        )
        guardian_phone = person["guardian_phone"] if isinstance(person["guardian_phone"], str) else None
        values: dict[str, object] = {
            "INE": None if no_ine[i] else person["ine"],
            "NUMERO_UAI": responsable["uai"],
            "TYPE_CFA": responsable["type_cfa"],
            "SIT_FORM": site[i],
            "UAI_EPLE": "NC",
            "NAT_STR_JUR": "NC",
            "STATUT": "APP",
            "DIPLOME": cfd,
            "RNCP": "" if cfd is not None else person["diploma_rncp"],
            "DUR_FORM_THEO": int(person["theoretical_months"]),
            "DUR_FORM_REELLE": int(person["theoretical_months"]) - 12 * (int(person["entry_year"]) - 1),
            "AN_FORM": f"{year_of_training}A",
            "NOM": sifa_text(person["nom"]),
            "NOM2": "",
            "PRENOM1": sifa_text(person["prenom"]),
            "PRENOM2": "",
            "PRENOM3": "",
            "ADRESSE": person["address"],
            "COD_POST": person["postcode"],
            "COM_RESID": person["commune_code"],
            "TEL_JEUNE": person["phone"],
            "TEL_RESP1_PERSO": guardian_phone,
            "TEL_RESP1_PRO": guardian_phone,
            "TEL_RESP2_PERSO": "",
            "TEL_RESP2_PRO": "",
            "MAIL_JEUNE": person["email"],
            "MAIL_RESP1": person["guardian_email"] if isinstance(person["guardian_email"], str) else "",
            "MAIL_RESP2": "",
            "DATE_NAIS": _packed(person["birth_date"]),
            "LIEU_NAIS": person["birth_commune"],
            "SEXE": 1 if person["sex"] == "M" else 2,
            "REGIME_SCO": person["regime"],
            "PCS": person["guardian_pcs"] if isinstance(person["guardian_pcs"], str) else "99",
            "HANDI": int(person["rqth"]),
            "NATIO": int(person["nationality"]),
            "SIT_AV_APP": int(person["prior_situation_code"]),
            "DIP_OBT": person["prior_qualification_code"],
            "SIT_N_1": int(person["last_situation_code"]),
            "ETAB_N_1": previous,
            "TYPE_EMP": int(contract["employer_type_code"]),
            "DATE_ENTREE_CFA": None,
            "DATE_DEB_CONT": _packed(contract["contract_start"]),
            "DATE_RUPT_CONT": _packed(contract["rupture_date"]),
            "COM_ETAB": employer["postcode"],
            "NAF_ETAB": str(contract["naf_code"]).replace(".", ""),
            "NBSAL_EMP": int(contract["employer_headcount"]),
            "SIRET_EMP": contract["siret"],
        }
        for name in SIFA_WRAPPED:  # INE: `=""` when unknown (the column is never empty)
            if values[name] is not None or name == "INE":
                values[name] = _wrap(values[name] or "")
        lines.append(";".join(_cell(values[f]) for f in SIFA_FIELDS))
    return ("\ufeff" + "\n".join(lines)).encode("utf-8")


def _department(commune: object) -> str:
    """The department of a commune as SIFA and the ERP write it (`069`, `2A`, `974`)."""
    code = str(commune)
    if code.startswith("97"):
        return code[:3]
    return code[:2] if code[:2] in ("2A", "2B") else "0" + code[:2]


def _school_year(day: pd.Timestamp) -> str:
    first = day.year if day.month >= 8 else day.year - 1
    return f"{first}-{first + 1}"


def erp_records(sim: SimulatedApprentices, rng: np.random.Generator) -> list[dict[str, object]]:
    """One ERP API v3 record per learner and training, as known at `as_of` (contracts 2-4 with `_2`...)."""
    as_of = pd.Timestamp(sim.params.extraction_date)
    known = known_on(sim.contracts, as_of)
    responsable = _by(sim.centres, "role")["responsable"]
    formateurs = _records(sim.centres[sim.centres["role"] == "formateur"])
    learners = _by(sim.learners, "ref")
    by_learner: dict[str, list[dict[str, Any]]] = {}
    for contract in _records(known.sort_values(["learner_ref", "rank"])):
        by_learner.setdefault(contract["learner_ref"], []).append(contract)
    records: list[dict[str, object]] = []
    for ref, contracts in by_learner.items():
        person = learners[ref]
        zulu = rng.random() < 0.4
        when = _zulu if zulu else _iso
        site = formateurs[int(rng.integers(0, len(formateurs)))]
        abroad = str(person["birth_commune"]).startswith("99")
        last = contracts[-1]
        settled = (
            last["rupture_date"] + pd.DateOffset(months=sim.params.relapse_months)
            if pd.notna(last["rupture_date"])
            else None
        )
        if pd.isna(last["rupture_date"]):
            status, status_day = 3, last["contract_start"]
        elif settled is not None and settled <= as_of:
            status, status_day = 0, last["rupture_date"]
        else:
            status, status_day = 2, last["rupture_date"]
        months = int(person["theoretical_months"])
        legacy = months % 12 == 0 and rng.random() < 0.1
        record: dict[str, object] = {
            "nom_apprenant": str(person["nom"]).upper() if rng.random() < 0.5 else person["nom"],
            "prenom_apprenant": person["prenom"],
            "date_de_naissance_apprenant": when(person["birth_date"]),
            "id_erp_apprenant": person["erp_id"],
            "ine_apprenant": person["ine"] if rng.random() < 0.9 else None,
            "email_contact": person["email"],
            "tel_apprenant": ("+33" + str(person["phone"])[1:]) if rng.random() < 0.5 else person["phone"],
            "adresse_apprenant": person["address"],
            "code_postal_apprenant": person["postcode"],
            "code_commune_insee_apprenant": person["commune_code"],
            "code_postal_de_naissance_apprenant": person["birth_postcode"],
            "code_commune_insee_de_naissance_apprenant": None if abroad else person["birth_commune"],
            "sexe_apprenant": person["sex"],
            "rqth_apprenant": person["rqth"] == "1",
            "date_rqth_apprenant": when(person["rqth_date"]),
            "responsable_apprenant_mail1": person["guardian_email"]
            if isinstance(person["guardian_email"], str)
            else None,
            "statut_apprenant": status,
            "date_metier_mise_a_jour_statut": pd.Timestamp(status_day).strftime("%Y-%m-%dT00:00:00Z"),
            "derniere_situation": int(person["last_situation_code"]),
            "dernier_organisme_uai": "995"
            if person["prior_situation"] in ("emploi", "sans_emploi")
            else _department(person["commune_code"]),
            "type_cfa": responsable["type_cfa"],
            "annee_scolaire": _school_year(person["training_start"]),
            "formation_cfd": person["diploma_cfd"] if isinstance(person["diploma_cfd"], str) else None,
            "formation_rncp": person["diploma_rncp"],
            "libelle_court_formation": person["diploma_title"].upper(),
            "annee_formation": int(person["entry_year"]),
            "date_inscription_formation": when(
                person["training_start"] - pd.Timedelta(days=int(rng.integers(5, 60)))
            ),
            "date_entree_formation": when(person["training_start"]),
            "date_fin_formation": when(person["training_end"]),
            "duree_theorique_formation_mois": None if legacy else months,
            "duree_theorique_formation": months // 12 if legacy else None,
            "formation_presentielle": True,
            "etablissement_responsable_uai": responsable["uai"],
            "etablissement_responsable_siret": responsable["siret"],
            "etablissement_formateur_uai": site["uai"],
            "etablissement_formateur_siret": site["siret"],
            "etablissement_lieu_de_formation_uai": site["uai"],
            "etablissement_lieu_de_formation_code_postal": site["postcode"],
        }
        if status == 3 and last["planned_end"] < as_of:
            record["obtention_diplome_formation"] = bool(rng.random() < 0.85)
        for position, contract in enumerate(contracts[:4]):
            suffix = "" if position == 0 else f"_{position + 1}"
            record[f"contrat_date_debut{suffix}"] = when(contract["contract_start"])
            record[f"contrat_date_fin{suffix}"] = when(contract["planned_end"])
            record[f"contrat_date_rupture{suffix}"] = when(contract["rupture_date"])
            cause = contract["rupture_cause"]
            record[f"cause_rupture_contrat{suffix}"] = cause if isinstance(cause, str) and cause else None
            record[f"siret_employeur{suffix}"] = contract["siret"]
        records.append({k: _plain(v) for k, v in record.items()})
    return records


def _contract_number(department: str, start: Any, sequence: int) -> str:
    """A DECA contract number: department (3 digits), year, sequence (15 digits)."""
    digits = re.sub(r"[^0-9]", "0", department).rjust(3, "0")[:3]
    return f"{digits}{start.year}{sequence:08d}"


def _street(address: str) -> tuple[str, str]:
    number, _, street = address.partition(" ")
    return number, street


def _deca_alternant(person: Mapping[str, Any], upper: bool) -> dict[str, object]:
    number, street = _street(str(person["address"]))
    born = str(person["birth_commune"])
    department = (
        "99" if born.startswith("99") else ("0" + born[:2] if not born.startswith("97") else born[:3])
    )
    return {
        "nom": str(person["nom"]).upper() if upper else person["nom"],
        "prenom": person["prenom"],
        "sexe": "H" if person["sex"] == "M" else "F",
        "date_naissance": _iso(person["birth_date"]),
        "departement_naissance": department,
        "nationalite": int(str(person["nationality"])),
        "handicap": str(person["rqth"]) == "1",
        "courriel": person["email"],
        "telephone": person["phone"],
        "adresse": {"numero": number, "voie": street, "code_postal": person["postcode"]},
        "derniere_classe": person["last_class_code"],
    }


def deca_records(sim: SimulatedApprentices, rng: np.random.Generator) -> list[dict[str, object]]:
    """One DECA raw record per contract started by `as_of` (a rupture after it is not known yet)."""
    as_of = pd.Timestamp(sim.params.extraction_date)
    known = known_on(sim.contracts, as_of)
    learners = _by(sim.learners, "ref")
    employers = _by(sim.employers, "siret")
    responsable = _by(sim.centres, "role")["responsable"]
    formateurs = _records(sim.centres[sim.centres["role"] == "formateur"])
    records: list[dict[str, object]] = []
    for sequence, contract in enumerate(_records(known), start=1):
        person = learners[contract["learner_ref"]]
        employer = employers[contract["siret"]]
        bal = rng.random() < 0.3
        when = _paris if bal else _iso
        site = formateurs[int(rng.integers(0, len(formateurs)))]
        cfd = person["diploma_cfd"] if isinstance(person["diploma_cfd"], str) else ""
        nominal_start = _months_before(person["training_end"], int(person["theoretical_months"]))
        cause = contract["rupture_cause"]
        start, rupture = contract["contract_start"], contract["rupture_date"]
        record: dict[str, object] = {
            "_id": f"{sequence:024x}",
            "no_contrat": _contract_number(str(employer["commune_code"])[:2], start, sequence),
            "type_contrat": "11" if contract["rank"] == 1 else "23",
            "date_debut_contrat": when(start),
            "date_fin_contrat": when(contract["planned_end"]),
            "date_effet_rupture": when(rupture),
            "commentaire_rupture": cause if isinstance(cause, str) and cause else None,
            "dispositif": "APPR",
            "type_employeur": int(contract["employer_type_code"]),
            "alternant": _deca_alternant(person, upper=rng.random() < 0.7),
            "employeur": _deca_employer(employer),
            "organisme_formation": {"siret": responsable["siret"], "uai_cfa": responsable["uai"]},
            "etablissement_formation": {"siret": site["siret"]},
            "formation": {
                "code_diplome": cfd,
                "rncp": person["diploma_rncp"],
                "intitule_ou_qualification": person["diploma_label"],
                "type_diplome": DECA_DIPLOMA_TYPE[str(person["diploma"])],
                "date_debut_formation": when(nominal_start),
                "date_fin_formation": when(person["training_end"]),
            },
            "created_at": _paris(start - pd.Timedelta(days=int(rng.integers(1, 30)))),
        }
        records.append(_jsonable(record))
    return records


def _deca_employer(employer: Mapping[str, Any]) -> dict[str, object]:
    return {
        "siret": employer["siret"],
        "denomination": employer["denomination"],
        "adresse": {"code_postal": employer["postcode"]},
        "naf": str(employer["naf_code"]).replace(".", ""),
        "code_idcc": employer["idcc"],
        "nombre_de_salaries": int(employer["employer_headcount"]),
        "courriel": employer["email"],
        "telephone": employer["phone"],
    }


def _months_before(end: pd.Timestamp, months: int) -> pd.Timestamp:
    """The nominal start of a training of `months` months ending on `end` (DECA formation dates: the
    reader derives the theoretical length from them)."""
    return (end + pd.Timedelta(days=1)) - pd.DateOffset(months=months)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return _plain(value)


def national_oracle(sim: SimulatedApprentices, pseudonyms: Pseudonymiser) -> pd.DataFrame:
    """The oracle of every contract started by `as_of`, keyed as the readers key it (SYNTHETIC):
    `oracle_rupture` and `oracle_definitive` given what is observable at the contract's prediction date
    through these formats (the prior qualification only from a SIFA snapshot dated by then, else
    marginalised), `_full` given the true prior qualification too."""
    as_of = pd.Timestamp(sim.params.extraction_date)
    contracts = sim.contracts[sim.contracts["contract_start"] <= as_of]
    learners = sim.learners.set_index("ref").loc[contracts["learner_ref"]].reset_index(drop=True)
    oracle = sim.oracle.set_index("ref").loc[contracts["ref"]].reset_index(drop=True)
    keys = oracle_keys(
        pseudonyms,
        learners["nom"],
        learners["prenom"],
        learners["birth_date"],
        contracts["contract_start"].reset_index(drop=True),
    )
    return pd.DataFrame(
        {
            "contract_id": keys,
            "oracle_rupture": oracle["oracle_rupture"].round(5),
            "oracle_definitive": oracle["oracle_definitive"].round(5),
            "oracle_rupture_full": oracle["oracle_rupture_full"].round(5),
            "oracle_definitive_full": oracle["oracle_definitive_full"].round(5),
            "synthetic": "SYNTHETIC",
        }
    )


def write_national(
    sim: SimulatedApprentices, out_dir: Path, pseudonyms: Pseudonymiser, gzip_over: int | None = None
) -> list[Path]:
    """SYNTHETIC. The yearly SIFA snapshots, the ERP v3 records, the DECA records and the oracle of a
    simulated population of apprentices; the paths written."""
    rng = np.random.default_rng([sim.params.seed, 99])
    paths: list[Path] = []
    lookups = (_by(sim.learners, "ref"), _by(sim.employers, "siret"))
    for year in sifa_years(sim.params):
        table = _sifa_table(sim, sifa_rows(sim, year), year, rng, lookups)
        paths.append(_write(out_dir / f"sifa_{year}.csv", table, gzip_over))
    paths.append(_write(out_dir / "erp.ndjson", _ndjson(erp_records(sim, rng)), gzip_over))
    paths.append(_write(out_dir / "deca.ndjson", _ndjson(deca_records(sim, rng)), gzip_over))
    oracle = national_oracle(sim, pseudonyms).to_csv(index=False).encode("utf-8")
    paths.append(_write(out_dir / "oracle.csv", oracle, gzip_over))
    return paths


# ---------------------------------------------------------------------------------------------------------
# A chamber: RNE companies, DECA contracts, oracle.

QUALITE_ARTISAN: dict[str, str | None] = {
    "aucune": None,
    "cap_bep": "ARTISAN",
    "bp_bac_pro": "ARTISAN",
    "brevet_maitrise": "MAITRE_ARTISAN",
    "superieur": "ARTISAN",
}
"""The head's qualité d'artisan the RNE records for each `HEAD_QUALIFICATIONS` (none without a diploma of
the trade; maître artisan with the brevet de maîtrise)."""
MORAL_PREFIX: dict[str, str] = {
    "5410": "SARL",
    "5498": "EURL",
    "5499": "SARL",
    "5710": "SAS",
    "5720": "SASU",
    "6540": "SCI",
    "5599": "SA",
}


def _headcounts(rng: np.random.Generator, bands: pd.Series) -> np.ndarray:
    """A number of employees inside each SIRENE band (NN: none, left out of the RNE)."""
    low = bands.map({b: r[0] for b, r in HEADCOUNT_RANGE.items()}).to_numpy(dtype=np.int64)
    high = bands.map({b: r[1] for b, r in HEADCOUNT_RANGE.items()}).to_numpy(dtype=np.int64)
    return np.asarray(low + (rng.random(len(bands)) * (high - low + 1)).astype(np.int64))


def _address(
    person_address: str, postcode: object, commune: object, names: Mapping[str, str]
) -> dict[str, object]:
    number, street = _street(person_address)
    kind, _, name = street.partition(" ")
    return {
        "pays": "FRANCE",
        "codePays": "FRA",
        "commune": names.get(str(commune), ""),
        "codePostal": postcode,
        "codeInseeCommune": commune,
        "typeVoie": kind.upper()[:4],
        "voie": name,
        "numVoie": number,
    }


def _person(row: Mapping[str, Any], rng: np.random.Generator) -> dict[str, object]:
    birth = pd.Timestamp(row["birth_date"])
    return {
        "nom": str(row["nom"]).upper(),
        "prenoms": [str(row["prenom"]).upper()],
        "genre": "1" if row["sex"] == "M" else "2",
        "dateDeNaissance": birth.strftime("%Y-%m"),
        "lieuDeNaissance": str(row["birth_commune"]),
        "paysNaissance": "FRANCE" if not str(row["birth_commune"]).startswith("99") else "ETRANGER",
        "nationalite": "Française" if rng.random() < 0.93 else "Étrangère",
        "role": "1",
    }


def rne_companies(chamber: SimulatedChamber, seed: int = 0) -> list[dict[str, object]]:
    """One RNE company object (stock layout, one establishment) per simulated company; every person in it
    (the entrepreneur, the director) invented."""
    from pipelines.reference import load_reference

    reference = load_reference()
    names = dict(zip(reference.communes["commune_code"], reference.communes["commune_name"], strict=True))
    companies = chamber.companies.reset_index(drop=True)
    n = len(companies)
    rng = np.random.default_rng([seed, 101])
    postal = shipped_postal_codes()
    postcodes = postcodes_of(companies["commune_code"], postal)
    headcount = _headcounts(rng, companies["headcount_band"])
    ages = rng.integers(25, 66, n)
    creation = companies["creation_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    birth = creation - (ages * 365.25).astype(np.int64) + rng.integers(-3000, 0, n)
    people = invent_people(rng, birth, rng.random(n) < 0.3, companies["commune_code"].to_numpy(), postal)
    owners = _records(people)
    records: list[dict[str, object]] = []
    for i, company in enumerate(_records(companies)):
        siret = str(company["siret"])
        siren, nic = siret[:9], siret[9:]
        naf = str(company["naf_code"]).replace(".", "")
        legal = str(company["legal_category"])
        created = pd.Timestamp(company["creation_date"])
        closed = company["closure_date"] if pd.notna(company["closure_date"]) else None
        quality = QUALITE_ARTISAN.get(str(company["head_qualification"]))
        owner = owners[i]
        home = _address(str(owner["address"]), owner["postcode"], owner["commune_code"], names)
        site = _address(
            f"{int(rng.integers(1, 200))} {('rue', 'avenue', 'route')[int(rng.integers(0, 3))]} de "
            "l'Artisanat",
            postcodes.iloc[i],
            company["commune_code"],
            names,
        )
        trade = TRADE_WORDS.get(str(company["naf_code"]), "Atelier")
        physical = legal == "1000"
        denomination = (
            f"{str(owner['nom']).upper()} {str(owner['prenom']).upper()}"
            if physical
            else f"{MORAL_PREFIX.get(legal, 'SARL')} {_folded(owner['nom'])} {trade.upper()}"
        )
        entreprise: dict[str, object] = {
            "siren": siren,
            "denomination": denomination,
            "formeJuridique": legal,
            "codeApe": naf,
            "nicSiege": nic,
            "dateImmat": created.strftime("%Y-%m-%d"),
            "dateDebutActiv": created.strftime("%Y-%m-%d"),
            "effectifSalarie": None if company["headcount_band"] == "NN" else int(headcount[i]),
            "nomCommercial": f"{trade} {owner['prenom']}" if physical and rng.random() < 0.3 else None,
        }
        contact = {"mail": owner["email"], "telephone": owner["phone"]}
        rnm: dict[str, object] = {"estPresent": True, "dateDebut": _paris(created)}
        if closed is not None:
            rnm["dateFin"] = _paris(closed)
        block: dict[str, object] = {
            "identite": {"entreprise": entreprise},
            "adresseEntreprise": {"adresse": home if physical and rng.random() < 0.5 else site},
            "etablissementPrincipal": {
                "descriptionEtablissement": {
                    "siret": siret,
                    "codeApe": naf,
                    "indicateurEtablissementPrincipal": True,
                    "rolePourEntreprise": "3",
                    "statutOuvertFerme": "F" if closed is not None else "O",
                    "enseigne": f"{trade} {owner['nom']}" if rng.random() < 0.4 else None,
                },
                "adresse": site,
                "activites": [
                    {
                        "codeApe": naf,
                        "codeAprm": naf + "ZZ",
                        "dateDebut": created.strftime("%Y-%m-%d"),
                        "indicateurPrincipal": True,
                        "formeExercice": "ARTISANALE",
                    }
                ],
            },
            "registreAnterieur": {"rnm": rnm},
        }
        if closed is not None:
            block["detailCessationEntreprise"] = {"dateRadiation": _iso(closed)}
        if physical:
            block["identite"]["entrepreneur"] = {  # type: ignore[index]
                "descriptionPersonne": _person(owner, rng),
                "adresseDomicile": home,
                "contact": contact,
                "qualiteArtisan": quality,
            }
        else:
            block["identite"]["description"] = {  # type: ignore[index]
                "objet": f"{trade} et activités connexes",
                "duree": 99,
                "montantCapital": float(rng.choice([1000, 5000, 7500, 10000, 50000])),
            }
            block["composition"] = {
                "pouvoirs": [
                    {
                        "typeDePersonne": "INDIVIDU",
                        "roleEntreprise": "30",
                        "libelleRoleEntreprise": "Gérant" if legal.startswith("54") else "Président",
                        "individu": {
                            "descriptionPersonne": _person(owner, rng),
                            "adresseDomicile": home,
                            "contact": contact,
                            "qualiteArtisan": quality,
                            "actif": True,
                        },
                    }
                ]
            }
        stamp = (
            (created + pd.Timedelta(days=int(rng.integers(1, 20)))).tz_localize("Europe/Paris").isoformat()
        )
        content = {
            "formeExerciceActivitePrincipale": "ARTISANALE_REGLEMENTEE"
            if naf.startswith("43")
            else "ARTISANALE",
            "natureCreation": {
                "dateCreation": created.strftime("%Y-%m-%d"),
                "formeJuridique": legal,
                "microEntreprise": bool(physical and rng.random() < 0.5),
                "etablieEnFrance": True,
                "salarieEnFrance": company["headcount_band"] not in ("NN", "00"),
            },
            ("personnePhysique" if physical else "personneMorale"): block,
        }
        records.append(
            _pruned(
                {
                    "siren": siren,
                    "id": f"{i + 1:024x}",
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "nombreRepresentantsActifs": 1,
                    "nombreEtablissementsOuverts": 0 if closed is not None else 1,
                    "formality": {
                        "siren": siren,
                        "formeJuridique": legal,
                        "codeAPE": naf,
                        "typePersonne": "P" if physical else "M",
                        "diffusionINSEE": "N" if physical and rng.random() < 0.05 else "O",
                        "diffusionCommerciale": True,
                        "created": stamp,
                        "updated": stamp,
                        "content": content,
                    },
                }
            )
        )
    return records


def chamber_deca_records(chamber: SimulatedChamber, seed: int = 0) -> list[dict[str, object]]:
    """One DECA raw record per contract of a simulated chamber, its apprentice invented."""
    contracts = chamber.contracts.reset_index(drop=True)
    companies = chamber.companies.set_index("siret")
    n = len(contracts)
    rng = np.random.default_rng([seed, 102])
    postal = shipped_postal_codes()
    employer = companies.loc[contracts["siret"]].reset_index()
    diploma = contracts["diploma"].to_numpy()
    _, age = draw_ages(rng, diploma)
    start = contracts["contract_start"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    birth = start - (age * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    female = rng.random(n) < activity_group(employer["naf_code"]).map(FEMALE_SHARE).to_numpy(dtype=float)
    people = invent_people(rng, birth, female, employer["commune_code"].to_numpy(), postal)
    people["nationality"] = np.where(rng.random(n) < 0.92, "1", np.where(rng.random(n) < 0.3, "2", "3"))
    people["rqth"] = np.where(rng.random(n) < 0.03, "1", "0")
    people["last_class_code"] = np.where(age <= 16, "40", "01")
    headcount = _headcounts(rng, employer["headcount_band"])
    trainings = training_of(employer["naf_code"].to_numpy(), diploma)
    firm_postcodes = postcodes_of(employer["commune_code"].astype(str), postal).to_numpy()
    people_rows, firms, training_rows = _records(people), _records(employer), _records(trainings)
    records: list[dict[str, object]] = []
    for i, contract in enumerate(_records(contracts)):
        firm, training = firms[i], training_rows[i]
        owner = _folded(people_rows[i]["nom"])
        trade = TRADE_WORDS.get(str(firm["naf_code"]), "Atelier")
        cfd = training["diploma_cfd"] if isinstance(training["diploma_cfd"], str) else ""
        building = str(firm["naf_code"]).startswith("43")
        big = headcount[i] > 10
        idcc = ("1597" if big else "1596") if building else IDCC.get(str(firm["naf_code"]), "9999")
        start = contract["contract_start"]
        record: dict[str, object] = {
            "_id": f"{i + 1:024x}",
            "no_contrat": _contract_number(str(firm["commune_code"])[:2], start, i + 1),
            "type_contrat": "11",
            "date_debut_contrat": _iso(start),
            "date_fin_contrat": _iso(contract["planned_end"]),
            "date_effet_rupture": _iso(contract["rupture_date"]),
            "dispositif": "APPR",
            "type_employeur": 11,
            "alternant": _deca_alternant(people_rows[i], upper=True),
            "employeur": _deca_employer(
                {
                    "siret": contract["siret"],
                    "denomination": f"{trade} {owner.title()}",
                    "postcode": firm_postcodes[i],
                    "naf_code": firm["naf_code"],
                    "idcc": idcc,
                    "employer_headcount": headcount[i],
                    "email": f"contact.{owner.lower()}@{MAIL_DOMAINS[i % len(MAIL_DOMAINS)]}",
                    "phone": f"0{PHONE_BLOCK}{int(rng.integers(0, 100_000)):05d}",
                }
            ),
            "formation": {
                "code_diplome": cfd,
                "rncp": training["diploma_rncp"],
                "intitule_ou_qualification": training["diploma_label"],
                "type_diplome": DECA_DIPLOMA_TYPE[str(contract["diploma"])],
                "date_debut_formation": _iso(start),
                "date_fin_formation": _iso(contract["planned_end"]),
            },
            "created_at": _paris(start - pd.Timedelta(days=int(rng.integers(1, 30)))),
        }
        records.append(_jsonable(record))
    return records


def chamber_oracle(chamber: SimulatedChamber) -> pd.DataFrame:
    """The chamber's oracle: the hosting probability of each company-year (SYNTHETIC)."""
    years = chamber.company_years
    return pd.DataFrame(
        {
            "siret": years["siret"].astype(str),
            "cutoff_date": pd.to_datetime(years["cutoff_date"]).dt.strftime("%Y-%m-%d"),
            "oracle_probability": years["oracle_probability"].round(5),
        }
    )


def write_chamber_national(
    chamber: SimulatedChamber,
    out_dir: Path,
    pseudonyms: Pseudonymiser,
    gzip_over: int | None = None,
    seed: int = 0,
) -> list[Path]:
    """SYNTHETIC. A simulated chamber as an RNE stock file (`rne.json`), the DECA records of its contracts
    (`deca.ndjson`) and its oracle (`oracle.csv`, keyed by SIRET: `pseudonyms` keys nothing here, it is
    taken for the same signature as `write_national`); the paths written."""
    del pseudonyms
    rne = json.dumps(rne_companies(chamber, seed), ensure_ascii=False, separators=(",", ":"))
    return [
        _write(out_dir / "rne.json", rne.encode("utf-8"), gzip_over),
        _write(out_dir / "deca.ndjson", _ndjson(chamber_deca_records(chamber, seed)), gzip_over),
        _write(
            out_dir / "oracle.csv", chamber_oracle(chamber).to_csv(index=False).encode("utf-8"), gzip_over
        ),
    ]


__all__ = [
    "oracle_keys",
    "sifa_text",
    "write_chamber_national",
    "write_national",
]


def _folded(name: object) -> str:
    """A name folded as a key folds it (for invented e-mails and company names)."""
    return str(fold_name(pd.Series([str(name)])).iloc[0])


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a frame as plain dicts (values as pandas holds them)."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _by(frame: pd.DataFrame, key: str) -> dict[Any, dict[str, Any]]:
    """The rows of a frame as dicts, by the value of `key`."""
    return {row[key]: row for row in _records(frame)}
