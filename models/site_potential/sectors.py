"""INSEE survival sectors and their published rates, and how NAF sections map to them."""

from __future__ import annotations

# NAF rev.2 section -> sector of INSEE's survival tables (Sine).
SECTION_TO_SECTOR: dict[str, str] = {
    "B": "Industrie",
    "C": "Industrie",
    "D": "Industrie",
    "E": "Industrie",
    "F": "Construction",
    "G": "Commerce",
    "H": "Transports",
    "I": "Hébergement et restauration",
    "J": "Information et communication",
    "M": "Services aux entreprises",
    "N": "Services aux entreprises",
    "S": "Autres activités de services",
    "R": "Autres activités de services",
    "P": "Autres activités de services",
    "Q": "Autres activités de services",
    "L": "Autres activités de services",
    "K": "Autres activités de services",
    "A": "Autres activités de services",
    "O": "Autres activités de services",
    "T": "Autres activités de services",
    "U": "Autres activités de services",
}
# INSEE, enquête Sine 2006 (table NATTEF09121): 3-year survival by sector, generation 2006.
PUBLISHED_SURVIVAL_3Y: dict[str, float] = {
    "Industrie": 0.680,
    "Construction": 0.645,
    "Commerce": 0.587,
    "Transports": 0.726,
    "Hébergement et restauration": 0.665,
    "Information et communication": 0.674,
    "Services aux entreprises": 0.706,
    "Autres activités de services": 0.655,
}
# INSEE chiffres-clés (Sine, hors micro-entrepreneurs), 5-year survival by sector, generation 2014.
PUBLISHED_SURVIVAL_5Y: dict[str, float] = {
    "Industrie": 0.642,
    "Construction": 0.593,
    "Commerce": 0.544,
    "Transports": 0.675,
    "Hébergement et restauration": 0.588,
    "Information et communication": 0.596,
    "Services aux entreprises": 0.594,
    "Autres activités de services": 0.602,
}
SURVIVAL_SOURCES: dict[int, str] = {
    3: "INSEE, enquête Sine 2006, survie à 3 ans par secteur (tableau NATTEF09121)",
    5: "INSEE, chiffres-clés Sine, pérennité à 5 ans hors micro-entrepreneurs, génération 2014",
}
