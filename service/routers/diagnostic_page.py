"""The advisors' web page (`/diagnostic`), in French: sign in with an API key (exchanged for a session
cookie), choose an activity and a commune with suggestions, read the report, download its PDF."""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Cookie, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from models.site_potential.diagnose import UnknownCodeError
from models.site_potential.flash import FlashReport, compose
from service import messages
from service.audit import AuditEntry
from service.keys import ApiKey
from service.sessions import COOKIE_NAME, Session
from service.site_context import SiteChampions, SiteContext, site_champions
from service.site_search import ActivityIndex, Choice, CommuneIndex

router = APIRouter(prefix="/diagnostic", tags=["diagnostic page"], include_in_schema=False)
PAGE_ROLES = ("advisor", "admin")
SessionCookie = Annotated[str | None, Cookie(alias=COOKIE_NAME)]

WEB = Path(__file__).resolve().parent.parent / "web"
STYLE = (WEB / "diagnostic.css").read_text(encoding="utf-8")
SCRIPT = (WEB / "diagnostic.js").read_text(encoding="utf-8")


def _page(body: str, signed_in: bool = True, status_code: int = 200) -> HTMLResponse:
    sign_out = (
        '<form method="post" action="/diagnostic/deconnexion">'
        '<button type="submit" id="se-deconnecter">Se déconnecter</button></form>'
        if signed_in
        else ""
    )
    html = f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Diagnostic flash d'implantation · CMA</title><style>{STYLE}</style></head>
<body><header class="bandeau"><h1>Diagnostic flash d'implantation</h1>{sign_out}</header>
<main>{body}</main></body></html>"""
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _sign_in_page(message: str = "", status_code: int = 200) -> HTMLResponse:
    notice = f'<p class="message" role="alert">{escape(message)}</p>' if message else ""
    return _page(
        f"""<section class="connexion"><h2>Connexion</h2>
<p>Saisissez la clé d'API que votre chambre vous a remise (rôle conseiller).</p>{notice}
<form method="post" action="/diagnostic/connexion"><label for="cle">Clé d'API</label>
<input id="cle" name="cle" type="password" autocomplete="off" required>
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
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, messages.SIGN_IN_REQUIRED)
    request.app.state.rate_limiter.check(session.key.key_id)
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
        return _sign_in_page()
    request.app.state.rate_limiter.check(session.key.key_id)
    context, indexes = _context(request)
    form = f"""<form class="recherche" method="get" action="/diagnostic" autocomplete="off">
<div><label for="activite">Activité (code NAF ou mots du libellé)</label>
<input id="activite" name="activite" list="activites" value="{escape(activite)}"
placeholder="ex. coiffure, 96.02A" required><datalist id="activites"></datalist></div>
<div><label for="commune">Commune (nom ou code postal)</label>
<input id="commune" name="commune" list="communes" value="{escape(commune)}" placeholder="ex. Bordeaux, 33000"
required><datalist id="communes"></datalist></div>
<div><button type="submit" id="diagnostiquer">Diagnostiquer</button></div></form>
<script>{SCRIPT}</script>"""
    if not activite.strip() or not commune.strip():
        intro = (
            "<p class='message'>Choisissez une activité et une commune : le diagnostic s'affiche en "
            "quelques secondes (indicateurs, chances de survie, carte de la concurrence, texte et PDF).</p>"
        )
        return _page(form + intro)
    naf, naf_choices = indexes.activities.resolve(activite)
    com, commune_choices = indexes.communes.resolve(commune)
    if naf is None or com is None:
        return _page(
            form + _choose(activite, commune, naf, naf_choices, com, commune_choices), status_code=404
        )
    start = time.perf_counter()
    champions = _champions(request)
    try:
        report = _report(context, champions, naf, com)
    except UnknownCodeError as err:
        return _page(form + f'<p class="message" role="alert">{escape(str(err))}</p>', status_code=404)
    result = report.diagnostic
    pdf_url = "/diagnostic/rapport.pdf?" + urlencode({"naf": result.naf_code, "commune": result.commune_code})
    html = report.html(pdf_url)
    _audit(request, session.key, "/diagnostic", start, champions)
    return _page(form + html)


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


@router.post("/connexion")
def sign_in(request: Request, cle: Annotated[str, Form(max_length=200)]) -> Response:
    """Exchange an advisor's API key for a session cookie."""
    key: ApiKey | None = request.app.state.keys.verify(cle.strip())
    if key is None:
        return _sign_in_page("Clé inconnue ou révoquée.", status.HTTP_401_UNAUTHORIZED)
    if key.role not in PAGE_ROLES:
        return _sign_in_page("Cette clé n'a pas le rôle conseiller.", status.HTTP_403_FORBIDDEN)
    token = request.app.state.sessions.open(key)
    settings = request.app.state.settings
    secure = settings.cookie_secure if settings.cookie_secure is not None else request.url.scheme == "https"
    response = RedirectResponse("/diagnostic", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.session_minutes * 60,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/diagnostic",
    )
    return response


@router.post("/deconnexion")
def sign_out(request: Request, token: SessionCookie = None) -> Response:
    """End the session."""
    request.app.state.sessions.close(token)
    response = RedirectResponse("/diagnostic", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE_NAME, path="/diagnostic")
    return response
