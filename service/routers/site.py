"""The flash diagnostic route (advisors)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from models.site_potential.diagnose import UnknownCodeError
from models.site_potential.flash import compose
from service import messages
from service.audit import AuditEntry
from service.deps import AdvisorKey, AuditDep, RegistryDep, SettingsDep
from service.keys import ApiKey
from service.schemas import DiagnosticRequest, parse_body
from service.settings import ServiceSettings
from service.site_context import site_champions

router = APIRouter(prefix="/v1/site-potential", tags=["site_potential"])


class UnknownCode(HTTPException):
    """422 with the closest known codes (reference codes); the reason never repeats the submitted code
    (`str(err)` of `UnknownCodeError` quotes it, so it is not used)."""

    def __init__(self, err: UnknownCodeError) -> None:
        super().__init__(status.HTTP_422_UNPROCESSABLE_CONTENT, messages.UNKNOWN_CODE)
        naf = err.kind == "naf"
        self.details = [
            {
                "field": "naf_code" if naf else "commune_code",
                "reason": messages.UNKNOWN_NAF_CODE if naf else messages.UNKNOWN_COMMUNE_CODE,
                "suggestions": [c for c, _ in err.suggestions],
            }
        ]


DIAGNOSTIC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": DiagnosticRequest.model_json_schema()}},
    }
}
"""The OpenAPI body of the route, which reads its body itself (after the key is checked)."""


@router.post(
    "/diagnostics", summary="Flash diagnostic of an activity in a commune", openapi_extra=DIAGNOSTIC_BODY
)
async def diagnostic(
    request: Request,
    key: AdvisorKey,
    registry: RegistryDep,
    audit: AuditDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Indicators with their references, survival odds at 3 and 5 years, risk level, main reasons, and the
    report's text in French (strengths, risks, points to check, limits)."""
    body = parse_body(await request.body(), DiagnosticRequest)  # read after the key and role were checked
    return await run_in_threadpool(_diagnose, body, request, key, registry, audit, settings)


def _diagnose(
    body: DiagnosticRequest,
    request: Request,
    key: ApiKey,
    registry: Any,
    audit: Any,
    settings: ServiceSettings,
) -> dict[str, Any]:
    start = time.perf_counter()
    context = request.app.state.site
    champions = site_champions(registry, settings.site_model_suffix)
    if context is None or champions is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, messages.MODEL_UNAVAILABLE)
    try:
        report = compose(body.naf_code, body.commune_code, context.store, context.reference, champions.models)
    except UnknownCodeError as err:
        raise UnknownCode(err) from err
    audit.record(
        AuditEntry(
            key.key_id,
            key.chamber,
            request.url.path,
            "site_survival",
            champions.version(),
            1,
            200,
            (time.perf_counter() - start) * 1000,
        )
    )
    return {"model_versions": champions.versions(), **report.to_dict()}
