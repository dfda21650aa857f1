"""The flash report: one composition (diagnostic, text, map) behind the JSON document, the HTML and the PDF;
the survival models' registered names, with and without a suffix."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from catalog.reference import load_territory
from models.reference import Reference
from models.site_potential import SURVIVAL_MODELS, survival_model_name, survival_model_names
from models.site_potential.diagnose import UnknownCodeError, diagnose
from models.site_potential.flash import FlashReport, compose
from models.site_potential.geometry import CommuneContours, ContourArrays
from models.site_potential.indicators import SiteStore
from models.site_potential.narrative import narrative

COMMUNES = ("33063", "33318", "33281", "33069")  # Bordeaux and three neighbours


class _FixedModel:
    """A stand-in survival model: one probability, competition as its only reason."""

    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.features = self

    def build(self, rows: pd.DataFrame) -> pd.DataFrame:
        return rows[["competitors_at_creation"]]

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        return np.full(len(rows), self.probability)

    def score(self, rows: pd.DataFrame, explain: bool = False, related: Any = None) -> dict[str, Any]:
        competitors = rows["competitors_at_creation"].iloc[0]
        reason = f"Concurrents dans la commune ({competitors:.0f}) : diminue les chances de survie"
        reasons = [[reason] if explain else [] for _ in range(len(rows))]
        return {"probability": self.predict_proba(rows), "reasons": reasons}


MODELS: dict[int, Any] = {3: _FixedModel(0.71), 5: _FixedModel(0.48)}


@pytest.fixture(scope="module")
def store(reference: Reference) -> SiteStore:
    counts = pd.DataFrame(
        {
            "naf_code": ["96.02A"] * len(COMMUNES),
            "commune_code": list(COMMUNES),
            "active": [120, 20, 25, 10],
            "created_12m": [12, 2, 3, 1],
            "closed_12m": [8, 1, 1, 0],
        }
    )
    survival = pd.DataFrame(
        {
            "naf_code": ["96.02A"],
            "departement_code": ["33"],
            "cohort_3y": [400],
            "survived_3y": [280],
            "cohort_5y": [300],
            "survived_5y": [170],
        }
    )
    return SiteStore(load_territory(reference), counts, survival, date(2025, 1, 1), synthetic=True)


@pytest.fixture(scope="module")
def contours(store: SiteStore) -> CommuneContours:
    """A square of about 2 km around the centre of each commune."""
    communes = store.territory.communes
    features = []
    for code in COMMUNES:
        lon, lat = communes.loc[code, ["longitude", "latitude"]].to_numpy(dtype=float)
        d = 0.01
        ring = [
            [lon - d, lat - d],
            [lon + d, lat - d],
            [lon + d, lat + d],
            [lon - d, lat + d],
            [lon - d, lat - d],
        ]
        features.append(
            {"geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {"code": code}}
        )
    passage = pd.DataFrame(
        {"code_insee": pd.Series([], dtype=str), "code_insee_2026": pd.Series([], dtype=str)}
    )
    return CommuneContours(ContourArrays.from_geojson(features), passage)


@pytest.fixture(scope="module")
def report(store: SiteStore, reference: Reference, contours: CommuneContours) -> FlashReport:
    return compose("9602a", "33063", store, reference, MODELS, contours)


def test_the_report_is_the_diagnostic_its_text_and_its_map(
    report: FlashReport, store: SiteStore, reference: Reference
) -> None:
    assert report.diagnostic == diagnose("96.02A", "33063", store, reference, MODELS)
    assert report.text == narrative(report.diagnostic)
    assert report.map is not None and [a.code for a in report.map.areas if a.is_project] == ["33063"]
    assert [s.probability for s in report.diagnostic.survival] == [0.71, 0.48]


def test_json_document_is_the_diagnostic_with_its_text(report: FlashReport) -> None:
    document = report.to_dict()
    assert {k: v for k, v in document.items() if k != "text"} == report.diagnostic.to_dict()
    assert list(document)[-1] == "text", "the text comes after the diagnostic's fields"
    assert document["text"] == {
        "summary": report.text.summary,
        "strengths": [s.text for s in report.text.strengths],
        "risks": [s.text for s in report.text.risks],
        "checks": [s.text for s in report.text.checks],
        "limits": report.text.limits,
    }


def test_html_and_pdf_say_what_the_json_says(report: FlashReport, tmp_path: Path) -> None:
    text = report.to_dict()["text"]
    html = report.html("/diagnostic/rapport.pdf?naf=96.02A&commune=33063")
    sentences = [text["summary"], *text["strengths"], *text["risks"], *text["checks"], *text["limits"]]
    assert sentences and all(escape(s) in html for s in sentences)
    assert "<path" in html, "the map is drawn"
    document = report.pdf()
    assert document.startswith(b"%PDF")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    path = tmp_path / "rapport.pdf"
    path.write_bytes(document)
    words = " ".join(
        subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout.split()
    )
    assert report.diagnostic.commune_name in words and report.diagnostic.naf_label in words


def test_without_contours_there_is_no_map(store: SiteStore, reference: Reference) -> None:
    report = compose("96.02A", "33063", store, reference, MODELS)
    assert report.map is None and report.text == narrative(report.diagnostic)


def test_unknown_codes_raise_with_close_matches(store: SiteStore, reference: Reference) -> None:
    with pytest.raises(UnknownCodeError, match=r"96\.02A"):
        compose("96.02", "33063", store, reference, MODELS)


def test_survival_model_names_in_one_place() -> None:
    assert SURVIVAL_MODELS == {3: "site_survival_3y", 5: "site_survival_5y"} == survival_model_names()
    assert survival_model_name(5, "_lyon4e") == "site_survival_5y_lyon4e"
    assert survival_model_names("_lyon4e") == {3: "site_survival_3y_lyon4e", 5: "site_survival_5y_lyon4e"}
