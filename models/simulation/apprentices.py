"""SYNTHETIC DATA. Apprentices, their trainings and their contracts as the national systems know them (SIFA,
the dashboard's ERP API v3, DECA), with an invented identity in every personal field, and the oracle.

Nothing here describes a real person: names are drawn from lists of common given names and from invented
surnames (syllables), birth dates, INE numbers, phones, e-mails and street addresses are random; communes
and NAF codes are the real reference codes (not personal on their own). `pipelines.layouts` writes these
frames in the real export layouts, so that the readers' minimisation (`catalog.formats`) is tested on
files as full of personal data as the real ones.

Generative process (the figures and their sources: `PUBLISHED_*` below and
`data_samples/national/DATASHEET.md`):

1. Employers: chamber companies (`simulate_companies`) in the craft sub-classes a CMA training centre
   teaches (`APPRENTICE_NAF_WEIGHTS`, all in the décret 98-247 list), a headcount inside their SIRENE band,
   a SIFA employer type (11, trades register, for most). A learner's employer is drawn with a weight rising
   with its size.
2. Learners: `n_cohorts` yearly cohorts of training entries (fully observed at `as_of`) and a current cohort
   entering in the autumn of the `as_of` year (running at `as_of`: what a centre scores). Diploma (CAP 45 %,
   BP 15 %, BTS 15 %, ...), age band by diploma, prior qualification by diploma and age, prior situation
   by age and qualification (with their SIFA codes, consistent across SIT_AV_APP, SIT_N_1 and DIP_OBT),
   RQTH about 3 %, sex by trade (never a cause in the model below).
3. Each contract breaks before its planned end with probability
   **p = sigmoid(logit(age, diploma, prior situation, prior qualification, RQTH, theoretical length,
   employer size, employer type, trade))**, every term a field the formats carry, read as the readers
   derive it (the age in completed years at contract start + `prediction_weeks`). The rupture day does not
   depend on the learner: with probability `trial_share` in the 45-day trial period, else uniform between
   day 45 and the planned end.
4. A broken learner signs a new contract (another employer of the same trade, same training) within
   `relapse_months` with probability q = sigmoid(relapse logit of the same fields); the new contract runs to
   the training's planned end (at least 6 months, the legal minimum) and may break in turn (up to the 4
   contracts an ERP record holds; a fourth contract is never followed by a fifth). p x (1 - q) (= p for a
   fourth contract) is the probability of a definitive rupture (broken, no new contract within
   `relapse_months`).

The oracle (`ORACLE_COLUMNS`) is the probability **given what is observable at the contract's prediction
date (start + `prediction_weeks`) through these formats**: every field the readers give (age, diploma,
theoretical length, training year, employer headcount, type and trade, prior situation, RQTH, sex, DECA's
last class), and the prior qualification only when the learner is in a SIFA snapshot dated on or before the
prediction date (`qualification_observed`: the 31 December snapshots `write_national` writes, each holding
the learner's latest contract if running that day or broken within `relapse_months` before); DECA and the
ERP records do not carry it. Where it is observed, `oracle_rupture` = p and `oracle_definitive` =
p x (1 - q). Elsewhere both are marginalised over the 5 values of the prior qualification, exactly:
`oracle_rupture` = sum over v of P(v | observed) x p(v, rest), where P(v | observed) is proportional to
P(v | diploma, age band) x P(prior situation | v, band) x P(theoretical length | diploma, v) x P(last class
| v) x the likelihood of the ruptures of the learner's earlier contracts (`qualification_evidence`); and
`oracle_definitive` = `oracle_rupture` x (1 - q), q not depending on it. `oracle_rupture_full` and
`oracle_definitive_full` are p and p x (1 - q), given the true prior qualification too.

Deterministic from the seed. The frames carry the whole truth (a current contract's rupture after `as_of`
too); the writers of `pipelines.layouts` write only what is known at each export date.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.reference import Reference
from models.simulation.chamber import (
    ChamberSimulationParams,
    _add_months,
    _choice,
    simulate_companies,
    synthetic_sirets,
)
from models.simulation.training_centre import (
    AGE_BY_DIPLOMA,
    AGE_RANGES,
    EFFECT_OF_FIGURE,
    FEMALE_SHARE,
    logit_of,
    rupture_figure_rows,
)
from models.timeutils import EPOCH, day_number
from models.vocabulary import activity_group, age_band

# Craft trades (décret 98-247 sub-classes) of a CMA training centre and their share of employers.
APPRENTICE_NAF_WEIGHTS: dict[str, float] = {
    "96.02A": 15,
    "96.02B": 6,
    "10.71C": 11,
    "10.71D": 3,
    "10.13B": 3,
    "47.22Z": 3,
    "56.10C": 8,
    "43.22A": 6,
    "43.21A": 6,
    "43.99C": 4,
    "43.32A": 4,
    "43.34Z": 3,
    "43.91B": 2,
    "45.20A": 10,
    "47.76Z": 3,
    "95.23Z": 1,
    "25.62B": 2,
    "16.23Z": 2,
}
DIPLOMA_SHARES: dict[str, float] = {
    "CAP": 0.45,
    "BP": 0.15,
    "BAC_PRO": 0.12,
    "MC": 0.06,
    "BTS": 0.15,
    "TITRE_PRO": 0.05,
    "BTM": 0.02,
}
CFD_PREFIX: dict[str, str] = {
    "CAP": "500",
    "MC": "010",
    "BP": "450",
    "BAC_PRO": "400",
    "BTM": "460",
    "BTS": "320",
}
"""The 3-character prefix of a diploma's CFD (Éducation nationale code); a titre professionnel has an RNCP
code instead. The inverse of `catalog.formats.common.DIPLOMA_CFD_PREFIX` (a test checks)."""

DECA_DIPLOMA_TYPE: dict[str, str] = {
    "CAP": "33",
    "MC": "35",
    "BP": "49",
    "BAC_PRO": "41",
    "BTM": "49",
    "BTS": "54",
    "TITRE_PRO": "38",
}
"""CERFA `typeDiplome` (DECA `formation.type_diplome`) of each diploma."""

THEORETICAL_MONTHS: dict[str, dict[int, float]] = {
    "CAP": {24: 1.0},
    "MC": {12: 1.0},
    "BP": {24: 1.0},
    "BAC_PRO": {36: 1.0},
    "BTM": {24: 1.0},
    "BTS": {24: 1.0},
    "TITRE_PRO": {6: 0.1, 9: 0.2, 12: 0.5, 18: 0.2},
}
"""Theoretical length of the training (months); a CAP is done in 12 months by half of the learners who
already hold a CAP, a bac or more (`CAP_IN_ONE_YEAR`)."""
CAP_IN_ONE_YEAR = 0.5
ENTRY_YEAR: dict[str, dict[int, float]] = {
    "CAP": {1: 0.92, 2: 0.08},
    "MC": {1: 1.0},
    "BP": {1: 0.92, 2: 0.08},
    "BAC_PRO": {1: 0.5, 2: 0.4, 3: 0.1},
    "BTM": {1: 0.92, 2: 0.08},
    "BTS": {1: 0.85, 2: 0.15},
    "TITRE_PRO": {1: 1.0},
}
"""Year of the training at entry (a bac pro entered in 1ère, a BTS in its 2nd year after a school year):
the first contract covers the remaining years."""

PRIOR_QUALIFICATION: dict[str, dict[str, dict[str, float]]] = {
    "CAP": {
        "15-17": {"aucun": 0.25, "brevet": 0.70, "cap_bep": 0.05},
        "18-19": {"aucun": 0.20, "brevet": 0.40, "cap_bep": 0.20, "bac": 0.20},
        "20-25": {"aucun": 0.15, "brevet": 0.10, "cap_bep": 0.30, "bac": 0.35, "superieur": 0.10},
        "26+": {"aucun": 0.15, "brevet": 0.05, "cap_bep": 0.30, "bac": 0.30, "superieur": 0.20},
    },
    "MC": {band: {"cap_bep": 0.8, "bac": 0.2} for band in AGE_RANGES},
    "BP": {band: {"cap_bep": 0.75, "bac": 0.2, "superieur": 0.05} for band in AGE_RANGES},
    "BAC_PRO": {
        "15-17": {"brevet": 0.8, "cap_bep": 0.2},
        "18-19": {"brevet": 0.4, "cap_bep": 0.6},
        "20-25": {"brevet": 0.3, "cap_bep": 0.7},
        "26+": {"brevet": 0.3, "cap_bep": 0.7},
    },
    "BTM": {band: {"cap_bep": 0.6, "bac": 0.4} for band in AGE_RANGES},
    "BTS": {band: {"bac": 0.9, "superieur": 0.1} for band in AGE_RANGES},
    "TITRE_PRO": {
        band: {"aucun": 0.2, "cap_bep": 0.35, "bac": 0.3, "superieur": 0.15} for band in AGE_RANGES
    },
}
"""Highest diploma obtained before the training, by diploma prepared and age band."""

_YOUNG = ("15-17", "18-19")
PRIOR_SITUATION: dict[tuple[str, str], dict[str, float]] = {
    **{
        (q, b): {"college": 0.6, "voie_pro_scolaire": 0.2, "lycee_general": 0.15, "autre": 0.05}
        for q in ("aucun", "brevet")
        for b in ("15-17",)
    },
    **{
        (q, b): {
            "voie_pro_scolaire": 0.25,
            "lycee_general": 0.15,
            "sans_emploi": 0.3,
            "emploi": 0.15,
            "stage_formation": 0.1,
            "autre": 0.05,
        }
        for q in ("aucun", "brevet")
        for b in ("18-19", "20-25", "26+")
    },
    **{
        ("cap_bep", b): {"apprentissage": 0.55, "voie_pro_scolaire": 0.3, "emploi": 0.1, "sans_emploi": 0.05}
        for b in _YOUNG
    },
    **{
        ("cap_bep", b): {"apprentissage": 0.3, "emploi": 0.35, "sans_emploi": 0.25, "stage_formation": 0.1}
        for b in ("20-25", "26+")
    },
    **{("bac", b): {"lycee_general": 0.5, "voie_pro_scolaire": 0.35, "apprentissage": 0.15} for b in _YOUNG},
    **{
        ("bac", b): {"superieur": 0.3, "emploi": 0.3, "sans_emploi": 0.25, "apprentissage": 0.15}
        for b in ("20-25", "26+")
    },
    **{("superieur", b): {"superieur": 0.5, "emploi": 0.3, "sans_emploi": 0.2} for b in AGE_RANGES},
}
"""Situation before the training, by prior qualification and age band."""

SITUATION_CODES: dict[str, tuple[tuple[str, str, float], ...]] = {
    "college": (("11", "1021", 0.7), ("11", "1023", 0.2), ("11", "1019", 0.1)),
    "lycee_general": (("21", "2001", 0.3), ("21", "2003", 0.2), ("21", "2005", 0.4), ("21", "2007", 0.1)),
    "voie_pro_scolaire": (
        ("31", "3001", 0.2),
        ("31", "3003", 0.3),
        ("31", "3031", 0.2),
        ("31", "3032", 0.15),
        ("31", "3033", 0.15),
    ),
    "superieur": (("41", "4001", 0.4), ("41", "4003", 0.2), ("41", "4011", 0.3), ("41", "4017", 0.1)),
    "emploi": (("53", "5903", 0.8), ("51", "5901", 0.2)),
    "sans_emploi": (("54", "5907", 1.0),),
    "stage_formation": (("52", "5905", 0.5), ("52", "5909", 0.5)),
    "autre": (("90", "9900", 1.0),),
    "apprentissage": (
        ("99", "3103", 0.4),
        ("99", "3101", 0.2),
        ("99", "3131", 0.1),
        ("99", "3133", 0.1),
        ("99", "3119", 0.1),
        ("99", "4103", 0.1),
    ),
}
"""SIFA codes of each situation: (SIT_AV_APP, SIT_N_1 = ERP `derniere_situation`, weight). SIT_AV_APP has no
code for "already an apprentice": it is then 99 (unknown) and the reader takes SIT_N_1 (31xx, 41xx), so
that every format gives the same situation (a test checks them against `catalog.formats.common`)."""

QUALIFICATION_CODES: dict[str, dict[str, float]] = {
    "aucun": {"01": 0.8, "02": 0.2},
    "brevet": {"03": 1.0},
    "cap_bep": {"04": 0.85, "05": 0.15},
    "bac": {"07": 0.3, "08": 0.6, "09": 0.1},
    "superieur": {"11": 0.6, "12": 0.1, "14": 0.3},
}
"""SIFA DIP_OBT codes of each prior qualification."""

QUALIFICATIONS: tuple[str, ...] = ("aucun", "brevet", "cap_bep", "bac", "superieur")
"""The prior qualifications, in the order of the columns of `qualification_evidence`."""
HOLDS_A_DIPLOMA: tuple[str, ...] = ("cap_bep", "bac", "superieur")
"""The prior qualifications with a diploma past the brevet: DECA last class "01", a CAP in one year."""
LAST_CLASS_WITHOUT_DIPLOMA: dict[str, float] = {"41": 0.5, "42": 0.2, "12": 0.3}
"""DECA `alternant.derniere_classe` of a learner without any diploma (`aucun`); "40" for the brevet, "01"
for `HOLDS_A_DIPLOMA`."""

EMPLOYER_TYPE_CODES: dict[str, float] = {
    "11": 0.86,
    "12": 0.08,
    "13": 0.01,
    "15": 0.015,
    "16": 0.015,
    "22": 0.015,
    "28": 0.005,
}
"""SIFA TYPE_EMP (CERFA type d'employeur) of the employers: 11 trades register for most."""
EMPLOYER_TYPE_OF_CODE: dict[str, str] = {
    "11": "artisan",
    **{str(code): "prive_autre" for code in range(12, 17)},
    **{str(code): "public" for code in range(21, 31)},
}
"""The same grouping as `catalog.formats.common.EMPLOYER_TYPE_SIFA` (models never import the catalog)."""

EMPLOYER_WEIGHT_BY_BAND: dict[str, float] = {
    "NN": 1.0,
    "00": 1.5,
    "01": 3.0,
    "02": 4.0,
    "03": 5.0,
    "11": 6.0,
    "12": 8.0,
    "21": 9.0,
    "22": 10.0,
}
HEADCOUNT_RANGE: dict[str, tuple[int, int]] = {
    "NN": (0, 0),
    "00": (0, 0),
    "01": (1, 2),
    "02": (3, 5),
    "03": (6, 9),
    "11": (10, 19),
    "12": (20, 49),
    "21": (50, 99),
    "22": (100, 199),
}
"""Headcount (employees) inside each SIRENE band (NN, a non-employer unit: 0)."""

START_MONTH_SHARES: tuple[float, ...] = (
    0.02,
    0.02,
    0.02,
    0.02,
    0.02,
    0.03,
    0.06,
    0.15,
    0.38,
    0.18,
    0.06,
    0.04,
)
"""Month of the first contract start of a past cohort (mostly August to October)."""
MIN_CONTRACT_MONTHS = 6
TRIAL_DAYS = 45

TRIAL_CAUSES: dict[str, float] = {
    "Rupture pendant la période d'essai à l'initiative de l'apprenti": 0.45,
    "Rupture pendant la période d'essai à l'initiative de l'employeur": 0.35,
    "Démission": 0.08,
    "": 0.12,
}
LATER_CAUSES: dict[str, float] = {
    "Rupture d'un commun accord": 0.35,
    "Démission": 0.18,
    "Résiliation amiable": 0.05,
    "Licenciement pour faute grave": 0.08,
    "Licenciement pour inaptitude constatée par la médecine du travail": 0.04,
    "Liquidation judiciaire de l'entreprise": 0.03,
    "Force majeure": 0.02,
    "Abandon de poste": 0.05,
    "": 0.20,
}
"""Rupture causes as an ERP sends them (`cause_rupture_contrat`, free text; "" = not sent). No contract ends
early by the diploma ("Obtention du diplôme"): the dropout outcome counts such an end as completed, not
broken, and every simulated rupture is one."""

# Identities (all invented; given names are common French ones, surnames are syllables put together).
GIVEN_NAMES_F: tuple[str, ...] = (
    "Hélène", "Noémie", "Chloé", "Léa", "Zoé", "Anaïs", "Maëlle", "Inès", "Célia", "Éloïse", "Manon",
    "Camille", "Jade", "Louna", "Amélie", "Océane", "Agathe", "Sarah", "Yasmine", "Marie-Hélène",
    "Anne-Sophie", "Lou-Ann", "Maïwenn", "Clémence", "Héloïse", "Gaëlle", "Noëlie", "Rose", "Aïcha", "Thaïs",
    "Mélissa", "Léonie",
)  # fmt: skip
GIVEN_NAMES_M: tuple[str, ...] = (
    "Noël", "Loïc", "Théo", "Léo", "Jérôme", "Maël", "Clément", "Raphaël", "Benoît", "Gaël", "Joël", "Mathéo",
    "Ethan", "Hugo", "Enzo", "Yanis", "Lucas", "Élie", "Côme", "Jean-Noël", "Jean-Baptiste", "Pierre-Louis",
    "Noa", "Timothée", "Anaël", "Ilyès", "Mehdi", "Rayan", "Hervé", "François", "Aurélien", "Grégoire",
)  # fmt: skip
SURNAME_HEADS: tuple[str, ...] = (
    "Bel", "Char", "Du", "Mont", "Ver", "Roch", "Gau", "Fé", "Lé", "Bras", "Cor", "Da", "Es", "Gar", "Hu",
    "Jo", "Ker", "Lam", "Mar", "Nau", "Pel", "Quen", "Ri", "Sau", "Tess", "Vau", "Bou", "Cha", "Dé", "Thi",
)  # fmt: skip
SURNAME_MIDDLES: tuple[str, ...] = ("", "", "", "", "vre", "sti", "ber", "ran", "li", "mé", "tè")
SURNAME_TAILS: tuple[str, ...] = (
    "ard", "eau", "ier", "elle", "ot", "ançon", "èque", "ourt", "enne", "aud", "ès", "ignac", "ouët", "ault",
    "ande", "ery", "illon", "ourg", "ac", "ès", "in", "oux", "ève", "aquin",
)  # fmt: skip
SURNAME_PARTICLES: dict[str, float] = {"": 0.88, "Le ": 0.05, "D'": 0.03, "de ": 0.02, "La ": 0.02}
STREETS: tuple[str, ...] = (
    "rue des Tilleuls", "rue du Moulin", "allée des Églantiers", "rue de la Forge", "chemin des Vergers",
    "impasse du Lavoir", "rue des Coquelicots", "place de l'Abbaye", "rue des Tanneurs", "avenue du Pré-Vert",
    "boulevard des Mésanges", "rue de la Fontaine", "route des Étangs", "rue du Four", "quai des Bateliers",
)  # fmt: skip
BORN_ABROAD: dict[str, float] = {
    "99350": 0.25,  # Maroc
    "99352": 0.2,  # Algérie
    "99351": 0.1,  # Tunisie
    "99139": 0.15,  # Portugal
    "99109": 0.05,  # Allemagne
    "99131": 0.05,  # Belgique
    "99208": 0.1,  # Turquie
    "99341": 0.1,  # Sénégal
}
"""INSEE codes (99 + country) of the birth places abroad (5 % of the learners)."""
EU_COUNTRIES: frozenset[str] = frozenset({"99139", "99109", "99131"})
PHONE_BLOCK = "6399"
"""Every invented phone number is 06 39 9x xx xx (written 0639..., +33639... in the ERP records)."""
MAIL_DOMAINS: tuple[str, ...] = ("example.org", "example.net", "example.com")

TRADE_WORDS: dict[str, str] = {
    "96.02A": "Salon de coiffure",
    "96.02B": "Institut de beauté",
    "10.71C": "Boulangerie",
    "10.71D": "Pâtisserie",
    "10.13B": "Charcuterie",
    "47.22Z": "Boucherie",
    "56.10C": "Snack",
    "43.22A": "Plomberie",
    "43.21A": "Électricité",
    "43.99C": "Maçonnerie",
    "43.32A": "Menuiserie",
    "43.34Z": "Peinture",
    "43.91B": "Couverture",
    "45.20A": "Garage",
    "47.76Z": "Fleurs",
    "95.23Z": "Cordonnerie",
    "25.62B": "Mécanique",
    "16.23Z": "Charpente",
}
SPECIALTIES: dict[str, str] = {
    "96.02A": "métiers de la coiffure",
    "96.02B": "esthétique cosmétique parfumerie",
    "10.71C": "boulanger",
    "10.71D": "pâtissier",
    "10.13B": "charcutier-traiteur",
    "47.22Z": "boucher",
    "56.10C": "cuisine",
    "43.22A": "monteur en installations sanitaires",
    "43.21A": "électricien",
    "43.99C": "maçon",
    "43.32A": "menuisier installateur",
    "43.34Z": "peintre applicateur de revêtements",
    "43.91B": "couvreur",
    "45.20A": "maintenance des véhicules",
    "47.76Z": "fleuriste",
    "95.23Z": "cordonnerie multiservice",
    "25.62B": "conception et réalisation en chaudronnerie",
    "16.23Z": "charpentier bois",
}
"""Specialty of the training by the employer's trade (CFD and RNCP codes below are invented, with the real
3-character CFD prefixes)."""
IDCC: dict[str, str] = {
    "96.02A": "2596",
    "96.02B": "3032",
    "10.71C": "0843",
    "10.71D": "1267",
    "10.13B": "0953",
    "47.22Z": "0992",
    "56.10C": "1501",
    "45.20A": "1090",
    "47.76Z": "1978",
    "95.23Z": "1561",
    "25.62B": "3248",
}
"""Collective agreement (IDCC) of each trade; the building trades: 1596 (ouvriers, up to 10 employees) or
1597 (more than 10)."""


class RuptureLogit(BaseModel):
    """Logit of a rupture before the planned end: every term is a field the national formats carry."""

    model_config = ConfigDict(extra="forbid")

    # The intercept and the effects of diploma (CAP, BAC_PRO, BTS), trade and employer size are set by
    # `calibrate_apprentice_effects` (10 rounds on 100,000 learners, seed 7) to `PUBLISHED_RUPTURE_9M`;
    # the others are fixed assumptions, their direction and size taken from the national rates by profile
    # (DARES via Fondation MMA 2024: job seekers 34 %, trainees 27 %, no diploma 29.9 %, bac+2 13.7 %,
    # 15-17 25.4 %, 20+ 18-22 %, against 21 % for all).
    intercept: float = -1.0233
    diploma: dict[str, float] = {
        "CAP": -0.1516,
        "MC": -0.1,
        "BP": -0.05,
        "BAC_PRO": -0.5168,
        "BTM": -0.2,
        "TITRE_PRO": 0.1,
        "BTS": -0.497,
    }
    activity: dict[str, float] = {
        "coiffure_beaute": 0.4721,
        "hotellerie_restauration": 0.8716,
        "alimentation": 0.383,
        "autre": 0.0,
    }
    small_employer: float = Field(default=0.2928, description="Employer with fewer than 5 employees")
    employer_type: dict[str, float] = {"artisan": 0.0, "prive_autre": -0.1, "public": -0.4}
    age: dict[str, float] = {"15-17": 0.2, "18-19": 0.15, "20-25": -0.1, "26+": -0.2}
    prior_situation: dict[str, float] = {
        "college": 0.0,
        "lycee_general": -0.1,
        "voie_pro_scolaire": 0.1,
        "apprentissage": -0.2,
        "superieur": -0.25,
        "emploi": -0.1,
        "sans_emploi": 0.5,
        "stage_formation": 0.25,
        "autre": 0.2,
    }
    prior_qualification: dict[str, float] = {
        "aucun": 0.35,
        "brevet": 0.1,
        "cap_bep": 0.0,
        "bac": 0.0,
        "superieur": -0.4,
    }
    rqth: float = 0.3
    per_theoretical_year: float = Field(
        default=0.1, description="Per 12 months of theoretical length beyond 24 (longer exposure)"
    )


class RelapseLogit(BaseModel):
    """Logit of a new contract within `relapse_months` after a rupture, from the same fields."""

    model_config = ConfigDict(extra="forbid")

    intercept: float = Field(
        default=-0.0192, description="Set by `calibrate_apprentice_effects` to `PUBLISHED_RELAPSE`"
    )
    age: dict[str, float] = {"15-17": 0.3, "18-19": 0.1, "20-25": -0.1, "26+": -0.5}
    diploma: dict[str, float] = {"BTS": 0.2, "TITRE_PRO": -0.4}
    rqth: float = -0.4
    prior_situation: dict[str, float] = {"sans_emploi": -0.3, "emploi": -0.2}


class ApprenticeSimulationParams(BaseModel):
    """Size, calendar, extraction date and seed of a simulated population of apprentices."""

    model_config = ConfigDict(extra="forbid")

    n_contracts: int = Field(default=20_000, gt=0, description="Learners (first contracts), all cohorts")
    first_cohort: int = Field(default=2019, description="Year of the first cohort's training entries")
    n_cohorts: int = Field(default=4, gt=0, description="Yearly cohorts fully observed at as_of")
    as_of: date | None = Field(
        default=None,
        description="Extraction date (default 31 December of first_cohort + n_cohorts + 3: every contract "
        "of the past cohorts, 36-month ones and the new contracts after a rupture too, has ended and its "
        "relapse window has closed); the current cohort enters in its autumn",
    )
    relapse_months: int = Field(default=3, ge=1, le=12)
    prediction_weeks: int = Field(default=6, ge=1, le=26, description="The readers' age is taken then")
    trial_share: float = Field(default=0.5, ge=0, le=1, description="Share of ruptures in the first 45 days")
    employers_per_contract: float = Field(default=0.5, gt=0)
    seed: int = 42
    rupture: RuptureLogit = RuptureLogit()
    relapse: RelapseLogit = RelapseLogit()

    @model_validator(mode="after")
    def _extraction_date(self) -> ApprenticeSimulationParams:
        last = self.first_cohort + self.n_cohorts - 1
        if self.as_of is None:
            self.as_of = date(last + 4, 12, 31)
        if self.as_of < date(last + 4, 1, 1) or self.as_of.month < 12:
            raise ValueError(
                f"as_of must be in December of {last + 4} or later, so that the past cohorts (up to "
                f"{last}, contracts of up to 36 months and their relapse windows) are fully observed and "
                "the current cohort (entering in the autumn) runs at as_of"
            )
        return self

    @property
    def extraction_date(self) -> date:
        """`as_of`, set."""
        assert self.as_of is not None
        return self.as_of


ORACLE_COLUMNS: tuple[str, ...] = (
    "ref",
    "learner_ref",
    "oracle_rupture",
    "oracle_definitive",
    "oracle_rupture_full",
    "oracle_definitive_full",
    "qualification_observed",
    "current",
)
"""The oracle of each contract (`SimulatedApprentices.oracle`). `oracle_rupture` and `oracle_definitive`:
the probabilities given what is observable at the contract's prediction date through these formats (the
prior qualification only if `qualification_observed`, else marginalised); `_full`: given the true prior
qualification too."""


@dataclass(frozen=True)
class SimulatedApprentices:
    """SYNTHETIC. Learners (with their training), employers, contracts, training centres and the oracle."""

    learners: pd.DataFrame
    employers: pd.DataFrame
    contracts: pd.DataFrame
    centres: pd.DataFrame
    oracle: pd.DataFrame  # ORACLE_COLUMNS
    params: ApprenticeSimulationParams


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _days(values: pd.Series) -> np.ndarray:
    return np.asarray(values.to_numpy(dtype="datetime64[D]").astype(np.int64))


def _dates(days: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(days, unit="D", origin=pd.Timestamp(EPOCH)))


def completed_years(birth: pd.Series, when: pd.Series) -> np.ndarray:
    """Age in completed years at `when` (datetime64 Series), computed as the readers do."""
    years = when.dt.year.to_numpy() - birth.dt.year.to_numpy()
    before = (when.dt.month.to_numpy() < birth.dt.month.to_numpy()) | (
        (when.dt.month.to_numpy() == birth.dt.month.to_numpy())
        & (when.dt.day.to_numpy() < birth.dt.day.to_numpy())
    )
    return np.asarray(years - before.astype(int), dtype=float)


def rupture_logit(frame: pd.DataFrame, effects: RuptureLogit) -> np.ndarray:
    """The rupture logit of contracts (columns: age, diploma, prior_situation, prior_qualification, rqth,
    theoretical_months, employer_headcount, employer_type, naf_code)."""
    return np.asarray(
        effects.intercept
        + frame["diploma"].map(effects.diploma).fillna(0.0).to_numpy(dtype=float)
        + activity_group(frame["naf_code"]).map(effects.activity).fillna(0.0).to_numpy(dtype=float)
        + np.where(frame["employer_headcount"].to_numpy(dtype=float) < 5, effects.small_employer, 0.0)
        + frame["employer_type"].map(effects.employer_type).fillna(0.0).to_numpy(dtype=float)
        + pd.Series(age_band(frame["age"])).map(effects.age).to_numpy(dtype=float)
        + frame["prior_situation"].map(effects.prior_situation).fillna(0.0).to_numpy(dtype=float)
        + frame["prior_qualification"].map(effects.prior_qualification).fillna(0.0).to_numpy(dtype=float)
        + np.where(frame["rqth"].astype(str).to_numpy() == "1", effects.rqth, 0.0)
        + effects.per_theoretical_year * (frame["theoretical_months"].to_numpy(dtype=float) - 24.0) / 12.0
    )


def qualification_evidence(
    diploma: np.ndarray,
    band: np.ndarray,
    situation: np.ndarray,
    theoretical_months: np.ndarray,
    last_class: np.ndarray | None = None,
) -> np.ndarray:
    """What the formats other than SIFA tell of a learner's prior qualification: one column per value of
    `QUALIFICATIONS`, P(q and the observed values | diploma, age band), i.e. the prior qualification by
    diploma and age band (`PRIOR_QUALIFICATION`) x the prior situation given q and the band
    (`PRIOR_SITUATION`) x the theoretical length given the diploma and q (a CAP in 12 months only with
    `HOLDS_A_DIPLOMA`) x DECA's last class given q (1 where `last_class` is None or missing). Normalised
    over a row, the posterior of q. The age band is the one the learner's age was drawn in: the readers'
    age (at the first contract's start + `prediction_weeks`) falls in it."""
    d = pd.Series(np.asarray(diploma, dtype=object)).astype(str)
    b = pd.Series(np.asarray(band, dtype=object)).astype(str)
    s = pd.Series(np.asarray(situation, dtype=object)).astype(str)
    months = np.asarray(theoretical_months, dtype=np.int64)
    length = (
        (d + "|" + pd.Series(months).astype(str))
        .map({f"{k}|{m}": w for k, shares in THEORETICAL_MONTHS.items() for m, w in shares.items()})
        .fillna(0.0)
        .to_numpy(dtype=float)
    )
    cap = (d == "CAP").to_numpy()
    codes = None if last_class is None else pd.Series(np.asarray(last_class, dtype=object))
    out = np.empty((len(d), len(QUALIFICATIONS)))
    for k, value in enumerate(QUALIFICATIONS):
        prior = (d + "|" + b).map(
            {
                f"{x}|{y}": shares.get(value, 0.0)
                for x, by in PRIOR_QUALIFICATION.items()
                for y, shares in by.items()
            }
        )
        given = (b + "|" + s).map(
            {
                f"{y}|{z}": w
                for (q, y), shares in PRIOR_SITUATION.items()
                if q == value
                for z, w in shares.items()
            }
        )
        like = prior.fillna(0.0).to_numpy(dtype=float) * given.fillna(0.0).to_numpy(dtype=float)
        if value in HOLDS_A_DIPLOMA:
            like *= np.where(cap, length * (1 - CAP_IN_ONE_YEAR) + CAP_IN_ONE_YEAR * (months == 12), length)
        else:
            like *= length
        if codes is not None:
            if value in HOLDS_A_DIPLOMA:
                said = (codes == "01").astype(float)
            elif value == "brevet":
                said = (codes == "40").astype(float)
            else:
                said = codes.map(LAST_CLASS_WITHOUT_DIPLOMA).fillna(0.0)
            like *= np.where(codes.isna().to_numpy(), 1.0, said.to_numpy(dtype=float))
        out[:, k] = like
    return out


def sifa_years(params: ApprenticeSimulationParams) -> range:
    """The years of the SIFA snapshots (31 December) the national writer writes
    (`pipelines.layouts.write_national`): from the first cohort's to `as_of`'s."""
    return range(params.first_cohort, params.extraction_date.year + 1)


def known_on(contracts: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """The contracts as known on `day`: started by then, a rupture after it not yet known."""
    known = contracts[contracts["contract_start"] <= day].copy()
    later = known["rupture_date"] > day
    known.loc[later, ["rupture_date", "rupture_cause"]] = None
    known["rupture_date"] = pd.to_datetime(known["rupture_date"])
    return known


def sifa_snapshot(contracts: pd.DataFrame, year: int, relapse_months: int) -> pd.DataFrame:
    """The SIFA snapshot at 31 December `year`: each learner's latest contract running that day, or broken
    within the relapse window before it (the learner is then a "rupturant", still at the centre)."""
    day = pd.Timestamp(year, 12, 31)
    known = known_on(contracts, day)
    latest = known.sort_values(["learner_ref", "rank"]).groupby("learner_ref").tail(1)
    running = (latest["planned_end"] >= day) & latest["rupture_date"].isna()
    window = day - pd.DateOffset(months=relapse_months)
    rupturant = latest["rupture_date"].notna() & (latest["rupture_date"] > window)
    return latest[running | rupturant].reset_index(drop=True)


def qualification_observed(contracts: pd.DataFrame, params: ApprenticeSimulationParams) -> np.ndarray:
    """Whether a contract's learner is in a SIFA snapshot (`sifa_snapshot`, `sifa_years`) dated on or before
    the contract's prediction date (start + `prediction_weeks`): the only source of the prior
    qualification (DIP_OBT) known at prediction time, as the import merges the formats point in time
    (`models.dropout_risk.national.merge_sources`)."""
    prediction = contracts["contract_start"] + pd.Timedelta(weeks=params.prediction_weeks)
    seen = np.zeros(len(contracts), dtype=bool)
    for year in sifa_years(params):
        held = sifa_snapshot(contracts, year, params.relapse_months)["learner_ref"]
        seen |= ((prediction >= pd.Timestamp(year, 12, 31)) & contracts["learner_ref"].isin(held)).to_numpy()
    return seen


def relapse_logit(frame: pd.DataFrame, effects: RelapseLogit) -> np.ndarray:
    """The logit of a new contract within the relapse window after a rupture (same columns)."""
    return np.asarray(
        effects.intercept
        + pd.Series(age_band(frame["age"])).map(effects.age).to_numpy(dtype=float)
        + frame["diploma"].map(effects.diploma).fillna(0.0).to_numpy(dtype=float)
        + np.where(frame["rqth"].astype(str).to_numpy() == "1", effects.rqth, 0.0)
        + frame["prior_situation"].map(effects.prior_situation).fillna(0.0).to_numpy(dtype=float)
    )


def fold_name(values: pd.Series) -> pd.Series:
    """Names as a pseudonymous key compares them (no accents, upper case, letters and digits only)."""
    folded = values.map(
        lambda s: "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    )
    return folded.str.upper().str.replace(r"[^0-9A-Z]", "", regex=True)


def _surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    heads = np.array(SURNAME_HEADS)[rng.integers(0, len(SURNAME_HEADS), n)]
    middles = np.array(SURNAME_MIDDLES)[rng.integers(0, len(SURNAME_MIDDLES), n)]
    tails = np.array(SURNAME_TAILS)[rng.integers(0, len(SURNAME_TAILS), n)]
    base = pd.Series(heads) + pd.Series(middles) + pd.Series(tails)
    second = pd.Series(np.array(SURNAME_HEADS)[rng.integers(0, len(SURNAME_HEADS), n)]) + pd.Series(
        np.array(SURNAME_TAILS)[rng.integers(0, len(SURNAME_TAILS), n)]
    )
    hyphenated = rng.random(n) < 0.08
    particle = pd.Series(_choice(rng, SURNAME_PARTICLES, n))
    names = particle + base.where(~hyphenated, base + "-" + second)
    return names.to_numpy(dtype=object)


def invent_people(
    rng: np.random.Generator,
    birth_days: np.ndarray,
    female: np.ndarray,
    home_communes: np.ndarray,
    postal_codes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """SYNTHETIC identities: surname, given name, INE, address, postcode, phone, e-mail, birth place, for
    people of the given birth dates, sexes and home communes; (surname, given name, birth date) distinct
    once folded as a key folds them. Every value is random."""
    n = len(birth_days)
    given = np.where(
        female,
        np.array(GIVEN_NAMES_F)[rng.integers(0, len(GIVEN_NAMES_F), n)],
        np.array(GIVEN_NAMES_M)[rng.integers(0, len(GIVEN_NAMES_M), n)],
    ).astype(object)
    surname = _surnames(rng, n)
    for _ in range(20):  # redraw the surnames of people who would share a key
        key = (
            fold_name(pd.Series(surname))
            + "|"
            + fold_name(pd.Series(given))
            + "|"
            + pd.Series(birth_days).astype(str)
        )
        clash = key.duplicated(keep="first").to_numpy()
        if not clash.any():
            break
        surname[clash] = _surnames(rng, int(clash.sum()))
    number = rng.integers(1, 120, n)
    repeat = np.where(rng.random(n) < 0.05, " bis", "")
    street = np.array(STREETS)[rng.integers(0, len(STREETS), n)]
    address = (
        pd.Series(number).astype(str) + pd.Series(repeat).astype(str) + " " + pd.Series(street).astype(str)
    )
    letters = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ"))
    ine = pd.Series(
        [
            f"{d:010d}{c}"
            for d, c in zip(rng.integers(0, 10**10, n), letters[rng.integers(0, 23, n)], strict=True)
        ],
        dtype=object,
    )
    phone = pd.Series([f"0{PHONE_BLOCK}{d:05d}" for d in rng.integers(0, 100_000, n)], dtype=object)
    plain = fold_name(pd.Series(given)).str.lower() + "." + fold_name(pd.Series(surname)).str.lower()
    email = (
        plain
        + pd.Series(rng.integers(1, 99, n)).astype(str)
        + "@"
        + pd.Series(np.array(MAIL_DOMAINS)[rng.integers(0, len(MAIL_DOMAINS), n)])
    )
    abroad = rng.random(n) < 0.05
    born = np.where(abroad, _choice(rng, BORN_ABROAD, n), home_communes)
    return pd.DataFrame(
        {
            "nom": surname,
            "prenom": given,
            "birth_date": _dates(birth_days),
            "sex": np.where(female, "F", "M"),
            "ine": ine.to_numpy(dtype=object),
            "address": address.to_numpy(dtype=object),
            "commune_code": home_communes,
            "postcode": postcodes_of(pd.Series(home_communes), postal_codes).to_numpy(dtype=object),
            "phone": phone.to_numpy(dtype=object),
            "email": email.to_numpy(dtype=object),
            "birth_commune": born,
            "birth_postcode": np.where(
                abroad, born, postcodes_of(pd.Series(born).astype(str), postal_codes).to_numpy(dtype=object)
            ),
            "born_abroad": abroad,
        }
    )


def postcodes_of(communes: pd.Series, postal_codes: Mapping[str, str] | None) -> pd.Series:
    """The postcode of each commune (a given map, e.g. La Poste's base; else a department-level stand-in,
    `69000` for a commune of the Rhône)."""
    department = communes.str.slice(0, 2).str.replace("2A", "20").str.replace("2B", "20")
    fallback = department.where(~communes.str.startswith("97"), communes.str.slice(0, 3)).str.ljust(5, "0")
    if postal_codes is None:
        return fallback
    return communes.map(postal_codes).fillna(fallback)


def _simulate_employers(
    reference: Reference,
    params: ApprenticeSimulationParams,
    rng: np.random.Generator,
    postal_codes: Mapping[str, str] | None,
) -> pd.DataFrame:
    count = max(20, round(params.n_contracts * params.employers_per_contract))
    chamber = ChamberSimulationParams(n_companies=count, seed=params.seed)
    companies = simulate_companies(reference, chamber, naf_weights=APPRENTICE_NAF_WEIGHTS)
    band = companies["headcount_band"].to_numpy()
    low = pd.Series(band).map({b: r[0] for b, r in HEADCOUNT_RANGE.items()}).to_numpy(dtype=np.int64)
    high = pd.Series(band).map({b: r[1] for b, r in HEADCOUNT_RANGE.items()}).to_numpy(dtype=np.int64)
    headcount = low + (rng.random(count) * (high - low + 1)).astype(np.int64)
    type_code = _choice(rng, EMPLOYER_TYPE_CODES, count)
    naf = companies["naf_code"]
    owner = _surnames(rng, count)
    legal = companies["legal_category"].to_numpy()
    trade = naf.map(TRADE_WORDS).fillna("Atelier").to_numpy()
    company_name = np.where(
        legal == "1000",
        pd.Series(trade) + " " + pd.Series(owner),
        "SARL " + pd.Series(owner) + " " + pd.Series(trade),
    )
    building = naf.str.startswith("43").to_numpy()
    idcc = np.where(
        building, np.where(headcount > 10, "1597", "1596"), naf.map(IDCC).fillna("9999").to_numpy()
    )
    mail_name = fold_name(pd.Series(owner)).str.lower()
    return pd.DataFrame(
        {
            "siret": companies["siret"],
            "naf_code": naf,
            "commune_code": companies["commune_code"],
            "postcode": postcodes_of(companies["commune_code"], postal_codes),
            "headcount_band": companies["headcount_band"],
            "employer_headcount": headcount,
            "employer_type_code": type_code.astype(str),
            "employer_type": pd.Series(type_code).map(EMPLOYER_TYPE_OF_CODE).to_numpy(),
            "legal_category": companies["legal_category"],
            "denomination": company_name.astype(object),
            "idcc": idcc.astype(str),
            "email": (
                "contact." + mail_name + "@" + pd.Series(np.array(MAIL_DOMAINS)[rng.integers(0, 3, count)])
            ).to_numpy(),
            "phone": [f"0{PHONE_BLOCK}{d:05d}" for d in rng.integers(0, 100_000, count)],
        }
    )


def _pick_by(rng: np.random.Generator, options: dict[str, dict[str, float]], keys: np.ndarray) -> np.ndarray:
    out = np.empty(len(keys), dtype=object)
    for key, shares in options.items():
        rows = np.flatnonzero(keys == key)
        if len(rows):
            out[rows] = _choice(rng, {k: v for k, v in shares.items() if v > 0}, len(rows))
    return out


GENERIC_SPECIALTY = "métiers de l'artisanat"
"""Specialty of a training whose trade is not in `SPECIALTIES` (a chamber company of another trade)."""


def training_codes() -> pd.DataFrame:
    """The invented CFD and RNCP codes and the titles of every (trade, diploma) training (`naf_code` "*":
    the generic specialty)."""
    rows = []
    for i, naf in enumerate([*sorted(SPECIALTIES), "*"]):
        for j, diploma in enumerate(DIPLOMA_SHARES):
            specialty = SPECIALTIES.get(naf, GENERIC_SPECIALTY)
            cfd = f"{CFD_PREFIX[diploma]}{21 + i:02d}{101 + 13 * j:03d}" if diploma in CFD_PREFIX else None
            rows.append(
                {
                    "naf_code": naf,
                    "diploma": diploma,
                    "diploma_cfd": cfd,
                    "diploma_rncp": f"RNCP{34001 + 97 * i + 7 * j}",
                    "diploma_title": f"{diploma.replace('_', ' ')} {specialty}",
                    "diploma_label": f"{specialty.upper()} ({diploma.replace('_', ' ')})",
                }
            )
    return pd.DataFrame(rows)


def training_of(naf_codes: np.ndarray, diplomas: np.ndarray) -> pd.DataFrame:
    """The training (codes and titles, `training_codes`) of each (employer's trade, diploma)."""
    known = np.isin(naf_codes, list(SPECIALTIES))
    keys = pd.MultiIndex.from_arrays([np.where(known, naf_codes, "*"), diplomas])
    return training_codes().set_index(["naf_code", "diploma"]).reindex(keys).reset_index(drop=True)


def simulate_apprentices(
    reference: Reference, params: ApprenticeSimulationParams, postal_codes: Mapping[str, str] | None = None
) -> SimulatedApprentices:
    """SYNTHETIC. Learners with invented identities, their employers and contracts, and the oracle.

    `postal_codes` (commune code -> postcode, e.g. from La Poste's base) gives the addresses' postcodes; a
    department-level stand-in is used without it.
    """
    rng = np.random.default_rng([params.seed, 20])
    as_of = params.extraction_date
    as_of_day = day_number(as_of)
    employers = _simulate_employers(reference, params, rng, postal_codes)
    n = params.n_contracts

    # Learners and their training.
    cohort = rng.integers(0, params.n_cohorts + 1, n)
    current = cohort == params.n_cohorts
    year = np.where(current, as_of.year, params.first_cohort + cohort)
    month = rng.choice(12, size=n, p=np.array(START_MONTH_SHARES) / sum(START_MONTH_SHARES)) + 1
    first_of = np.array([day_number(date(int(y), int(m), 1)) for y, m in zip(year, month, strict=True)])
    month_length = _add_months(first_of, np.ones(n, dtype=np.int64)) - first_of
    start = first_of + (rng.random(n) * month_length).astype(np.int64)
    autumn = day_number(date(as_of.year, 9, 1))
    start = np.where(current, autumn + (rng.random(n) * 76).astype(np.int64), start)  # 1 Sept - 15 Nov
    diploma = _choice(rng, DIPLOMA_SHARES, n)
    weight = employers["headcount_band"].map(EMPLOYER_WEIGHT_BY_BAND).to_numpy(dtype=float)
    employer = rng.choice(len(employers), size=n, p=weight / weight.sum())
    band = _pick_by(rng, AGE_BY_DIPLOMA, diploma)
    low = pd.Series(band).map({k: v[0] for k, v in AGE_RANGES.items()}).to_numpy(dtype=np.int64)
    high = pd.Series(band).map({k: v[1] for k, v in AGE_RANGES.items()}).to_numpy(dtype=np.int64)
    age_drawn = low + (rng.random(n) * (high - low + 1)).astype(np.int64)
    prediction_day = start + 7 * params.prediction_weeks
    birth_day = _add_months(prediction_day, -12 * age_drawn) - rng.integers(0, 365, n)
    qualification = np.empty(n, dtype=object)
    for name, by_band in PRIOR_QUALIFICATION.items():
        rows = np.flatnonzero(diploma == name)
        qualification[rows] = _pick_by(rng, by_band, band[rows])
    situation = _pick_by(
        rng,
        {f"{q}|{b}": s for (q, b), s in PRIOR_SITUATION.items()},
        qualification.astype(str) + "|" + band.astype(str),
    )
    codes = np.empty((n, 2), dtype=object)
    for name, options in SITUATION_CODES.items():
        rows = np.flatnonzero(situation == name)
        pick = rng.choice(len(options), size=len(rows), p=[o[2] for o in options])
        codes[rows, 0] = [options[k][0] for k in pick]
        codes[rows, 1] = [options[k][1] for k in pick]
    qualification_code = _pick_by(rng, QUALIFICATION_CODES, qualification)
    theoretical = np.empty(n, dtype=np.int64)
    for name, shares in THEORETICAL_MONTHS.items():
        rows = np.flatnonzero(diploma == name)
        theoretical[rows] = rng.choice(list(shares), size=len(rows), p=list(shares.values()))
    one_year = (diploma == "CAP") & np.isin(qualification, HOLDS_A_DIPLOMA)
    theoretical = np.where(one_year & (rng.random(n) < CAP_IN_ONE_YEAR), 12, theoretical)
    entry_year = np.ones(n, dtype=np.int64)
    for name, shares in ENTRY_YEAR.items():
        rows = np.flatnonzero(diploma == name)
        entry_year[rows] = rng.choice(list(shares), size=len(rows), p=list(shares.values()))
    entry_year = np.minimum(entry_year, np.ceil(theoretical / 12).astype(np.int64))
    training_end = _add_months(start, theoretical - 12 * (entry_year - 1)) - 1
    naf = employers["naf_code"].to_numpy()[employer]
    group = activity_group(pd.Series(naf)).to_numpy()
    female = rng.random(n) < pd.Series(group).map(FEMALE_SHARE).to_numpy(dtype=float)
    home = _home_communes(rng, reference, employers["commune_code"].to_numpy()[employer])
    people = invent_people(rng, birth_day, female, home, postal_codes)
    rqth = rng.random(n) < 0.03
    minor = age_drawn < 18
    nationality = np.where(
        people["born_abroad"].to_numpy(),
        np.where(
            np.isin(people["birth_commune"].to_numpy(), list(EU_COUNTRIES)),
            "2",
            np.where(rng.random(n) < 0.5, "1", "3"),
        ),
        np.where(rng.random(n) < 0.03, "3", "1"),
    )
    training = training_of(naf, diploma)
    width = len(str(n))
    learner_ref = np.array([f"APP-{i:0{width}d}" for i in range(1, n + 1)])
    last_class = np.where(
        np.isin(qualification, HOLDS_A_DIPLOMA),
        "01",
        np.where(qualification == "brevet", "40", _choice(rng, LAST_CLASS_WITHOUT_DIPLOMA, n)),
    )
    guardian = fold_name(people["nom"]).str.lower()
    learners = pd.concat(
        [
            pd.DataFrame({"ref": learner_ref}),
            people.drop(columns="born_abroad"),
            pd.DataFrame(
                {
                    "nationality": nationality,
                    "rqth": np.where(rqth, "1", "0"),
                    "rqth_date": _dates(start - rng.integers(60, 2000, n)).where(rqth),
                    "prior_situation": situation.astype(str),
                    "prior_situation_code": codes[:, 0].astype(str),
                    "last_situation_code": codes[:, 1].astype(str),
                    "prior_qualification": qualification.astype(str),
                    "prior_qualification_code": qualification_code.astype(str),
                    "last_class_code": last_class,
                    "guardian_phone": pd.Series(
                        [f"0{PHONE_BLOCK}{d:05d}" for d in rng.integers(0, 100_000, n)], dtype=object
                    ).where(minor),
                    "guardian_email": ("famille." + guardian + "@example.net").where(minor),
                    "guardian_pcs": pd.Series(
                        _choice(rng, {"52": 0.3, "56": 0.2, "62": 0.2, "47": 0.1, "21": 0.1, "99": 0.1}, n)
                    ).where(minor),
                    "regime": _choice(rng, {"E": 0.6, "D": 0.35, "I": 0.05}, n),
                    "erp_id": [f"YM-{d:07d}" for d in rng.choice(10_000_000, size=n, replace=False)],
                    "diploma": diploma.astype(str),
                    "diploma_cfd": training["diploma_cfd"].to_numpy(),
                    "diploma_rncp": training["diploma_rncp"].to_numpy(),
                    "diploma_title": training["diploma_title"].to_numpy(),
                    "diploma_label": training["diploma_label"].to_numpy(),
                    "theoretical_months": theoretical,
                    "entry_year": entry_year,
                    "training_start": _dates(start),
                    "training_end": _dates(training_end),
                    "cohort_year": year,
                    "current": current,
                }
            ),
        ],
        axis=1,
    )

    # Contracts: the first of each learner, then the new contract after a rupture, rank by rank.
    eff = params.rupture
    # What the formats other than SIFA tell of each learner's prior qualification (the oracle of a contract
    # whose learner is in no SIFA snapshot by its prediction date marginalises it); times, rank by rank,
    # the ruptures of the learner's earlier contracts (their likelihood depends on it).
    evidence = qualification_evidence(diploma, band, situation, theoretical, last_class)
    learner_idx = np.arange(n)
    contract_start = start
    contract_employer = employer
    parts: list[pd.DataFrame] = []
    for rank in range(1, 5):
        m = len(learner_idx)
        if m == 0:
            break
        end = np.where(
            rank == 1,
            training_end[learner_idx],
            np.maximum(
                training_end[learner_idx], _add_months(contract_start, np.full(m, MIN_CONTRACT_MONTHS)) - 1
            ),
        )
        birth = _dates(birth_day[learner_idx])
        age = completed_years(birth, _dates(contract_start + 7 * params.prediction_weeks))
        emp = employers.iloc[contract_employer].reset_index(drop=True)
        observed = pd.DataFrame(
            {
                "age": age,
                "diploma": diploma[learner_idx],
                "prior_situation": situation[learner_idx],
                "prior_qualification": qualification[learner_idx],
                "rqth": np.where(rqth[learner_idx], "1", "0"),
                "theoretical_months": theoretical[learner_idx],
                "employer_headcount": emp["employer_headcount"].to_numpy(),
                "employer_type": emp["employer_type"].to_numpy(),
                "naf_code": emp["naf_code"].to_numpy(),
            }
        )
        p = _sigmoid(rupture_logit(observed, eff))
        q = _sigmoid(relapse_logit(observed, params.relapse)) if rank < 4 else np.zeros(m)
        p_given = np.column_stack(
            [_sigmoid(rupture_logit(observed.assign(prior_qualification=v), eff)) for v in QUALIFICATIONS]
        )
        weight = evidence[learner_idx]
        p_marginal = (weight * p_given).sum(axis=1) / weight.sum(axis=1)
        length = end - contract_start + 1
        broken = rng.random(m) < p
        trial = rng.random(m) < params.trial_share
        day = np.where(
            trial,
            rng.integers(0, TRIAL_DAYS, m),
            TRIAL_DAYS + (rng.random(m) * (length - TRIAL_DAYS)).astype(np.int64),
        )
        rupture = np.where(broken, contract_start + day, -1)
        window = _add_months(rupture, np.full(m, params.relapse_months)) - rupture
        next_start = rupture + 1 + (rng.random(m) * window).astype(np.int64)
        next_start = np.minimum(next_start, rupture + window)
        next_end = np.maximum(
            training_end[learner_idx], _add_months(next_start, np.full(m, MIN_CONTRACT_MONTHS)) - 1
        )
        resigned = broken & (rng.random(m) < q)
        past = ~current[learner_idx]
        # A past cohort stays fully observed: no new contract that would end (or whose own relapse window
        # would close) after as_of. Only a rupture in the last year before as_of can be concerned (a chain
        # of ruptures near the training's end: 4 of the 98,000 past contracts of 100,000 learners), where
        # the realised relapse then departs from q.
        late = past & (_add_months(next_end, np.full(m, params.relapse_months)) >= as_of_day)
        resigned &= ~late
        cause = _rupture_causes(rng, day)
        trainee_year = entry_year[learner_idx] + (contract_start - start[learner_idx]) // 365
        parts.append(
            pd.DataFrame(
                {
                    "learner_ref": learner_ref[learner_idx],
                    "rank": rank,
                    "siret": emp["siret"].to_numpy(),
                    "naf_code": emp["naf_code"].to_numpy(),
                    "employer_headcount": emp["employer_headcount"].to_numpy(),
                    "employer_type_code": emp["employer_type_code"].to_numpy(),
                    "employer_type": emp["employer_type"].to_numpy(),
                    "diploma": diploma[learner_idx].astype(str),
                    "diploma_code": training["diploma_cfd"]
                    .fillna(training["diploma_rncp"])
                    .to_numpy()[learner_idx],
                    "theoretical_months": theoretical[learner_idx],
                    "training_year": np.minimum(
                        trainee_year, np.ceil(theoretical[learner_idx] / 12).astype(np.int64)
                    ),
                    "contract_start": _dates(contract_start),
                    "planned_end": _dates(end),
                    "rupture_date": _dates(np.where(broken, rupture, 0)).where(broken),
                    "rupture_cause": pd.Series(cause).where(broken & (cause != "")).to_numpy(),
                    "resigned": resigned,
                    "age": age,
                    "prior_situation": situation[learner_idx].astype(str),
                    "prior_qualification": qualification[learner_idx].astype(str),
                    "rqth": np.where(rqth[learner_idx], "1", "0"),
                    "current": current[learner_idx],
                    "oracle_rupture_full": p,
                    "oracle_definitive_full": p * (1 - q),
                    "_rupture_marginal": p_marginal,
                    "_relapse": q,
                }
            )
        )
        keep = resigned
        evidence[learner_idx[keep]] *= p_given[keep]  # a next contract: this one broke (likelihood by value)
        learner_idx = learner_idx[keep]
        contract_start = next_start[keep]
        contract_employer = _new_employers(rng, employers, contract_employer[keep])
    contracts = pd.concat(parts, ignore_index=True)
    contracts = contracts[contracts["contract_start"] <= pd.Timestamp(as_of)]  # a current learner's future
    contracts = contracts.sort_values(["learner_ref", "rank"]).reset_index(drop=True)
    cwidth = len(str(len(contracts)))
    contracts.insert(0, "ref", [f"CTR-{i:0{cwidth}d}" for i in range(1, len(contracts) + 1)])
    seen = qualification_observed(contracts, params)
    contracts["qualification_observed"] = seen
    contracts["oracle_rupture"] = np.where(
        seen, contracts["oracle_rupture_full"], contracts["_rupture_marginal"]
    )
    contracts["oracle_definitive"] = np.where(
        seen,
        contracts["oracle_definitive_full"],
        contracts["_rupture_marginal"] * (1 - contracts["_relapse"]),
    )
    oracle = contracts[list(ORACLE_COLUMNS)].copy()
    centre_sirets = synthetic_sirets(rng, 3)
    centres = pd.DataFrame(
        {
            "role": ["responsable", "formateur", "formateur"],
            "uai": ["0699990A", "0699991B", "0389992C"],
            "siret": centre_sirets,
            "name": [
                "CFA des métiers (SYNTHETIC)",
                "Site de Lyon (SYNTHETIC)",
                "Site de Grenoble (SYNTHETIC)",
            ],
            "postcode": ["69007", "69007", "38000"],
            "type_cfa": "06",
        }
    )
    return SimulatedApprentices(
        learners=learners,
        employers=employers,
        contracts=contracts.drop(columns=[*ORACLE_COLUMNS[2:-1], "_rupture_marginal", "_relapse"]),
        centres=centres,
        oracle=oracle.reset_index(drop=True),
        params=params,
    )


def _home_communes(
    rng: np.random.Generator, reference: Reference, employer_communes: np.ndarray
) -> np.ndarray:
    """A home commune in the employer's département, drawn by population."""
    communes = reference.populated_communes()
    dep_of = reference.communes.set_index("commune_code")["departement_code"]
    departments = pd.Series(employer_communes).map(dep_of).to_numpy()
    out = np.empty(len(employer_communes), dtype=object)
    for dep in np.unique(departments.astype(str)):
        rows = np.flatnonzero(departments.astype(str) == dep)
        pool = communes[communes["departement_code"] == dep]
        if pool.empty:
            out[rows] = employer_communes[rows]
            continue
        pop = pool["population"].to_numpy(dtype=float)
        out[rows] = pool["commune_code"].to_numpy()[rng.choice(len(pool), size=len(rows), p=pop / pop.sum())]
    return out


def _new_employers(rng: np.random.Generator, employers: pd.DataFrame, previous: np.ndarray) -> np.ndarray:
    """Another employer of the same trade as each previous one (by size), for a new contract."""
    naf = employers["naf_code"].to_numpy()
    weight = employers["headcount_band"].map(EMPLOYER_WEIGHT_BY_BAND).to_numpy(dtype=float)
    out = previous.copy()
    for code in np.unique(naf[previous]):
        rows = np.flatnonzero(naf[previous] == code)
        pool = np.flatnonzero(naf == code)
        w = weight[pool] / weight[pool].sum()
        pick = pool[rng.choice(len(pool), size=len(rows), p=w)]
        if len(pool) > 1:
            same = pick == previous[rows]
            while same.any():
                pick[same] = pool[rng.choice(len(pool), size=int(same.sum()), p=w)]
                same = pick == previous[rows]
        out[rows] = pick
    return out


def _rupture_causes(rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
    m = len(day)
    trial = _choice(rng, TRIAL_CAUSES, m)
    later = _choice(rng, LATER_CAUSES, m)
    return np.where(day < TRIAL_DAYS, trial, later).astype(object)


# ---------------------------------------------------------------------------------------------------------
# Published figures. Key: figure -> (group column, group value, published rate, source).

PUBLISHED_RUPTURE_9M: dict[str, tuple[str, str, float, str]] = {
    "CAP": (
        "diploma",
        "CAP",
        0.293,
        "DARES Analyses n° 43, July 2024 (relays Centre Inffo, Fondation MMA): CAP 29.3 %",
    ),
    "baccalauréat professionnel": ("diploma", "BAC_PRO", 0.225, "DARES Analyses 2024: baccalauréat 22.5 %"),
    "BTS (higher education)": ("diploma", "BTS", 0.18, "DARES Analyses 2024: higher education 18 %"),
    "employers under 5 employees": (
        "small_employer",
        "1",
        0.28,
        "DARES Analyses 2024 (relay veille.artisanat.fr): under 5 employees 28 %",
    ),
    "coiffure, soins de beauté": ("activity", "coiffure_beaute", 0.30, "DARES Analyses 2024: 30 %"),
    "hébergement-restauration": ("activity", "hotellerie_restauration", 0.36, "DARES Analyses 2024: 36 %"),
    "métiers de bouche": ("activity", "alimentation", 0.28, "DARES Analyses 2024: food industries 28 %"),
}
"""Ruptures within the first 9 months of contracts started in 2022 (DARES), the figures the rupture logit is
calibrated on (the same as the training-centre simulator's)."""

NATIONAL_RUPTURE_9M: dict[str, tuple[str, str, float, str]] = {
    "all contracts (national, all levels)": ("all", "all", 0.21, "DARES Analyses 2024: 21 %"),
    "aged 15-17": ("age_band", "15-17", 0.254, "DARES via Fondation MMA / Letowski 2024: 25.4 %"),
    "aged 18-19": ("age_band", "18-19", 0.245, "DARES via Fondation MMA / Letowski 2024: 24.5 %"),
    "women": ("sex", "F", 0.23, "DARES via Fondation MMA / Letowski 2024: 23 %"),
    "men": ("sex", "M", 0.195, "DARES via Fondation MMA / Letowski 2024: 19.5 %"),
    "job seekers before the contract": (
        "prior_situation",
        "sans_emploi",
        0.34,
        "DARES via Fondation MMA / Letowski 2024: 34 %",
    ),
    "no diploma before the contract": (
        "prior_qualification",
        "aucun",
        0.299,
        "DARES via Fondation MMA / Letowski 2024: 29.9 %",
    ),
}
"""National 9-month figures shown for comparison only: a CMA centre's trades and levels are not the
nation's."""

PUBLISHED_TRIAL_SHARE = (
    0.5,
    "order of magnitude of the project brief (« about half of the ruptures in the 45-day trial period »); "
    "no national figure found: OPCO Atlas (via Centre Inffo 2024) gives 30 % of the ruptures in the first 3 "
    "months, shown below",
)
PUBLISHED_RELAPSE = (
    5.4 / 10.9,
    "one CFA's gross (10.9 %) and definitive (5.4 %) rupture rates, as quoted in the project brief "
    "(definitive / gross = 49.5 %: about half of the broken learners sign again within 3 months)",
)
COMPARISON_FIGURES: dict[str, tuple[float, str]] = {
    "ruptures in the first 3 months": (0.30, "OPCO Atlas via Centre Inffo 2024 (not calibrated)"),
    "ruptures in the first 9 months": (
        2 / 3,
        "Dreets Bretagne via Centre Inffo, December 2025: « two thirds of the ruptures in the first 9 "
        "months »",
    ),
    "broken before planned end (gross)": (
        0.274,
        "DARES via toutpourlemploi.fr: 27.4 % of the contracts started in 2020 (31.6 % of 2021 entrants, "
        "Dreets Bretagne)",
    ),
    "definitive / gross at 9 months (national)": (
        12 / 19,
        "DARES Analyses n° 43 (relay veille.artisanat.fr): 12 % of the 2021 contracts broken at 9 months "
        "without a new contract within 6 months, against about 19 % broken (DARES via Fondation MMA: 6 of "
        "the 21 points sign again within 2 months, 8 within 6)",
    ),
}


def _groups(sim: SimulatedApprentices) -> pd.DataFrame:
    contracts = sim.contracts[~sim.contracts["current"]]
    learners = sim.learners.set_index("ref")
    nine = contracts["contract_start"] + pd.DateOffset(months=9)
    return pd.DataFrame(
        {
            "all": "all",
            "diploma": contracts["diploma"],
            "small_employer": np.where(contracts["employer_headcount"] < 5, "1", "0"),
            "activity": activity_group(contracts["naf_code"]),
            "sex": contracts["learner_ref"].map(learners["sex"]),
            "age_band": age_band(contracts["age"]),
            "prior_situation": contracts["prior_situation"],
            "prior_qualification": contracts["prior_qualification"],
            "broken_9m": (contracts["rupture_date"] < nine).to_numpy(),
            "broken": contracts["rupture_date"].notna().to_numpy(),
            "resigned": contracts["resigned"].to_numpy(),
            "day": (contracts["rupture_date"] - contracts["contract_start"]).dt.days.to_numpy(),
        }
    )


def calibration_report(sim: SimulatedApprentices, national: bool = True) -> pd.DataFrame:
    """Each published figure the apprentices simulator is calibrated on, next to the simulated rate, measured
    on the contracts of the past cohorts (fully observed); with `national`, the figures it is not calibrated
    on too (`calibrated` False)."""
    groups = _groups(sim)
    rows = rupture_figure_rows(groups, PUBLISHED_RUPTURE_9M, NATIONAL_RUPTURE_9M if national else None)
    broken = groups[groups["broken"]]
    rows.append(
        {
            "figure": "ruptures in the 45-day trial period",
            "source": PUBLISHED_TRIAL_SHARE[1],
            "published": PUBLISHED_TRIAL_SHARE[0],
            "simulated": float((broken["day"] < TRIAL_DAYS).mean()),
            "calibrated": True,
        }
    )
    rows.append(
        {
            "figure": "definitive / gross ruptures (no new contract within 3 months)",
            "source": PUBLISHED_RELAPSE[1],
            "published": PUBLISHED_RELAPSE[0],
            "simulated": float(1 - broken["resigned"].mean()),
            "calibrated": True,
        }
    )
    if national:
        simulated = {
            "ruptures in the first 3 months": float((broken["day"] < 91).mean()),
            "ruptures in the first 9 months": float(
                groups["broken_9m"].sum() / max(groups["broken"].sum(), 1)
            ),
            "broken before planned end (gross)": float(groups["broken"].mean()),
            "definitive / gross at 9 months (national)": float(
                (groups["broken_9m"] & ~groups["resigned"]).sum() / max(groups["broken_9m"].sum(), 1)
            ),
        }
        for figure, (published, source) in COMPARISON_FIGURES.items():
            rows.append(
                {
                    "figure": figure,
                    "source": source,
                    "published": published,
                    "simulated": simulated[figure],
                    "calibrated": False,
                }
            )
    report = pd.DataFrame(rows)
    report["gap_points"] = (report["simulated"] - report["published"]) * 100
    return report


def calibrate_apprentice_effects(
    reference: Reference, params: ApprenticeSimulationParams, iterations: int = 8, damping: float = 0.8
) -> ApprenticeSimulationParams:
    """Rake the rupture and relapse logits until the simulated rates match the published ones (offline):
    each round moves the rupture intercept by the mean logit gap of the 9-month figures, each figure's own
    effect by its gap minus the mean, and the relapse intercept by the gap of the definitive / gross ratio."""
    current = params
    for _ in range(iterations):
        report = calibration_report(simulate_apprentices(reference, current), national=False).set_index(
            "figure"
        )
        published = report["published"].astype(float).to_dict()
        simulated = report["simulated"].astype(float).to_dict()
        gaps = {
            f: damping * (logit_of(published[key]) - logit_of(simulated[key]))
            for f in PUBLISHED_RUPTURE_9M
            for key in (f"broken within 9 months, {f}",)
        }
        mean_gap = float(np.mean(list(gaps.values())))
        eff = current.rupture.model_copy(deep=True)
        eff.intercept = round(eff.intercept + mean_gap, 4)
        for figure, (name, key) in EFFECT_OF_FIGURE.items():
            step = gaps[figure] - mean_gap
            if key is None:
                setattr(eff, name, round(getattr(eff, name) + step, 4))
            else:
                getattr(eff, name)[key] = round(getattr(eff, name)[key] + step, 4)
        relapse = "definitive / gross ruptures (no new contract within 3 months)"
        gap = damping * (logit_of(published[relapse]) - logit_of(simulated[relapse]))
        again = current.relapse.model_copy(update={"intercept": round(current.relapse.intercept - gap, 4)})
        current = current.model_copy(update={"rupture": eff, "relapse": again})
    return current
