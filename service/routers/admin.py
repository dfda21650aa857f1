"""Health, readiness, models, reload and metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from service.deps import AdminKey, AnyKey, RegistryDep
from service.model_registry import ModelRegistry
from service.monitoring import Monitor
from service.schemas import ModelInfo
from service.stores import StoreHealth

router = APIRouter(tags=["operations"])
logger = logging.getLogger(__name__)

NOT_READY = "Service pas prêt : un modèle ou un magasin de données est en défaut (voir le détail)."
MODEL_LOAD_FAILED = "Le dernier chargement du champion a échoué (détail réservé aux clés d'administration)."
MODEL_NOT_LOADED = "Aucune version de ce modèle n'est chargée."


@router.get("/health", summary="Liveness (open)")
def health() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


class Readiness(BaseModel):
    """Which models serve which version, the last load error of each, and the state of every store."""

    ready: bool
    models: dict[str, str | None]
    errors: dict[str, str] = Field(
        description="Last load error per model: the raw error for admin keys, a short reason for others"
    )
    stores: dict[str, dict[str, Any]] = Field(
        description="Per store (keys, sessions, audit, rate_limit, monitoring): status ok or failing, the "
        "reason, and incidents the store recovered from (an audit file deleted while serving)"
    )
    degraded: bool = Field(
        default=False,
        description="True when a served model's live inputs or scores have drifted from its "
        "reference (the service still answers: `alerts` says why)",
    )
    alerts: dict[str, list[str]] = Field(
        default_factory=dict, description="Per model, the drift alerts of its serving version, in French"
    )
    monitoring: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per model: the live records its drift was judged on, a note when it was not judged, "
        "and the challenger shadow-scored beside it",
    )


class NotReady(Readiness):
    """Not ready (503): the readiness document and the error contract, one detail per failing model or
    store."""

    status: int
    message: str
    details: list[dict[str, Any]]


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Which models are loaded, which versions, which failed; which stores fail",
    responses={
        503: {
            "model": NotReady,
            "description": "Not ready: a served model has no version loaded or its last champion failed to "
            "load (an older version may still serve), or a store (keys, sessions, audit, rate_limit) fails",
        }
    },
)
def ready(request: Request, registry: RegistryDep, key: AnyKey) -> Any:
    """Readiness: every served model with its version, the last load error of each, every store's state;
    503 when a model or a store fails (raw errors shown to admin keys only)."""
    admin = key.role == "admin"
    stores: StoreHealth | None = getattr(request.app.state, "stores", None)
    if stores is not None:
        stores.probe_failing()
    report = stores.report(admin) if stores is not None else {}
    models = {
        name: (loaded.version if (loaded := registry.get(name)) else None) for name in registry.served()
    }
    raw = dict(registry.errors)
    errors = raw if admin else {name: MODEL_LOAD_FAILED for name in raw}
    alerts, monitoring = _monitoring(request.app.state, registry, admin)
    body: dict[str, Any] = {
        "models": models,
        "errors": errors,
        "stores": report,
        "degraded": bool(alerts),
        "alerts": alerts,
        "monitoring": monitoring,
    }
    details: list[dict[str, Any]] = [
        {"model": name, "version": version, "reason": errors.get(name, MODEL_NOT_LOADED)}
        for name, version in models.items()
        if version is None or name in errors
    ]
    details += [
        {"store": name, "reason": state["reason"]} for name, state in report.items() if "reason" in state
    ]
    if not details:
        return {"ready": True, **body}
    return JSONResponse(
        {"status": 503, "message": NOT_READY, "details": details, "ready": False, **body}, status_code=503
    )


def _monitoring(
    state: Any, registry: ModelRegistry, admin: bool
) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """The drift alerts of every served model and its monitoring state (blocking: reads the store). A
    monitoring store that cannot be read is a failing store on /ready, not a drift."""
    monitor: Monitor | None = getattr(state, "monitor", None)
    alerts: dict[str, list[str]] = {}
    out: dict[str, dict[str, Any]] = {}
    if monitor is None:
        return alerts, out
    for name in registry.served():
        loaded = registry.get(name)
        if loaded is None:
            continue
        entry: dict[str, Any] = {"version": loaded.version}
        try:
            drift = monitor.drift(loaded)
        except Exception as err:  # the store failed (recorded in its health, shown under `stores`)
            logger.warning("drift of %s not computed: %s", name, type(err).__name__)
            drift = None
            entry["note"] = "dérive non calculée : registre de suivi indisponible"
        if drift is None and "note" not in entry:
            entry["note"] = (
                "dérive non suivie : cette version n'a pas de profil de référence (réentraînez-la)"
            )
        elif drift is not None:
            entry["live_records"] = drift.rows
            if drift.note:
                entry["note"] = drift.note
            if drift.alerts:
                alerts[name] = drift.alerts
        challenger = registry.challenger(name)
        if challenger is not None:
            entry["challenger"] = challenger.version
        elif admin and name in registry.challenger_errors:
            entry["challenger_error"] = registry.challenger_errors[name]
        out[name] = entry
    return alerts, out


@router.get("/v1/models", response_model=list[ModelInfo], summary="Served models: versions, metrics, cards")
def list_models(registry: RegistryDep, key: AnyKey) -> list[ModelInfo]:
    """Every model the service serves, with its test metrics and model card."""
    out = []
    for name in registry.served():
        loaded = registry.get(name)
        out.append(
            ModelInfo(
                name=name,
                version=loaded.version if loaded else None,
                loaded_at=loaded.loaded_at if loaded else None,
                metrics=loaded.metrics if loaded else {},
                model_card=loaded.card if loaded else "",
                error=registry.errors.get(name),
            )
        )
    return out


@router.post("/v1/admin/models/reload", summary="Load the current champions without a restart")
def reload_models(request: Request, registry: RegistryDep, key: AdminKey) -> dict[str, Any]:
    """Swap in every new champion; a champion that fails to load leaves the last good version serving."""
    outcome = registry.reload()
    for name, loaded in registry.models.items():
        request.app.state.metrics.version.labels(name).set(float(loaded.version))
    return {"models": outcome}


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin)",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format (text/plain; version=0.0.4), not JSON",
        }
    },
)
def metrics(request: Request, key: AdminKey) -> Response:
    """Requests, latency histograms, rows scored and rejected, model versions, store failures, cancelled
    requests, drift per model and feature (recomputed when older than the drift cache), shadow scores."""
    registry: ModelRegistry = request.app.state.registry
    _monitoring(request.app.state, registry, admin=True)
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
