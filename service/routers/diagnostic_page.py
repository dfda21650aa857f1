"""The advisors' web page (`/diagnostic`), in French: sign in with an API key (exchanged for a session
cookie), choose an activity and a commune with suggestions, read the report, download its PDF.

Its own Content-Security-Policy allows no inline script or style (its CSS and JS are files of the service;
the report's two colour attributes are allowed by their hashes), and its POST forms refuse cross-site
requests: the Origin (else the Referer) must be the page's own host, and a CSRF token (double submit: a
random token in a SameSite=Strict cookie and in a hidden field of the form) must match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Cookie, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from models.site_potential.diagnose import UnknownCodeError
from models.site_potential.flash import FlashReport, compose
from models.site_potential.report import RISK_COLOURS
from service import messages
from service.audit import AuditEntry
from service.keys import ApiKey
from service.security import limit_sign_in, record_refusal, spend
from service.sessions import COOKIE_NAME, Session
from service.site_context import SiteChampions, SiteContext, site_champions
from service.site_search import ActivityIndex, Choice, CommuneIndex

router = APIRouter(prefix="/diagnostic", tags=["diagnostic page"], include_in_schema=False)
PAGE_ROLES = ("advisor", "admin")
SessionCookie = Annotated[str | None, Cookie(alias=COOKIE_NAME)]

WEB = Path(__file__).resolve().parent.parent / "web"
STATIC = {
    "diagnostic.css": ("text/css; charset=utf-8", (WEB / "diagnostic.css").read_bytes()),
    "diagnostic.js": ("text/javascript; charset=utf-8", (WEB / "diagnostic.js").read_bytes()),
}

CSRF_COOKIE = "cma_csrf"
CSRF_FIELD = "csrf"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
CROSS_SITE = (
    "Demande refusée : elle ne vient pas de cette page (ou la page a expiré). Rechargez la page et réessayez."
)


def _style_hash(value: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(value.encode()).digest()).decode() + "'"


# The report colours its risk line with two style attributes, one colour a risk level: those, and only
# those, are allowed (by their hashes), so that the page needs no 'unsafe-inline'.
_REPORT_STYLES = [
    f"{prop}:{colour}" for colour in RISK_COLOURS.values() for prop in ("border-color", "background")
]
PAGE_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-hashes' "
    + " ".join(_style_hash(v) for v in _REPORT_STYLES)
    + "; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _csrf_token(request: Request) -> str:
    """The CSRF token of this browser: its cookie's, else a new one (set by `_page`)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if not _TOKEN.fullmatch(token):
        token = getattr(request.state, "csrf_token", None) or secrets.token_urlsafe(32)
    request.state.csrf_token = token
    return token


def _hidden_token(request: Request) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{_csrf_token(request)}">'


def _netloc(url_or_host: str) -> str:
    return url_or_host.lower().removesuffix(":80").removesuffix(":443")


def _same_site(request: Request, given_token: str) -> bool:
    """A POST of this page's own forms: the Origin, else the Referer, names the request's own host (a
    browser sends at least one of them, `null` from a sandbox or a redirect is refused), and the form's
    token matches the cookie's (compared in constant time; the cookie is SameSite=Strict, so a cross-site
    request has none)."""
    host = _netloc(request.headers.get("host", ""))
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value is None:
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not host or _netloc(parts.netloc) != host:
            return False
        break
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(_TOKEN.fullmatch(cookie)) and hmac.compare_digest(cookie.encode(), given_token.encode())


def _page(request: Request, body: str, signed_in: bool = True, status_code: int = 200) -> HTMLResponse:
    sign_out = (
        '<form method="post" action="/diagnostic/deconnexion">'
        f'{_hidden_token(request)}<button type="submit" id="se-deconnecter">Se déconnecter</button></form>'
        if signed_in
        else ""
    )
    html = f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Diagnostic flash d'implantation · CMA</title>
<link rel="stylesheet" href="/diagnostic/static/diagnostic.css"></head>
<body><header class="bandeau"><h1>Diagnostic flash d'implantation</h1>{sign_out}</header>
<main>{body}</main></body></html>"""
    response = HTMLResponse(
        html,
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Content-Security-Policy": PAGE_POLICY},
    )
    token = _csrf_token(request)
    if request.cookies.get(CSRF_COOKIE) != token:
        _set_cookie(response, request, CSRF_COOKIE, token)
    return response


def _set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    """A cookie of the page: HttpOnly, SameSite=Strict, for `/diagnostic` only, as long as a session."""
    response.set_cookie(
        name,
        value,
        max_age=request.app.state.settings.session_minutes * 60,
        httponly=True,
        secure=_secure(request),
        samesite="strict",
        path="/diagnostic",
    )


def _secure(request: Request) -> bool:
    """The Secure flag of the page's cookies: the setting, else whether the page is served over HTTPS."""
    settings = request.app.state.settings
    return bool(
        settings.cookie_secure if settings.cookie_secure is not None else request.url.scheme == "https"
    )


def _sign_in_page(request: Request, message: str = "", status_code: int = 200) -> HTMLResponse:
    notice = f'<p class="message" role="alert">{escape(message)}</p>' if message else ""
    return _page(
        request,
        f"""<section class="connexion"><h2>Connexion</h2>
<p>Saisissez la clé d'API que votre chambre vous a remise (rôle conseiller).</p>{notice}
<form method="post" action="/diagnostic/connexion"><label for="cle">Clé d'API</label>
<input id="cle" name="cle" type="password" autocomplete="off" required>{_hidden_token(request)}
<p><button type="submit" id="se-connecter">Se connecter</button></p></form></section>""",
        signed_in=False,
        status_code=status_code,
    )


@dataclass(frozen=True)
class _Indexes:
    activities: ActivityIndex
    communes: CommuneIndex


def _context(request: Request) -> tuple[SiteContext, _Indexes]:
    context: SiteContext | None = request.app.state.site
    if context is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, messages.MODEL_UNAVAILABLE)
    indexes: _Indexes | None = getattr(request.app.state, "site_indexes", None)
    if indexes is None:
        indexes = _Indexes(
            ActivityIndex(context.reference),
            CommuneIndex(context.store.territory.communes, context.postal_codes),
        )
        request.app.state.site_indexes = indexes
    return context, indexes


def _session(request: Request, token: str | None) -> Session | None:
    session: Session | None = request.app.state.sessions.get(token)
    return session


def _require(request: Request, token: str | None) -> Session:
    session = _session(request, token)
    if session is None:
        record_refusal(request, status.HTTP_401_UNAUTHORIZED)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, messages.SIGN_IN_REQUIRED)
    spend(request, session.key)
    return session


@router.get("", response_class=HTMLResponse)
def page(
    request: Request,
    token: SessionCookie = None,
    activite: str = Query(default="", max_length=120),
    commune: str = Query(default="", max_length=120),
) -> HTMLResponse:
    """The search form and, once both fields are filled, the report."""
    session = _session(request, token)
    if session is None:
        return _sign_in_page(request)
    spend(request, session.key)
    context, indexes = _context(request)
    form = f"""<form class="recherche" method="get" action="/diagnostic" autocomplete="off">
<div><label for="activite">Activité (code NAF ou mots du libellé)</label>
<input id="activite" name="activite" list="activites" value="{escape(activite)}"
placeholder="ex. coiffure, 96.02A" required><datalist id="activites"></datalist></div>
<div><label for="commune">Commune (nom ou code postal)</label>
<input id="commune" name="commune" list="communes" value="{escape(commune)}" placeholder="ex. Bordeaux, 33000"
required><datalist id="communes"></datalist></div>
<div><button type="submit" id="diagnostiquer">Diagnostiquer</button></div></form>
<script src="/diagnostic/static/diagnostic.js"></script>"""
    if not activite.strip() or not commune.strip():
        intro = (
            "<p class='message'>Choisissez une activité et une commune : le diagnostic s'affiche en "
            "quelques secondes (indicateurs, chances de survie, carte de la concurrence, texte et PDF).</p>"
        )
        return _page(request, form + intro)
    naf, naf_choices = indexes.activities.resolve(activite)
    com, commune_choices = indexes.communes.resolve(commune)
    if naf is None or com is None:
        return _page(
            request,
            form + _choose(activite, commune, naf, naf_choices, com, commune_choices),
            status_code=404,
        )
    start = time.perf_counter()
    champions = _champions(request)
    try:
        report = _report(context, champions, naf, com)
    except UnknownCodeError as err:
        return _page(
            request, form + f'<p class="message" role="alert">{escape(str(err))}</p>', status_code=404
        )
    result = report.diagnostic
    pdf_url = "/diagnostic/rapport.pdf?" + urlencode({"naf": result.naf_code, "commune": result.commune_code})
    html = report.html(pdf_url)
    _audit(request, session.key, "/diagnostic", start, champions)
    return _page(request, form + html)


def _choose(
    activity: str,
    commune: str,
    naf: str | None,
    naf_choices: list[Choice],
    com: str | None,
    commune_choices: list[Choice],
) -> str:
    """A helpful message: what was not understood and the closest choices, as links."""
    parts = ['<div class="message" role="alert">']
    for kind, the_kind, query, code, choices in (
        ("activité", "l'activité", activity, naf, naf_choices),
        ("commune", "la commune", commune, com, commune_choices),
    ):
        if code is not None:
            continue
        if not choices:
            parts.append(
                f"<p>Aucune {kind} ne correspond à « {escape(query)} ». Vérifiez l'orthographe ou "
                "essayez un code.</p>"
            )
            continue
        links = "".join(
            "<li><a href='/diagnostic?"
            + escape(
                urlencode(
                    {
                        "activite": c.display if kind == "activité" else activity,
                        "commune": c.display if kind == "commune" else commune,
                    }
                )
            )
            + f"'>{escape(c.display)}</a></li>"
            for c in choices[:8]
        )
        parts.append(f"<p>Précisez {the_kind} « {escape(query)} » :</p><ul>{links}</ul>")
    parts.append("</div>")
    return "".join(parts)


def _champions(request: Request) -> SiteChampions:
    champions = site_champions(request.app.state.registry, request.app.state.settings.site_model_suffix)
    if champions is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, messages.MODEL_UNAVAILABLE)
    return champions


def _report(context: SiteContext, champions: SiteChampions, naf: str, com: str) -> FlashReport:
    return compose(naf, com, context.store, context.reference, champions.models, context.contours())


def _audit(request: Request, key: ApiKey, route: str, start: float, champions: SiteChampions) -> None:
    request.app.state.audit.record(
        AuditEntry(
            key.key_id,
            key.chamber,
            route,
            "site_survival",
            champions.version(),
            1,
            200,
            (time.perf_counter() - start) * 1000,
        )
    )


@router.get("/rapport.pdf")
def pdf(
    request: Request,
    token: SessionCookie = None,
    naf: str = Query(max_length=20),
    commune: str = Query(max_length=20),
) -> Response:
    """The report as an A4 PDF, for the advisor to hand over (a link followed after the session ended leads
    back to the sign-in page)."""
    if _session(request, token) is None:
        return RedirectResponse("/diagnostic", status_code=status.HTTP_303_SEE_OTHER)
    session = _require(request, token)
    context, _ = _context(request)
    start = time.perf_counter()
    champions = _champions(request)
    try:
        report = _report(context, champions, naf, commune)
    except UnknownCodeError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, messages.UNKNOWN_CODE) from err
    document = report.pdf()
    _audit(request, session.key, "/diagnostic/rapport.pdf", start, champions)
    result = report.diagnostic
    name = f"diagnostic_{result.naf_code.replace('.', '')}_{result.commune_code}.pdf"
    return Response(
        document,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/suggestions/activites")
def activity_suggestions(
    request: Request, token: SessionCookie = None, q: str = Query(default="", max_length=80)
) -> list[dict[str, Any]]:
    """Activities matching what is typed, artisan activities first."""
    _require(request, token)
    _, indexes = _context(request)
    return [
        {"code": c.code, "label": c.label, "artisan": c.artisan, "display": c.display}
        for c in indexes.activities.search(q)
    ]


@router.get("/suggestions/communes")
def commune_suggestions(
    request: Request, token: SessionCookie = None, q: str = Query(default="", max_length=80)
) -> list[dict[str, Any]]:
    """Communes matching a name or a postal code."""
    _require(request, token)
    _, indexes = _context(request)
    return [{"code": c.code, "label": c.label, "display": c.display} for c in indexes.communes.search(q)]


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """The page's stylesheet and script (files, so that its policy allows no inline code)."""
    if name not in STATIC:
        raise HTTPException(status.HTTP_404_NOT_FOUND, messages.NOT_FOUND)
    media_type, content = STATIC[name]
    return Response(content, media_type=media_type, headers={"Cache-Control": "no-cache"})


CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]


@router.post("/connexion")
def sign_in(request: Request, cle: Annotated[str, Form(max_length=200)], csrf: CsrfField = "") -> Response:
    """Exchange an advisor's API key for a session cookie (a cross-site POST is refused: 403; too many
    attempts from one address: 429)."""
    limit_sign_in(request)
    if not _same_site(request, csrf):
        record_refusal(request, status.HTTP_403_FORBIDDEN)
        return _sign_in_page(request, CROSS_SITE, status.HTTP_403_FORBIDDEN)
    key: ApiKey | None = request.app.state.keys.verify(cle.strip())
    if key is None:
        record_refusal(request, status.HTTP_401_UNAUTHORIZED)
        return _sign_in_page(request, "Clé inconnue ou révoquée.", status.HTTP_401_UNAUTHORIZED)
    if key.role not in PAGE_ROLES:
        record_refusal(request, status.HTTP_403_FORBIDDEN, key)
        return _sign_in_page(request, "Cette clé n'a pas le rôle conseiller.", status.HTTP_403_FORBIDDEN)
    token = request.app.state.sessions.open(key)
    response = RedirectResponse("/diagnostic", status_code=status.HTTP_303_SEE_OTHER)
    _set_cookie(response, request, COOKIE_NAME, token)
    # A new CSRF token with the session: a token planted before the sign-in is worth nothing after it.
    _set_cookie(response, request, CSRF_COOKIE, secrets.token_urlsafe(32))
    return response


@router.post("/deconnexion")
def sign_out(request: Request, token: SessionCookie = None, csrf: CsrfField = "") -> Response:
    """End the session (a cross-site POST is refused: 403)."""
    if not _same_site(request, csrf):
        signed_in = _session(request, token) is not None
        notice = f'<p class="message" role="alert">{escape(CROSS_SITE)}</p>'
        return _page(request, notice, signed_in=signed_in, status_code=status.HTTP_403_FORBIDDEN)
    request.app.state.sessions.close(token)
    response = RedirectResponse("/diagnostic", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE_NAME, path="/diagnostic")
    return response
