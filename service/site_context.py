"""What the diagnostic routes need besides the survival models: reference data, the SIRENE store, the postal
codes and the commune contours, all read by the catalog (the service never imports `pipelines`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from catalog.contours import load_commune_contours
from catalog.reference import REFERENCE_DIR, load_postal_codes, load_reference
from catalog.site import StoreNotFoundError, load_store, site_dir
from models.reference import Reference
from models.site_potential.geometry import CommuneContours
from models.site_potential.indicators import SiteStore


@dataclass
class SiteContext:
    """Reference data and store of the diagnostic; the commune contours are read on first use."""

    reference: Reference
    store: SiteStore
    postal_codes: pd.DataFrame  # code_postal, code_insee (COG 2026), nom_commune
    cache_dir: Path | None = None  # where the parsed contours are kept between runs
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def contours(self) -> CommuneContours:
        """The commune contours (about 2 s to read the first time, then kept by the catalog)."""
        with self._lock:  # one reading, even when the first requests come together
            return load_commune_contours(REFERENCE_DIR, self.cache_dir)


def load_site_context(home: Path) -> SiteContext | None:
    """The diagnostic's context, or None when no site store has been built yet."""
    try:
        store = load_store(site_dir(home))
    except StoreNotFoundError:
        return None
    return SiteContext(
        reference=load_reference(), store=store, postal_codes=load_postal_codes(), cache_dir=home / "cache"
    )
