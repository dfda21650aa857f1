"""Health, readiness, models, reload and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import AdminKey, AnyKey, RegistryDep
from service.schemas import ModelInfo

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness (open)")
def health() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/ready", summary="Which models are loaded, which versions, which failed")
def ready(registry: RegistryDep, key: AnyKey) -> dict[str, Any]:
    """Readiness: every served model with its version, and the last load error of each."""
    models = {
        name: (loaded.version if (loaded := registry.get(name)) else None) for name in registry.served()
    }
    return {"ready": all(v is not None for v in models.values()), "models": models, "errors": registry.errors}


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


@router.get("/metrics", summary="Prometheus metrics (admin)")
def metrics(request: Request, key: AdminKey) -> Response:
    """Requests, latency histograms, rows scored and rejected, model versions."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
