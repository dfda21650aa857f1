"""The models the service serves, loaded from the MLflow registry by alias, swapped atomically on reload.

By default every registered model that carries the `champion` alias is served (suffixed site models and
models retrained on a centre's extract included), discovered at start and on reload; `CMA_MODELS` adds
explicit entries (`name` or `name@alias`) and `CMA_DISCOVER_MODELS=false` restricts the service to them.
A model that fails to load never replaces the version already serving; `/ready` reports the failure.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import mlflow
from mlflow import MlflowClient

from models.interface import ScoringModel
from service.model_schemas import SchemaSet

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """One served model in memory: its face (`models.interface.ScoringModel`), version, metrics, card and
    the request and response schemas derived from its contract."""

    name: str
    version: str
    model: ScoringModel
    metrics: dict[str, float]
    card: str
    loaded_at: str
    schemas: SchemaSet


def _entry(entry: str, alias: str) -> tuple[str, str]:
    """(registered name, alias) of a served entry `name` or `name@alias`."""
    name, _, given = entry.partition("@")
    return name, given or alias


@dataclass
class ModelRegistry:
    """Served name -> loaded model, plus the last load error of each name.

    A served name is the registered name (served by `alias`), or `name@other_alias` for an explicit entry
    with another alias.
    """

    names: tuple[str, ...] = ()
    alias: str = "champion"
    discover: bool = True
    models: dict[str, LoadedModel] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, name: str) -> LoadedModel | None:
        """The serving version of `name` (None when none could ever be loaded)."""
        return self.models.get(name)

    def served(self) -> tuple[str, ...]:
        """Every served name: the discovered ones and the explicit entries, in a stable order."""
        return tuple(dict.fromkeys([*self.models, *self.errors, *self.names]))

    def discovered(self) -> list[str]:
        """Registered models that carry the alias."""
        out = []
        for registered in MlflowClient().search_registered_models():
            if self.alias in (registered.aliases or {}):
                out.append(registered.name)
        return sorted(out)

    def load(self, name: str) -> LoadedModel:
        """Load the served entry `name` from the registry (raises on failure, or when the registered model
        does not implement the scoring face)."""
        registered, alias = _entry(name, self.alias)
        client = MlflowClient()
        version = client.get_model_version_by_alias(registered, alias)
        pyfunc = mlflow.pyfunc.load_model(f"models:/{registered}/{version.version}")
        model = getattr(pyfunc.unwrap_python_model(), "model", None)
        if not isinstance(model, ScoringModel):
            raise TypeError(
                f"{registered} v{version.version} does not implement the scoring face (retrain it)"
            )
        run = client.get_run(version.run_id) if version.run_id else None
        metrics = {k: v for k, v in (run.data.metrics.items() if run else []) if k.startswith("test_")}
        return LoadedModel(
            name=name,
            version=str(version.version),
            model=model,
            metrics=metrics,
            card=version.description or "",
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
            schemas=SchemaSet.of(model, registered),
        )

    def reload(self) -> dict[str, str]:
        """Load every served model; keep the serving version of any name whose new one fails to load.

        Returns name -> outcome ("vN loaded", "vN kept: <reason>", "unavailable: <reason>").
        """
        wanted = list(self.names)
        if self.discover:
            try:
                wanted = [*self.discovered(), *wanted]
            except Exception as err:  # the registry is unreachable: keep serving what is loaded
                logger.warning("discovering models failed: %s", err)
                wanted = [*self.models, *wanted]
        outcome: dict[str, str] = {}
        for name in dict.fromkeys(wanted):
            current = self.models.get(name)
            try:
                loaded = self.load(name)
            except Exception as err:
                reason = f"{type(err).__name__}: {str(err)[:200]}"
                with self._lock:
                    self.errors[name] = reason
                outcome[name] = f"v{current.version} kept: {reason}" if current else f"unavailable: {reason}"
                logger.warning("loading %s failed: %s", name, reason)
                continue
            with self._lock:
                self.models = {**self.models, name: loaded}
                self.errors.pop(name, None)
            outcome[name] = f"v{loaded.version} loaded"
        return outcome
