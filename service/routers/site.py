"""The flash diagnostic route (advisors)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from models.site_potential.diagnose import UnknownCodeError, diagnose
from models.site_potential.narrative import narrative
from service import messages
from service.audit import AuditEntry
from service.deps import AdvisorKey, AuditDep, RegistryDep
from service.schemas import DiagnosticRequest

router = APIRouter(prefix="/v1/site-potential", tags=["site_potential"])


class UnknownCode(HTTPException):
    """422 with the closest known codes."""

    def __init__(self, err: UnknownCodeError) -> None:
        super().__init__(status.HTTP_422_UNPROCESSABLE_CONTENT, messages.UNKNOWN_CODE)
        field = "naf_code" if err.kind == "naf" else "commune_code"
        self.details = [{"field": field, "reason": str(err), "suggestions": [c for c, _ in err.suggestions]}]


@router.post("/diagnostics", summary="Flash diagnostic of an activity in a commune")
def diagnostic(
    body: DiagnosticRequest, request: Request, key: AdvisorKey, registry: RegistryDep, audit: AuditDep
) -> dict[str, Any]:
    """Indicators with their references, survival odds at 3 and 5 years, risk level, main reasons, and the
    report's text in French (strengths, risks, points to check, limits)."""
    start = time.perf_counter()
    context = request.app.state.site
    models = {h: registry.get(f"site_survival_{h}y") for h in (3, 5)}
    if context is None or any(m is None for m in models.values()):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, messages.MODEL_UNAVAILABLE)
    loaded = {h: m.model for h, m in models.items() if m is not None}
    try:
        result = diagnose(body.naf_code, body.commune_code, context.store, context.reference, loaded)
    except UnknownCodeError as err:
        raise UnknownCode(err) from err
    version = "+".join(m.version for m in models.values() if m is not None)
    audit.record(
        AuditEntry(
            key.key_id,
            key.chamber,
            request.url.path,
            "site_survival",
            version,
            1,
            200,
            (time.perf_counter() - start) * 1000,
        )
    )
    text = narrative(result)
    return {
        "model_versions": {f"site_survival_{h}y": m.version for h, m in models.items() if m},
        **result.to_dict(),
        "text": {
            "summary": text.summary,
            "strengths": [s.text for s in text.strengths],
            "risks": [s.text for s in text.risks],
            "checks": [s.text for s in text.checks],
            "limits": text.limits,
        },
    }
