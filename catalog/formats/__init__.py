"""Readers of the formats the chambers and their training centres really export: SIFA (CSV or `.xlsx`), the
apprenticeship dashboard's ERP API v3 (JSON, NDJSON), DECA contracts (JSON, NDJSON), INPI's RNE
formalities (JSON, NDJSON). Each maps its records onto the project's contracts (`models.contracts`),
keeping only what a model needs (`catalog.formats.common`). SIRENE stock files go through the SIRENE
ingestion (`pipelines.ingest`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from catalog.formats.common import FormatError, FormatRead, Pseudonymiser

Reader = Callable[..., FormatRead]

READERS: dict[str, str] = {
    "sifa": "catalog.formats.sifa:read_sifa",
    "erp": "catalog.formats.erp:read_erp",
    "deca": "catalog.formats.deca:read_deca",
    "rne": "catalog.formats.rne:read_rne",
}
FORMATS: tuple[str, ...] = (*READERS, "sirene")


def reader(name: str) -> Reader:
    """The reader of format `name`."""
    module, _, function = READERS[name].partition(":")
    found: Reader = getattr(importlib.import_module(module), function)
    return found


def detect(raw: bytes, source: str) -> str:
    """The format of a file from its first bytes: JSON records by their keys, a delimited file by its
    header (SIRENE's official names, SIFA's fields, or a headerless SIFA file: 46 or 47 `;` fields)."""
    head = raw[:20000].removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")
    stripped = head.lstrip()
    if stripped.startswith(("[", "{")):
        if '"formality"' in head:
            return "rne"
        if '"alternant"' in head or '"no_contrat"' in head:
            return "deca"
        if '"nom_apprenant"' in head or '"date_entree_formation"' in head:
            return "erp"
        raise FormatError(source, "JSON records of no known format (ERP v3, DECA or RNE)")
    first = head.split("\n", 1)[0]
    if "activitePrincipaleEtablissement" in first or "dateCreationEtablissement" in first:
        return "sirene"
    if "SIRET_EMP" in first or "DATE_DEB_CONT" in first or first.count(";") in (45, 46):
        return "sifa"
    raise FormatError(source, "not a known format (SIFA, ERP v3, DECA, RNE or a SIRENE stock file)")


__all__ = ["FORMATS", "READERS", "FormatError", "FormatRead", "Pseudonymiser", "detect", "reader"]
