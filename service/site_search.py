"""What an advisor types, turned into codes: an activity by NAF code or label words (artisan activities
first), a commune by INSEE code, postal code or name. Accent- and case-insensitive."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from models.reference import Reference, normalize_commune_code, normalize_naf_code
from models.site_potential.diagnose import plain_text as plain

NAF_QUERY = re.compile(r"^\s*(\d{2}\.?\d{2}[A-Za-z])\b")
COMMUNE_QUERY = re.compile(r"^\s*(\d{5}|2[ABab]\d{3})\b")


@dataclass(frozen=True)
class Choice:
    """A suggestion: the code and what the advisor reads."""

    code: str
    label: str
    artisan: bool = False

    @property
    def display(self) -> str:
        """`code · label`, what the input shows once chosen (and what resolution reads back)."""
        return f"{self.code} · {self.label}"


class ActivityIndex:
    """NAF rev.2 sub-classes, searchable by code or label."""

    def __init__(self, reference: Reference) -> None:
        naf = reference.naf
        self.choices = [
            Choice(str(code), str(label), bool(artisan))
            for code, label, artisan in zip(
                naf["naf_code"], naf["naf_label"], naf["relevant_artisanat"], strict=True
            )
        ]
        self._plain = [plain(f"{c.code} {c.label}") for c in self.choices]
        self._by_code = {c.code: c for c in self.choices}

    def search(self, query: str, limit: int = 12) -> list[Choice]:
        """Activities whose code or label contains every word of `query`, artisan activities first."""
        words = plain(query).split()
        if not words:
            return []
        found = [
            c for c, text in zip(self.choices, self._plain, strict=True) if all(w in text for w in words)
        ]
        return sorted(found, key=lambda c: (not c.artisan, c.code))[:limit]

    def resolve(self, query: str) -> tuple[str | None, list[Choice]]:
        """The NAF code meant by `query`, or None and the activities it could mean."""
        match = NAF_QUERY.match(query)
        if match:
            code = str(normalize_naf_code(pd.Series([match.group(1)])).iloc[0])
            if code in self._by_code:
                return code, []
        found = self.search(query)
        exact = [c for c in found if plain(c.label) == plain(query)]
        if len(exact) == 1 or len(found) == 1:
            return (exact or found)[0].code, []
        return None, found


class CommuneIndex:
    """Communes of the diagnostic's territory, searchable by INSEE code, postal code or name."""

    def __init__(self, communes: pd.DataFrame, postal_codes: pd.DataFrame) -> None:
        """`communes`: indexed by COG 2026 code with `commune_name`, `departement_code`; `postal_codes`:
        `code_postal`, `code_insee`."""
        self.choices = {
            str(code): Choice(str(code), f"{name} ({dep})")
            for code, name, dep in zip(
                communes.index, communes["commune_name"], communes["departement_code"], strict=True
            )
        }
        self._plain_names = {
            code: plain(choice.label.rsplit(" (", 1)[0]) for code, choice in self.choices.items()
        }
        known = postal_codes[postal_codes["code_insee"].isin(list(self.choices))]
        self._by_postal: dict[str, list[str]] = {}
        for postal, code in zip(known["code_postal"], known["code_insee"], strict=True):
            self._by_postal.setdefault(str(postal), []).append(str(code))

    def search(self, query: str, limit: int = 12) -> list[Choice]:
        """Communes by postal code (prefix), INSEE code, or name (names starting with the query first)."""
        text = query.strip()
        if not text:
            return []
        if text.isdigit():
            codes = [c for postal, cs in self._by_postal.items() if postal.startswith(text) for c in cs]
            codes += [c for c in self.choices if c.startswith(text)]
            return [self.choices[c] for c in dict.fromkeys(codes)][:limit]
        wanted = plain(text)
        starts = [c for c, name in self._plain_names.items() if name.startswith(wanted)]
        contains = [c for c, name in self._plain_names.items() if wanted in name and c not in starts]
        ranked = sorted(starts, key=lambda c: len(self._plain_names[c])) + contains
        return [self.choices[c] for c in ranked[:limit]]

    def resolve(self, query: str) -> tuple[str | None, list[Choice]]:
        """The commune meant by `query`, or None and the communes it could mean."""
        match = COMMUNE_QUERY.match(query)
        if match:
            code = str(normalize_commune_code(pd.Series([match.group(1)])).iloc[0])
            if code in self.choices:
                return code, []
            postal = self._by_postal.get(match.group(1), [])
            if len(postal) == 1:
                return postal[0], []
            if postal:
                return None, [self.choices[c] for c in postal]
        wanted = plain(query.split("·")[-1].rsplit("(", 1)[0])
        exact = [c for c, name in self._plain_names.items() if name == wanted]
        if len(exact) == 1:
            return exact[0], []
        return None, [self.choices[c] for c in exact] or self.search(query)
