"""The champions the service serves, loaded from the MLflow registry by alias, swapped atomically on reload.

A champion that fails to load never replaces the version already serving; `/ready` reports the failure.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import mlflow
from mlflow import MlflowClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """One champion in memory: the model object of `models/`, its version, metrics and card."""

    name: str
    version: str
    model: Any
    metrics: dict[str, float]
    card: str
    loaded_at: str


@dataclass
class ModelRegistry:
    """Name -> loaded champion, plus the last load error of each name."""

    names: tuple[str, ...]
    alias: str = "champion"
    models: dict[str, LoadedModel] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, name: str) -> LoadedModel | None:
        """The serving version of `name` (None when none could ever be loaded)."""
        return self.models.get(name)

    def load(self, name: str) -> LoadedModel:
        """Load `name@alias` from the registry (raises on failure)."""
        client = MlflowClient()
        version = client.get_model_version_by_alias(name, self.alias)
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
        model = pyfunc.unwrap_python_model().model
        run = client.get_run(version.run_id) if version.run_id else None
        metrics = {k: v for k, v in (run.data.metrics.items() if run else []) if k.startswith("test_")}
        return LoadedModel(
            name=name,
            version=str(version.version),
            model=model,
            metrics=metrics,
            card=version.description or "",
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def reload(self) -> dict[str, str]:
        """Load every champion; keep the serving version of any name whose new champion fails to load.

        Returns name -> outcome ("vN loaded", "vN kept: <reason>", "unavailable: <reason>").
        """
        outcome: dict[str, str] = {}
        for name in self.names:
            try:
                loaded = self.load(name)
            except Exception as err:
                reason = f"{type(err).__name__}: {str(err)[:200]}"
                with self._lock:
                    self.errors[name] = reason
                current = self.models.get(name)
                outcome[name] = f"v{current.version} kept: {reason}" if current else f"unavailable: {reason}"
                logger.warning("loading %s failed: %s", name, reason)
                continue
            with self._lock:
                self.models = {**self.models, name: loaded}
                self.errors.pop(name, None)
            outcome[name] = f"v{loaded.version} loaded"
        return outcome
