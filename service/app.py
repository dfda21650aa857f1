"""The FastAPI application: factory, lifespan (loads the champions once), one error contract."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import mlflow
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import messages
from service.audit import AuditLog
from service.keys import KeyStore
from service.metrics import ServiceMetrics
from service.model_registry import ModelRegistry
from service.routers import admin, diagnostic_page, scoring, site
from service.security import RateLimiter, RateLimitExceeded
from service.sessions import SessionStore
from service.settings import ServiceSettings
from service.site_context import load_site_context

logger = logging.getLogger(__name__)

DESCRIPTION = """API de scoring des Chambres de Métiers et de l'Artisanat.

- **apprenticeship_host** (agents): entreprises les plus susceptibles d'accueillir un apprenti.
- **dropout_risk** (agents): risque de rupture des contrats, actions du Pack Prévention Rupture.
- **site_potential** (conseillers): diagnostic flash d'une activité dans une commune.

Every route but `/health` needs an API key in the `X-API-Key` header (`cma-predict keys create`).
"""


def _error(
    status: int, message: str, details: list[Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"status": status, "message": message, "details": details or []}, status_code=status, headers=headers
    )


class MetricsMiddleware:
    """Counts requests and measures latency per route template (a plain ASGI middleware: no per-request
    task or body copy, unlike `@app.middleware("http")`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics = getattr(scope["app"].state, "metrics", None)
            route = scope.get("route")
            if metrics is not None:
                path = getattr(route, "path", "unmatched")
                metrics.requests.labels(path, str(status_code)).inc()
                metrics.latency.labels(path).observe(time.perf_counter() - start)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service, configured by `settings` (default: from the environment)."""
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mlflow.set_tracking_uri(settings.resolved_tracking_uri())
        mlflow.set_registry_uri(settings.resolved_tracking_uri())
        app.state.settings = settings
        app.state.keys = KeyStore(settings.keys_path())
        app.state.audit = AuditLog(settings.audit_path())
        app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
        app.state.metrics = ServiceMetrics()
        app.state.registry = ModelRegistry(names=settings.models)
        outcome = app.state.registry.reload()
        for name, loaded in app.state.registry.models.items():
            app.state.metrics.version.labels(name).set(float(loaded.version))
        logger.info("models: %s", outcome)
        app.state.site = load_site_context(settings.predict_home)
        app.state.sessions = SessionStore(settings.keys_path(), settings.session_minutes * 60)
        if app.state.site is not None:  # the map's contours (about 1.5 s to read), before the freeze below
            app.state.site.contours()
        # The models and reference tables live as long as the process: keep them out of the garbage
        # collector's full passes, which a 10,000-record request would otherwise trigger several times.
        gc.freeze()
        yield
        gc.unfreeze()
        app.state.audit.close()

    app = FastAPI(
        title="cma-predict",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={
            401: {"description": messages.MISSING_KEY},
            403: {"description": messages.FORBIDDEN},
            429: {"description": messages.RATE_LIMITED},
        },
    )
    app.include_router(admin.router)
    app.include_router(scoring.host_router)
    app.include_router(scoring.dropout_router)
    app.include_router(site.router)
    app.include_router(diagnostic_page.router)

    app.add_middleware(MetricsMiddleware)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "details", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "reason": err.get("msg", "")}
            for err in exc.errors()
        ]
        return _error(422, messages.INVALID_REQUEST, details)

    @app.exception_handler(RateLimitExceeded)
    async def limited(request: Request, exc: RateLimitExceeded) -> JSONResponse:
        return _error(429, messages.RATE_LIMITED, headers={"Retry-After": str(exc.retry_after)})

    return app
