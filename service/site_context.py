"""What the diagnostic route needs besides the survival models: reference data and the SIRENE store.

Read from the project folder (`data_samples/reference/` and `<home>/data/site_potential/`), like the
pipelines write them; the service never imports `pipelines`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from models.reference import Reference, reference_from_frames
from models.site_potential.geometry import CommuneContours, read_commune_contours
from models.site_potential.indicators import SiteStore
from models.site_potential.territory import build_territory

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "data_samples" / "reference"


@dataclass
class SiteContext:
    """Reference data and store of the diagnostic; the commune contours are read on first use."""

    reference: Reference
    store: SiteStore
    postal_codes: pd.DataFrame  # code_postal, code_insee (COG 2026), nom_commune
    cache_dir: Path | None = None  # where the parsed contours are kept between runs
    _contours: CommuneContours | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def contours(self) -> CommuneContours:
        """The commune contours (about 2 s to read the first time, then kept)."""
        with self._lock:
            if self._contours is None:
                self._contours = read_commune_contours(REFERENCE_DIR, self.cache_dir)
            return self._contours


def load_postal_codes(reference: Reference) -> pd.DataFrame:
    """Postal code -> commune (codes brought to COG 2026)."""
    codes = pd.read_csv(REFERENCE_DIR / "codes_postaux_communes.csv.gz", dtype=str, keep_default_na=False)
    codes["code_insee"] = reference.current_commune_codes(codes["code_insee"]).astype(str).to_numpy()
    return codes[["code_postal", "code_insee", "nom_commune"]].drop_duplicates(["code_postal", "code_insee"])


def load_site_context(home: Path) -> SiteContext | None:
    """The diagnostic's context, or None when no site store has been built yet."""
    store_dir = home / "data" / "site_potential"
    if not (store_dir / "store.json").exists():
        return None
    communes = pd.read_csv(REFERENCE_DIR / "communes_cog2026.csv.gz", dtype=str, keep_default_na=False)
    naf = pd.read_csv(REFERENCE_DIR / "naf_rev2_sous_classes.csv", dtype=str, keep_default_na=False)
    stats = pd.read_csv(REFERENCE_DIR / "communes_stats_2021.csv.gz", dtype=str, keep_default_na=False)
    reference = reference_from_frames(communes, naf)
    meta = json.loads((store_dir / "store.json").read_text(encoding="utf-8"))
    store = SiteStore(
        territory=build_territory(reference, stats),
        activity_commune=pd.read_parquet(store_dir / "activity_commune.parquet"),
        activity_survival=pd.read_parquet(store_dir / "activity_survival.parquet"),
        reference_date=date.fromisoformat(meta["reference_date"]),
        synthetic=bool(meta.get("synthetic", False)),
    )
    return SiteContext(
        reference=reference, store=store, postal_codes=load_postal_codes(reference), cache_dir=home / "cache"
    )
