"""Dependency aliases of the routes (async: attribute look-ups need no worker thread), and the opening of
the stores they depend on."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import Depends, Request

from models.monitoring import DriftThresholds
from service.audit import AuditLog
from service.keys import ApiKey, KeyStore
from service.metrics import ServiceMetrics
from service.model_registry import ModelRegistry
from service.monitoring import Monitor, MonitoringStore
from service.security import RateLimiter, require_role
from service.sessions import SessionStore
from service.settings import ServiceSettings
from service.stores import KEYS, MONITORING, RATE_LIMIT, StoreHealth, migrate, open_engine

STORE_THREADS = 16


async def get_registry(request: Request) -> ModelRegistry:
    """The champions in memory."""
    return request.app.state.registry


async def get_audit(request: Request) -> AuditLog:
    """The audit log."""
    return request.app.state.audit


async def get_settings(request: Request) -> ServiceSettings:
    """The service settings."""
    return request.app.state.settings


async def get_monitor(request: Request) -> Monitor:
    """The monitoring of the scores (predictions, outcomes, drift, shadow challengers)."""
    return request.app.state.monitor


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
MonitorDep = Annotated[Monitor, Depends(get_monitor)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
AgentKey = Annotated[ApiKey, Depends(require_role("agent"))]
AdvisorKey = Annotated[ApiKey, Depends(require_role("advisor"))]
AdminKey = Annotated[ApiKey, Depends(require_role("admin"))]
AnyKey = Annotated[ApiKey, Depends(require_role("any"))]


def open_stores(state: Any, settings: ServiceSettings) -> None:
    """Open the keys, sessions, audit and rate-limit stores on `state` (the app's), with their shared health
    record (`state.stores`, read by /ready; failures counted in `state.metrics`) and the worker-thread pool of
    their blocking calls (`state.store_limiter`: key checks never wait behind a full pool of scoring work).
    Their databases are migrated first (Alembic; once for N workers starting together). Called from the
    lifespan, inside the event loop, before the service answers."""
    metrics: ServiceMetrics = state.metrics
    health = StoreHealth(on_error=lambda store, kind: metrics.store_errors.labels(store, kind).inc())
    state.stores = health
    state.store_limiter = anyio.CapacityLimiter(STORE_THREADS)
    # The audit file is migrated by AuditLog itself each time it opens it (it recovers a deleted file).
    targets = (
        (KEYS, settings.keys_target()),
        (RATE_LIMIT, settings.ratelimit_target()),
        (MONITORING, settings.monitoring_target()),
    )
    for store, target in targets:
        if settings.database_url is None or store == KEYS:  # one PostgreSQL database: migrated once
            migrate(target, store)
    keys = open_engine(settings.keys_target(), settings.store_busy_seconds)  # keys and sessions share it
    state.keys = KeyStore(keys, settings.store_busy_seconds, health, migrated=True)
    state.sessions = SessionStore(
        keys, settings.session_minutes * 60, settings.store_busy_seconds, health, migrated=True
    )
    state.audit = AuditLog(
        settings.audit_target(),
        settings.audit_busy_seconds,
        health,
        on_denied_dropped=metrics.audit_denied_dropped.inc,
        migrated=True,
    )
    state.rate_limiter = RateLimiter(
        settings.ratelimit_target(),
        settings.rate_limit_per_minute,
        settings.store_busy_seconds,
        health,
        migrated=True,
    )
    state.monitor = Monitor(
        MonitoringStore(settings.monitoring_target(), settings.audit_busy_seconds, health, migrated=True),
        DriftThresholds(psi=settings.drift_psi, min_rows=settings.drift_min_rows),
        settings.drift_window,
        settings.drift_cache_seconds,
        metrics,
        settings.shadow_queue,
    )


def close_stores(state: Any) -> None:
    """Close the stores' connections (at shutdown)."""
    state.monitor.close()
    state.audit.close()
    state.keys.engine.dispose()
    state.rate_limiter.engine.dispose()
