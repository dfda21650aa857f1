"""The « Diag Flash » as one composition: the diagnostic, its text and its map, and the documents made of
them (the API's JSON, the advisors' HTML page, the PDF). The CLI, the JSON route and the page all go
through `compose`, so they cannot tell different stories about the same project."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.reference import Reference
from models.site_potential.diagnose import Diagnostic, diagnose
from models.site_potential.geometry import CommuneContours, CompetitionMap, diagnostic_map
from models.site_potential.indicators import SiteStore
from models.site_potential.narrative import Narrative, narrative
from models.site_potential.report import report_html, report_pdf
from models.site_potential.survival import SurvivalModel


@dataclass(frozen=True)
class FlashReport:
    """One project's flash diagnostic, its French text and its competition map (None when no contours were
    given, or when the commune has none)."""

    diagnostic: Diagnostic
    text: Narrative
    map: CompetitionMap | None

    def text_dict(self) -> dict[str, Any]:
        """The text as plain lists of sentences (JSON-ready)."""
        return {
            "summary": self.text.summary,
            "strengths": [s.text for s in self.text.strengths],
            "risks": [s.text for s in self.text.risks],
            "checks": [s.text for s in self.text.checks],
            "limits": self.text.limits,
        }

    def to_dict(self) -> dict[str, Any]:
        """The diagnostic with its text under `text` (the API's document, JSON-ready)."""
        return {**self.diagnostic.to_dict(), "text": self.text_dict()}

    def html(self, pdf_url: str) -> str:
        """The report as an HTML fragment for the advisors' page, linking to its PDF at `pdf_url`."""
        return report_html(self.diagnostic, self.text, self.map, pdf_url)

    def pdf(self) -> bytes:
        """The report as an A4 PDF."""
        return report_pdf(self.diagnostic, self.text, self.map)


def compose(
    naf_code: str,
    commune_code: str,
    store: SiteStore,
    reference: Reference,
    models: Mapping[int, SurvivalModel],
    contours: CommuneContours | None = None,
) -> FlashReport:
    """The flash report of opening activity `naf_code` in commune `commune_code`: `models` are the survival
    models by horizon; the map is drawn when `contours` are given. Unknown codes raise `UnknownCodeError`
    with the closest known ones."""
    result = diagnose(naf_code, commune_code, store, reference, dict(models))
    cmap = (
        diagnostic_map(contours, store, result.naf_code, result.commune_code)
        if contours is not None
        else None
    )
    return FlashReport(diagnostic=result, text=narrative(result), map=cmap)
