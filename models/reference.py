"""Reference open data (INSEE COG communes, NAF rev.2 sub-classes) as in-memory lookup tables.

The tables are read from files by `catalog.reference` and passed in; this module only shapes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Parent codes of the three cities split into arrondissements municipaux (Paris, Lyon, Marseille).
# SIRENE and chambers use the arrondissement codes (75101..., 69381..., 13201...).
PLM_PARENT_CODES: frozenset[str] = frozenset({"75056", "69123", "13055"})

NAF_DOTTED = re.compile(r"^\d{2}\.\d{2}[A-Z]$")
NAF_COMPACT = re.compile(r"^\d{4}[A-Z]$")


def normalize_naf_code(values: pd.Series) -> pd.Series:
    """Normalize NAF rev.2 sub-class codes to the dotted SIRENE form (`4322A` -> `43.22A`)."""
    text = values.astype("string").str.strip().str.upper()
    compact = text.str.fullmatch(NAF_COMPACT.pattern).fillna(False).astype(bool)
    fixed = text.where(~compact, text.str.slice(0, 2) + "." + text.str.slice(2))
    return fixed


def normalize_commune_code(values: pd.Series) -> pd.Series:
    """Normalize INSEE commune codes: strip, upper-case (`2a004` -> `2A004`), left-pad numeric codes."""
    text = values.astype("string").str.strip().str.upper()
    short_numeric = text.str.fullmatch(r"\d{4}").fillna(False).astype(bool)
    return text.where(~short_numeric, "0" + text)


@dataclass(frozen=True)
class Reference:
    """The open-data lookups every model needs: communes (COG 2026) and NAF rev.2 sub-classes.

    `communes` has one row per current commune or arrondissement municipal with columns
    `commune_code, commune_name, departement_code, region_code, population, latitude, longitude`;
    `naf` one row per NAF rev.2 sub-class with `naf_code, naf_label, division, section,
    relevant_artisanat (bool), secteur_artisanat`.
    """

    communes: pd.DataFrame
    naf: pd.DataFrame
    former_communes: dict[str, str] = field(default_factory=dict)
    commune_codes: frozenset[str] = field(init=False)
    naf_codes: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "commune_codes", frozenset(self.communes["commune_code"].astype(str)))
        object.__setattr__(self, "naf_codes", frozenset(self.naf["naf_code"].astype(str)))

    def current_commune_codes(self, codes: pd.Series) -> pd.Series:
        """Replace former commune codes (merged communes, COG `anciens_codes`) by their current code."""
        if len(codes) < 50:  # a few codes (an API request): plain dict look-ups beat vectorized ones
            current = [c if c in self.commune_codes else self.former_communes.get(c, c) for c in codes]
            return pd.Series(current, index=codes.index, dtype=codes.dtype)
        known = codes.isin(self.commune_codes)
        return codes.where(known, codes.map(self.former_communes).fillna(codes))

    def artisan_naf(self) -> pd.DataFrame:
        """NAF sub-classes listed as artisan activities by the annex of décret 98-247."""
        return self.naf[self.naf["relevant_artisanat"]].reset_index(drop=True)

    def populated_communes(self) -> pd.DataFrame:
        """Communes where establishments can be placed: populated, PLM cities by arrondissement."""
        frame = self.communes[~self.communes["commune_code"].isin(PLM_PARENT_CODES)]
        return frame[frame["population"] > 0].reset_index(drop=True)


def reference_from_frames(communes: pd.DataFrame, naf: pd.DataFrame) -> Reference:
    """Build a `Reference` from raw string frames (as read from `data_samples/reference/`)."""
    com = pd.DataFrame(
        {
            "commune_code": communes["commune_code"].astype(str),
            "commune_name": communes["commune_name"].astype(str),
            "departement_code": communes["departement_code"].astype(str),
            "region_code": communes["region_code"].astype(str),
            "population": pd.to_numeric(communes["population"], errors="coerce").fillna(0).astype(np.int64),
            "latitude": pd.to_numeric(communes["latitude"], errors="coerce"),
            "longitude": pd.to_numeric(communes["longitude"], errors="coerce"),
        }
    )
    relevant = naf["relevant_artisanat"].astype(str).str.lower().eq("true")
    nomenclature = pd.DataFrame(
        {
            "naf_code": naf["naf_code"].astype(str),
            "naf_label": naf["naf_label"].astype(str),
            "division": naf["division"].astype(str),
            "section": naf["section"].astype(str),
            "relevant_artisanat": relevant,
            "secteur_artisanat": naf["secteur_artisanat"]
            .fillna("")
            .astype(str)
            .where(relevant, "hors_liste"),
        }
    )
    return Reference(communes=com, naf=nomenclature, former_communes=_former_codes(communes))


def _former_codes(communes: pd.DataFrame) -> dict[str, str]:
    """Map each former commune code listed in `anciens_codes` to the current code (current codes excluded)."""
    if "anciens_codes" not in communes:
        return {}
    current = set(communes["commune_code"].astype(str))
    pairs = (
        communes[["commune_code", "anciens_codes"]]
        .assign(former=communes["anciens_codes"].fillna("").astype(str).str.split("|"))
        .explode("former")
    )
    pairs = pairs[(pairs["former"] != "") & ~pairs["former"].isin(current)]
    return dict(zip(pairs["former"], pairs["commune_code"].astype(str), strict=True))
