"""The FastAPI application: factory, lifespan (loads the champions once), one error contract."""

from __future__ import annotations

import csv
import gc
import io
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from html import escape
from pathlib import Path
from typing import Any

import fastapi_offline
import mlflow
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import messages
from service.deps import close_stores, open_stores
from service.metrics import ServiceMetrics
from service.middleware import (
    BodySizeLimit,
    SecurityHeaders,
    UnexpectedErrors,
    error_response,
    http_error_message,
)
from service.model_registry import ModelRegistry
from service.routers import admin, diagnostic_page, monitoring_page, outcomes, scoring, site
from service.runtime import share_malloc_arenas, use_system_allocator
from service.schemas import ErrorBody
from service.security import RateLimitExceeded
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
    status: int, message: str, details: list[Any] | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return error_response(status, message, details, headers)


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


def csv_example(record: dict[str, Any]) -> str:
    """A record example as the CSV body its route reads: a header of its own fields, `;`, one line."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(record)
    writer.writerow("" if value is None else value for value in record.values())
    return out.getvalue()


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with the record schema and an example of every served model on the scoring
    routes (derived from each model's contract; rebuilt after a reload)."""
    registry: ModelRegistry | None = getattr(app.state, "registry", None)
    served = {name: registry.get(name) for name in registry.served()} if registry else {}
    key = tuple(sorted((n, m.version) for n, m in served.items() if m is not None))
    cached = getattr(app.state, "openapi_cache", None)
    if cached is not None and cached[0] == key:
        return dict(cached[1])
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    schemas, examples, csv_examples = [], {}, {}
    for name, loaded in served.items():
        if loaded is None:
            continue
        request_schema = loaded.schemas.request()
        title = request_schema.__name__
        components[title] = request_schema.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        components.update(components[title].pop("$defs", {}))
        response = loaded.schemas.response.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        components.update(response.pop("$defs", {}))
        components[loaded.schemas.response.__name__] = response
        schemas.append({"$ref": f"#/components/schemas/{title}"})
        examples[name] = {"summary": name, "value": request_schema.example}
        csv_examples[name] = {"summary": name, "value": csv_example(request_schema.example["records"][0])}
    for post in (p.get("post", {}) for p in document.get("paths", {}).values()):
        # The static placeholder of the routes that read their body themselves: each route gets its
        # models' own examples below, or none.
        post.get("requestBody", {}).get("content", {}).get("text/csv", {}).pop("example", None)
    path = document.get("paths", {}).get("/v1/models/{name}/scores", {}).get("post")
    if path is not None and schemas:
        body = path["requestBody"]["content"]["application/json"]
        body["schema"] = {"oneOf": schemas}
        body["examples"] = examples
        path["requestBody"]["content"]["text/csv"]["examples"] = csv_examples
    for named in scoring.NAMED_ROUTES:
        loaded = served.get(named.model)
        route = document.get("paths", {}).get(f"{named.prefix}/scores", {}).get("post")
        if loaded is None or route is None:
            continue
        request_schema = loaded.schemas.request(named.records_field)
        schema = request_schema.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[request_schema.__name__] = schema
        route["requestBody"]["content"]["application/json"]["schema"] = {
            "$ref": f"#/components/schemas/{request_schema.__name__}"
        }
        route["requestBody"]["content"]["text/csv"]["example"] = csv_example(
            request_schema.example[named.records_field][0]
        )
    app.state.openapi_cache = (key, document)
    return document


DOCS_PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} · documentation</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"><link rel="icon" href="/docs/static/favicon.png">
</head><body><div id="swagger-ui" data-openapi="/openapi.json"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script><script src="/docs/static/swagger-init.js"></script>
</body></html>"""
SWAGGER_UI = Path(fastapi_offline.__file__).resolve().parent / "static"
DOCS_FILES = {
    "swagger-ui.css": (SWAGGER_UI / "swagger-ui.css", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": (SWAGGER_UI / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "favicon.png": (SWAGGER_UI / "favicon.png", "image/png"),
    "swagger-init.js": (diagnostic_page.WEB / "swagger-init.js", "text/javascript; charset=utf-8"),
}


def _offline_docs(app: FastAPI) -> None:
    """`/docs` from the service's own copy of Swagger UI (the `fastapi-offline` package ships it): an
    advisor's browser makes no request to a public CDN, and the page needs no inline script."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE.format(title=escape(app.title)))

    @app.get("/docs/static/{name}", include_in_schema=False)
    async def docs_file(name: str) -> FileResponse:
        if name not in DOCS_FILES:
            raise HTTPException(404, messages.NOT_FOUND)
        path, media_type = DOCS_FILES[name]
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service, configured by `settings` (default: from the environment)."""
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        share_malloc_arenas()  # before the worker threads exist: see service.runtime
        use_system_allocator()
        mlflow.set_tracking_uri(settings.resolved_tracking_uri())
        mlflow.set_registry_uri(settings.resolved_tracking_uri())
        app.state.settings = settings
        app.state.metrics = ServiceMetrics()
        open_stores(app.state, settings)
        app.state.registry = ModelRegistry(
            names=settings.models, alias=settings.model_alias, discover=settings.discover_models
        )
        outcome = app.state.registry.reload()
        for name, loaded in app.state.registry.models.items():
            app.state.metrics.version.labels(name).set(float(loaded.version))
        logger.info("models: %s", outcome)
        app.state.site = load_site_context(settings.predict_home)
        if app.state.site is not None:  # the map's contours (about 1.5 s to read), before the freeze below
            app.state.site.contours()
        # The models and reference tables live as long as the process: keep them out of the garbage
        # collector's full passes, which a 10,000-record request would otherwise trigger several times.
        gc.freeze()
        yield
        gc.unfreeze()
        close_stores(app.state)

    app = FastAPI(
        title="cma-predict",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the service's own files below: no public CDN
        redoc_url=None,  # ReDoc needs inline styles and a web font service: not served
        # Every route may answer these, always in the error contract (`ErrorBody`).
        responses={
            status: {"model": ErrorBody, "description": description}
            for status, description in (
                (400, "Corps de requête illisible"),
                (401, messages.MISSING_KEY),
                (403, messages.FORBIDDEN),
                (404, messages.NOT_FOUND),
                (413, "Corps de requête trop volumineux"),
                (422, messages.INVALID_REQUEST),
                (429, messages.RATE_LIMITED),
                (503, "Service momentanément indisponible (un modèle ou un stockage) : voir Retry-After"),
            )
        },
    )
    app.include_router(admin.router)
    app.include_router(scoring.router)
    for named in scoring.NAMED_ROUTES:
        app.include_router(scoring.named_router(named))
    app.include_router(outcomes.router)
    app.include_router(monitoring_page.router)
    app.include_router(site.router)
    app.include_router(diagnostic_page.router)
    _offline_docs(app)

    # Innermost first: the body limit sits next to the routes, the security headers stamp every answer.
    app.add_middleware(BodySizeLimit, max_bytes=int(settings.max_body_mb * 1_000_000))
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(SecurityHeaders, hsts=settings.hsts)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own errors too (unknown path, method, unreadable form), their headers kept (Allow,
        # Retry-After).
        return _error(exc.status_code, http_error_message(exc), getattr(exc, "details", None), exc.headers)

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
