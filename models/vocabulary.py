"""The vocabularies shared by the contracts, the models, the simulators and the reports: codes, their
order and their French labels, defined once here so that no model package imports another model (or a
simulator) for a vocabulary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# SIRENE `trancheEffectifsEtablissement` codes (INSEE), kept verbatim.
HEADCOUNT_BANDS: dict[str, str] = {
    "NN": "Unité non employeuse",
    "00": "0 salarié",
    "01": "1 ou 2 salariés",
    "02": "3 à 5 salariés",
    "03": "6 à 9 salariés",
    "11": "10 à 19 salariés",
    "12": "20 à 49 salariés",
    "21": "50 à 99 salariés",
    "22": "100 à 199 salariés",
}

# INSEE catégories juridiques (niveau III) most common among artisan firms.
LEGAL_CATEGORIES: dict[str, str] = {
    "1000": "Entrepreneur individuel",
    "5410": "SARL nationale",
    "5498": "SARL unipersonnelle (EURL)",
    "5499": "Société à responsabilité limitée (sans autre indication)",
    "5710": "SAS, société par actions simplifiée",
    "5720": "SASU, société par actions simplifiée à associé unique",
    "6540": "Société civile immobilière de construction-vente",
    "5599": "SA à conseil d'administration",
}

# Highest craft or general qualification of the company head, as recorded at the chamber.
HEAD_QUALIFICATIONS: dict[str, str] = {
    "aucune": "Aucun diplôme professionnel déclaré",
    "cap_bep": "CAP ou BEP",
    "bp_bac_pro": "Brevet professionnel ou bac professionnel",
    "brevet_maitrise": "Brevet de maîtrise (BM / BTM supérieur)",
    "superieur": "Diplôme de l'enseignement supérieur",
}

# Diplomas prepared in apprenticeship, with their usual contract length in months.
DIPLOMAS: dict[str, str] = {
    "CAP": "Certificat d'aptitude professionnelle",
    "MC": "Mention complémentaire",
    "BP": "Brevet professionnel",
    "BAC_PRO": "Baccalauréat professionnel",
    "BTM": "Brevet technique des métiers",
    "TITRE_PRO": "Titre professionnel (RNCP)",
    "BTS": "Brevet de technicien supérieur",
}

PRIOR_QUALIFICATIONS: dict[str, str] = {
    "aucun": "Aucun diplôme",
    "brevet": "Diplôme national du brevet",
    "cap_bep": "CAP ou BEP",
    "bac": "Baccalauréat",
    "superieur": "Diplôme de l'enseignement supérieur",
}

RUPTURE_INITIATORS: dict[str, str] = {
    "periode_probatoire": "Rupture pendant les 45 premiers jours de formation pratique",
    "commun_accord": "Rupture d'un commun accord",
    "apprenti": "À l'initiative de l'apprenti",
    "employeur": "À l'initiative de l'employeur",
    "autre": "Autre motif (liquidation, force majeure...)",
}

HEADCOUNT_RANK: dict[str, float] = {band: float(rank) for rank, band in enumerate(HEADCOUNT_BANDS)}
"""Order of the SIRENE headcount bands (`NN` non-employer first), as a number a model can split on."""

RANK_TO_HEADCOUNT_BAND: dict[int, str] = {int(rank): band for band, rank in HEADCOUNT_RANK.items()}

# Trade groups of the apprenticeship figures (DARES, CMA PACA): NAF sub-class -> group, else "autre".
ACTIVITY_GROUPS: dict[str, str] = {
    "96.02A": "coiffure_beaute",
    "96.02B": "coiffure_beaute",
    "56.10A": "hotellerie_restauration",
    "56.10C": "hotellerie_restauration",
    "55.10Z": "hotellerie_restauration",
    "10.71C": "alimentation",
    "10.71D": "alimentation",
    "10.13B": "alimentation",
    "47.22Z": "alimentation",
}


def activity_group(naf_code: pd.Series) -> pd.Series:
    """The trade group of NAF sub-classes (dotted codes), "autre" outside the listed trades."""
    return naf_code.map(ACTIVITY_GROUPS).fillna("autre")


AGE_BANDS: tuple[str, ...] = ("15-17", "18-19", "20-25", "26+")
"""Age bands of the DARES apprenticeship figures."""


def age_band(age: pd.Series | np.ndarray) -> np.ndarray:
    """Age bands of the DARES figures (15-17, 18-19, 20-25, 26+)."""
    values = np.asarray(age, dtype=float)
    return np.select([values <= 17, values <= 19, values <= 25], list(AGE_BANDS[:3]), AGE_BANDS[3])


DIPLOMA_LEVEL: dict[str, str] = {
    "CAP": "niveau 3 (CAP, MC)",
    "MC": "niveau 3 (CAP, MC)",
    "TITRE_PRO": "titre professionnel",
    "BP": "niveau 4 (BP, bac pro, BTM)",
    "BAC_PRO": "niveau 4 (BP, bac pro, BTM)",
    "BTM": "niveau 4 (BP, bac pro, BTM)",
    "BTS": "niveau 5 (BTS)",
}
"""Level of the diploma prepared (French national framework), for the report by group."""


def headcount_label(rank: float) -> str:
    """The French label of a headcount band given by its rank (`HEADCOUNT_RANK`)."""
    band = RANK_TO_HEADCOUNT_BAND.get(int(rank))
    return HEADCOUNT_BANDS.get(band or "", f"{rank:.0f}")


# What the national apprenticeship systems (SIFA, the dashboard's ERP API, DECA) say of an apprentice,
# coarsened at read time to what a model can use (and no more: GDPR art. 5, data minimisation).
PRIOR_SITUATIONS: dict[str, str] = {
    "college": "Collège (y compris SEGPA, DIMA, CPA)",
    "lycee_general": "Lycée général ou technologique",
    "voie_pro_scolaire": "Voie professionnelle sous statut scolaire",
    "apprentissage": "Déjà en apprentissage",
    "superieur": "Enseignement supérieur",
    "emploi": "Salarié ou contrat de professionnalisation",
    "sans_emploi": "Demandeur d'emploi ou sans emploi",
    "stage_formation": "Stagiaire de la formation professionnelle",
    "autre": "Autre situation",
}

EMPLOYER_TYPES: dict[str, str] = {
    "artisan": "Entreprise inscrite au répertoire des métiers",
    "prive_autre": "Autre employeur privé (RCS, MSA, profession libérale, association)",
    "public": "Employeur public",
}

RUPTURE_CAUSES: dict[str, str] = {
    "demission": "À l'initiative de l'apprenti (démission)",
    "licenciement": "À l'initiative de l'employeur (licenciement, faute, inaptitude)",
    "commun_accord": "D'un commun accord",
    "diplome": "Obtention du diplôme",
    "force_majeure": "Force majeure, liquidation ou fermeture de l'entreprise",
    "autre": "Autre ou non précisé",
}

SOURCE_FORMATS: dict[str, str] = {
    "sifa": "Enquête SIFA (DEPP)",
    "erp": "API ERP v3 du tableau de bord de l'apprentissage",
    "deca": "DECA (dépôt des contrats d'apprentissage)",
}

LAST_CLASSES: dict[str, str] = {
    "01": "Dernière année du cycle suivie, diplôme obtenu",
    "11": "1re année du cycle validée",
    "12": "1re année du cycle non validée",
    "21": "2e année du cycle validée",
    "22": "2e année du cycle non validée",
    "31": "3e année du cycle validée",
    "32": "3e année du cycle non validée",
    "40": "1er cycle du secondaire (collège) achevé",
    "41": "Études interrompues en classe de 3e",
    "42": "Études interrompues en classe de 4e",
}
"""The last class the apprentice followed before the contract (CERFA FA13 `derniereClasse`, DECA
`alternant.derniere_classe`): what the contract form says of the learner's schooling."""
