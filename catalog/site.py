"""The site-potential store (`<home>/data/site_potential/`): the SIRENE aggregates the diagnostic reads, as
`pipelines.site.build_store` writes them (`store.json` and two Parquet files), and the BPE competitor counts
`pipelines.bpe.ingest_bpe` writes next to them (`competition.parquet`)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd

from catalog.reference import load_bpe_types, load_territory
from models.site_potential.indicators import SiteStore
from models.site_potential.territory import Territory

STORE_META = "store.json"  # reference date and whether the establishments are simulated; written last
ACTIVITY_COMMUNE = "activity_commune.parquet"
ACTIVITY_SURVIVAL = "activity_survival.parquet"
COMPETITION = "competition.parquet"  # BPE counts: year, commune_code, typequ, count


class StoreNotFoundError(FileNotFoundError):
    """No site store has been built in the folder yet."""

    def __init__(self, store_dir: Path) -> None:
        super().__init__(f"{store_dir}: no site store yet (run `cma-predict train-site` or `make run`)")
        self.store_dir = store_dir


def site_dir(home: Path) -> Path:
    """Where the SIRENE store of the diagnostic lives in a project folder."""
    return home / "data" / "site_potential"


def load_store(store_dir: Path, territory: Territory | None = None) -> SiteStore:
    """The diagnostic's store, as built by `pipelines.site.build_store`, on `territory` (default: the
    shipped reference's, `catalog.reference.load_territory`). Raises `StoreNotFoundError` when none is built.

    Read afresh at each call (a job may rebuild the store): the service reads it once, at start-up."""
    meta_path = store_dir / STORE_META
    if not meta_path.exists():
        raise StoreNotFoundError(store_dir)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    competition = store_dir / COMPETITION
    return SiteStore(
        territory=territory if territory is not None else load_territory(),
        activity_commune=pd.read_parquet(store_dir / ACTIVITY_COMMUNE),
        activity_survival=pd.read_parquet(store_dir / ACTIVITY_SURVIVAL),
        reference_date=date.fromisoformat(meta["reference_date"]),
        synthetic=bool(meta.get("synthetic", False)),
        competition=pd.read_parquet(competition) if competition.exists() else None,
        bpe_types=load_bpe_types(),
    )
