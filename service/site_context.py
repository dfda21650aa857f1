"""What the diagnostic route needs besides the survival models: reference data and the SIRENE store.

Read from the project folder (`data_samples/reference/` and `<home>/data/site_potential/`), like the
pipelines write them; the service never imports `pipelines`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from models.reference import Reference, reference_from_frames
from models.site_potential.indicators import SiteStore
from models.site_potential.territory import build_territory

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "data_samples" / "reference"


@dataclass(frozen=True)
class SiteContext:
    """Reference data and store of the diagnostic."""

    reference: Reference
    store: SiteStore


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
    return SiteContext(reference=reference, store=store)
