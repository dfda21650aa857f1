"""What the diagnostic routes need besides the survival models: reference data, the SIRENE store, the postal
codes and the commune contours, all read by the catalog (the service never imports `pipelines`); and the
survival champions a diagnostic uses, by their registered names."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from catalog.contours import load_commune_contours
from catalog.reference import REFERENCE_DIR, load_postal_codes, load_reference
from catalog.site import StoreNotFoundError, load_store, site_dir
from models.reference import Reference
from models.site_potential import survival_model_names
from models.site_potential.geometry import CommuneContours
from models.site_potential.indicators import SiteStore
from models.site_potential.survival import SurvivalModel
from service.model_registry import LoadedModel, ModelRegistry


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


@dataclass(frozen=True)
class SiteChampions:
    """The serving survival champions a diagnostic uses, by horizon."""

    loaded: dict[int, LoadedModel]
    models: dict[int, SurvivalModel]

    def versions(self) -> dict[str, str]:
        """Registered name -> serving version (the answer's `model_versions`)."""
        return {m.name: m.version for m in self.loaded.values()}

    def version(self) -> str:
        """The versions joined, horizon by horizon (`1+1`, as the audit log records them)."""
        return "+".join(m.version for m in self.loaded.values())


def site_champions(registry: ModelRegistry, suffix: str = "") -> SiteChampions | None:
    """The survival champions registered with `suffix` (the setting `site_model_suffix`); None when one of
    them is not loaded (or is not a survival model)."""
    loaded = {horizon: registry.get(name) for horizon, name in survival_model_names(suffix).items()}
    champions = {h: m for h, m in loaded.items() if m is not None}
    models = {h: m.model for h, m in champions.items() if isinstance(m.model, SurvivalModel)}
    if len(models) < len(loaded):
        return None
    return SiteChampions(loaded=champions, models=models)
