"""The HTTP surface every answer goes through: one error contract (`{status, message, details}` for every
status, 500 included), a request-body size limit applied before any body is parsed, and the security headers
of every answer. Plain ASGI middlewares: no per-request task or body copy."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import messages

logger = logging.getLogger(__name__)

BODY_TOO_LARGE = (
    "Corps de requête trop volumineux : {limit} Mo au plus (envoyez le fichier en plusieurs requêtes)."
)
UNREADABLE_BODY = "Corps de requête illisible (formulaire ou envoi de fichier mal formé)."
METHOD_NOT_ALLOWED = "Méthode HTTP non permise sur cette route : voir l'en-tête Allow et /docs."
INTERNAL_ERROR = (
    "Erreur interne du service : la requête n'a pas abouti. Réessayez ; si l'erreur persiste, contactez "
    "l'administrateur (l'erreur est consignée côté serveur)."
)
HTTP_ERROR = "La requête n'a pas abouti (code HTTP {status})."

# What the framework itself says (Starlette's router and form parser, FastAPI's body reader), in English:
# replaced by a French message of the same status. The project's own errors carry French messages already.
_FRAMEWORK_DETAILS = {"There was an error parsing the body"}
_FRENCH_BY_STATUS = {
    400: UNREADABLE_BODY,
    404: messages.NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    500: INTERNAL_ERROR,
}


def error_response(
    status: int, message: str, details: list[Any] | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The error contract: `{"status", "message", "details"}` as JSON, with the given headers (Retry-After,
    Allow...)."""
    return JSONResponse(
        {"status": status, "message": message, "details": details or []}, status_code=status, headers=headers
    )


def http_error_message(exc: HTTPException) -> str:
    """The French message of an HTTP error: the project's own as raised, the framework's (English, or the
    parser's own words, e.g. "Missing boundary in multipart.") replaced by one of the same status."""
    detail = str(exc.detail)
    framework = type(exc) is HTTPException or detail in _FRAMEWORK_DETAILS
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = ""
    if framework or detail == phrase:
        return _FRENCH_BY_STATUS.get(exc.status_code, HTTP_ERROR.format(status=exc.status_code))
    return detail


def _declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class BodyTooLarge(HTTPException):
    """Raised by the limited `receive` once a body passes the limit (an HTTP error, so that the framework's
    own body readers let it through and the error handler answers 413)."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


class BodySizeLimit:
    """Refuses a request body larger than `max_bytes` with 413 in the error contract: at once when its
    Content-Length says so (the app is not called, the body never read), else as soon as the bytes received
    pass the limit (a chunked body: reading stops there, the app never holds more than the limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = BODY_TOO_LARGE.format(limit=f"{max_bytes / 1e6:g}".replace(".", ","))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await error_response(413, self.message)(scope, receive, send)
            return
        received = 0
        exceeded = started = replaced = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge(self.message)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge(self.message)
            return message

        async def guarded_send(message: Message) -> None:
            # A reader that turned the 413 into another answer (e.g. a form parser's 400) is overruled.
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                if exceeded and message["status"] != 413:
                    replaced = True
                    await error_response(413, self.message)(scope, receive, send)
                    return
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if started:
                raise
        if exceeded and not started and not replaced:
            await error_response(413, self.message)(scope, receive, send)


def _where(exc: BaseException) -> str:
    """Where an exception was raised (files, lines, functions), without its message: an exception's text
    may quote a submitted value, which the logs never hold."""
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    return " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in reversed(frames))


class UnexpectedErrors:
    """An unexpected exception answers 500 in the error contract, with a generic French message (no
    traceback, no exception text), and is logged here with its type and where it was raised."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as exc:
            logger.error(
                "unexpected %s on %s %s, at %s",
                type(exc).__name__,
                scope.get("method"),
                getattr(scope.get("route"), "path", scope.get("path")),
                _where(exc),
            )
            if started:
                raise
            await error_response(500, INTERNAL_ERROR)(scope, receive, send)


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HSTS = "max-age=31536000"


class SecurityHeaders:
    """The security headers of every answer: a Content-Security-Policy (same-origin resources only, no
    inline script or style, no framing; a route may send a stricter or more precise one of its own),
    X-Frame-Options, nosniff, a same-origin Referrer-Policy (the pages' POST forms are checked by their
    Origin, which a `no-referrer` policy would blank), and Strict-Transport-Security over HTTPS (the
    request's scheme, or `hsts` forced on or off)."""

    def __init__(self, app: ASGIApp, hsts: bool | None = None) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hsts = self.hsts if self.hsts is not None else scope.get("scheme") == "https"

        async def stamped_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, stamped_send)
