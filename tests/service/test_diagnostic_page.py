"""The advisors' page: sign-in, search, report, PDF, helpful messages; and the report's text, map and PDF
checked against the diagnostic's own figures."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from html import escape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from catalog.contours import load_commune_contours
from catalog.site import ACTIVITY_COMMUNE, ACTIVITY_SURVIVAL, STORE_META, site_dir
from models.site_potential import SURVIVAL_MODELS, survival_model_name
from models.site_potential.diagnose import Diagnostic, diagnose
from models.site_potential.geometry import diagnostic_map
from models.site_potential.narrative import Claim, narrative
from models.site_potential.report import report_pdf
from service.app import create_app
from service.sessions import COOKIE_NAME
from service.settings import ServiceSettings
from service.site_context import load_site_context
from tests.service.conftest import Served

PAGE = "/diagnostic"


def _csrf(client: TestClient) -> str:
    """The CSRF token of the page's forms (its cookie is kept by the client)."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(PAGE).text)
    assert found is not None
    return found.group(1)


def _sign_in(client: TestClient, key: str) -> None:
    response = client.post(
        f"{PAGE}/connexion", data={"cle": key, "csrf": _csrf(client)}, follow_redirects=False
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/diagnostic" in cookie
    client.cookies.set(COOKIE_NAME, response.cookies[COOKIE_NAME], path=PAGE)


def test_nobody_reads_a_diagnostic_without_signing_in(client: TestClient) -> None:
    page = client.get(PAGE, params={"activite": "96.02A", "commune": "33063"})
    assert page.status_code == 200 and 'id="cle"' in page.text and 'id="rapport"' not in page.text
    pdf = client.get(
        f"{PAGE}/rapport.pdf", params={"naf": "96.02A", "commune": "33063"}, follow_redirects=False
    )
    assert pdf.status_code == 303 and pdf.headers["location"] == PAGE, "back to the sign-in page"
    assert client.get(f"{PAGE}/suggestions/communes", params={"q": "Bord"}).status_code == 401
    client.cookies.set(COOKIE_NAME, "forged-token", path=PAGE)
    assert 'id="cle"' in client.get(PAGE).text


def test_sign_in_refuses_unknown_keys_and_wrong_roles(client: TestClient, served: Served) -> None:
    unknown = client.post(f"{PAGE}/connexion", data={"cle": "cma_not_a_key", "csrf": _csrf(client)})
    assert unknown.status_code == 401 and "Clé inconnue" in unknown.text
    agent = client.post(f"{PAGE}/connexion", data={"cle": served.keys["agent"], "csrf": _csrf(client)})
    assert agent.status_code == 403 and "rôle conseiller" in agent.text
    assert served.keys["agent"] not in agent.text, "the submitted key is never echoed"


def test_advisor_searches_and_reads_the_report(client: TestClient, served: Served) -> None:
    _sign_in(client, served.keys["advisor"])
    activities = client.get(f"{PAGE}/suggestions/activites", params={"q": "coiff"}).json()
    assert activities[0]["code"] == "96.02A" and activities[0]["artisan"]
    by_postal_code = client.get(f"{PAGE}/suggestions/communes", params={"q": "33000"}).json()
    assert "33063" in [c["code"] for c in by_postal_code]
    by_name = client.get(f"{PAGE}/suggestions/communes", params={"q": "bordeaux"}).json()
    assert by_name[0]["code"] == "33063"

    page = client.get(PAGE, params={"activite": activities[0]["display"], "commune": "Bordeaux"})
    assert page.status_code == 200
    html = page.text
    for expected in (
        "Risque",
        "Chances de survie",
        "Concurrence autour de la commune",
        "Atouts",
        "Risques",
        "Points à vérifier",
        "Indicateurs",
        "Sources et limites",
        "SIMULÉS",
    ):
        assert expected in html, expected
    assert html.count("<path") > 10, "the map draws the commune and its neighbours"
    assert 'stroke="#111827" stroke-width="2.5"' in html, "the project's commune is outlined"
    pdf_link = re.search(r'href="(/diagnostic/rapport\.pdf\?[^"]+)"', html)
    assert pdf_link is not None
    pdf = client.get(pdf_link.group(1).replace("&amp;", "&"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]

    client.post(f"{PAGE}/deconnexion", data={"csrf": _csrf(client)})
    assert 'id="cle"' in client.get(PAGE).text


def test_revoking_the_key_ends_its_sessions(client: TestClient, served: Served) -> None:
    from service.keys import KeyStore

    store = KeyStore(served.settings.keys_path())
    key, record = store.create("advisor", "CMA revoked advisor")
    _sign_in(client, key)
    assert 'id="activite"' in client.get(PAGE).text
    store.revoke(record.key_id)
    assert 'id="cle"' in client.get(PAGE).text, "signed out as soon as the key is revoked"


def test_unknown_activity_or_commune_gets_a_helpful_message(client: TestClient, served: Served) -> None:
    _sign_in(client, served.keys["advisor"])
    page = client.get(PAGE, params={"activite": "boulangerie", "commune": "Lyo"})
    assert page.status_code == 404 and 'role="alert"' in page.text
    assert "10.71C · Boulangerie" in page.text, "close activities are offered as links"
    nothing = client.get(PAGE, params={"activite": "zzzz", "commune": "Qwertyville"})
    assert "Aucune activité ne correspond" in nothing.text and "Aucune commune ne correspond" in nothing.text
    assert "Traceback" not in nothing.text


@pytest.fixture(scope="module")
def diagnostics(trained_home: Path) -> list[tuple[Diagnostic, object]]:
    from pipelines.site import load_survival_champions
    from pipelines.tracking import configure_tracking

    context = load_site_context(trained_home)
    assert context is not None
    import os

    os.environ["CMA_PREDICT_HOME"] = str(trained_home)
    try:
        configure_tracking()
        models = load_survival_champions()
    finally:
        os.environ.pop("CMA_PREDICT_HOME", None)
    contours = load_commune_contours()
    out = []
    for naf, commune in [
        ("96.02A", "33063"),
        ("10.71C", "69384"),
        ("43.22A", "2A004"),
        ("45.20A", "97411"),
        ("96.02A", "01001"),
        ("43.21A", "59350"),
        ("10.71C", "13201"),
        ("96.02B", "75056"),
    ]:
        try:
            result = diagnose(naf, commune, context.store, context.reference, models)
        except ValueError:
            continue
        out.append((result, diagnostic_map(contours, context.store, result.naf_code, result.commune_code)))
    assert len(out) >= 6
    return out


def _holds(claim: Claim) -> bool:
    return claim.subject > claim.versus if claim.direction == "above" else claim.subject < claim.versus


def test_text_never_contradicts_the_figures(diagnostics: list[tuple[Diagnostic, object]]) -> None:
    claims = 0
    for result, _ in diagnostics:
        text = narrative(result)
        for sentence in text.strengths + text.risks:
            assert sentence.claim is not None and _holds(sentence.claim), sentence.text
            claims += 1
        assert result.risk_summary in text.summary
        assert any("SIMUL" in limit for limit in text.limits), "synthetic data is labelled as such"
    assert claims > 0


def test_map_outlines_the_commune_and_shades_neighbours(diagnostics: list[tuple[Diagnostic, object]]) -> None:
    for result, cmap in diagnostics:
        if cmap is None:
            continue
        project = [a for a in cmap.areas if a.is_project]  # type: ignore[attr-defined]
        assert len(project) == 1, result.commune_code
        assert len(cmap.areas) > 3  # type: ignore[attr-defined]
        assert list(cmap.breaks) == sorted(set(cmap.breaks))  # type: ignore[attr-defined]


def test_pdf_is_a4_with_embedded_fonts(diagnostics: list[tuple[Diagnostic, object]], tmp_path: Path) -> None:
    result, cmap = diagnostics[0]
    path = tmp_path / "rapport.pdf"
    path.write_bytes(report_pdf(result, narrative(result), cmap))  # type: ignore[arg-type]
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    assert rows and all(row[-5] == "yes" for row in rows), f"every font embedded: {fonts}"
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert "595.44 x 841.68 pts" in info and re.search(r"Pages:\s+3", info)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")], check=True)
    assert len(list(tmp_path.glob("page-*.png"))) == 3


def test_json_page_and_pdf_tell_the_same_story(client: TestClient, served: Served, tmp_path: Path) -> None:
    """The three faces of a diagnostic come from one composition: same figures, same sentences."""
    project = {"naf_code": "96.02A", "commune_code": "33063"}
    body = client.post(
        "/v1/site-potential/diagnostics", json=project, headers={"X-API-Key": served.keys["advisor"]}
    ).json()
    _sign_in(client, served.keys["advisor"])
    html = client.get(PAGE, params={"activite": "96.02A", "commune": "33063"}).text
    text = body["text"]
    sentences = [text["summary"], *text["strengths"], *text["risks"], *text["checks"], *text["limits"]]
    missing = [s for s in sentences if escape(s) not in html]
    assert sentences and missing == [], "every sentence of the JSON text is on the page"
    assert body["commune_name"] in html and body["risk_summary"] in text["summary"]
    pdf = client.get(f"{PAGE}/rapport.pdf", params={"naf": "96.02A", "commune": "33063"})
    path = tmp_path / "rapport.pdf"
    path.write_bytes(pdf.content)
    pdf_text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout

    def bare(words: str) -> str:  # lines are wrapped at spaces and hyphens, which pdftotext drops
        return "".join(words.split()).replace("-", "")

    assert bare(text["summary"]) in bare(pdf_text), "the PDF carries the same summary"


def test_bordeaux_hairdressers_are_bpe_2013s(client: TestClient, served: Served) -> None:
    """The default diagnostic of hairdressing in Bordeaux: BPE 2013's count and density, every neighbour
    within 20 km shaded from BPE, and the source named on the page and in the PDF."""
    context = load_site_context(served.home)
    assert context is not None
    population_2015 = float(context.store.territory.communes.loc["33063", "population_2015"])
    body = client.post(
        "/v1/site-potential/diagnostics",
        json={"naf_code": "96.02A", "commune_code": "33063"},
        headers={"X-API-Key": served.keys["advisor"]},
    ).json()
    rows = {i["key"]: i for i in body["indicators"]}
    assert rows["competitors"]["value"] == 388, "BPE 2013 counts 388 hairdressing salons in Bordeaux"
    assert rows["competitors"]["source"] == "INSEE, BPE 2013"
    assert rows["competitors_per_10k"]["value"] == pytest.approx(388 / population_2015 * 10_000, abs=1e-3)
    assert rows["competitors_per_10k_20km"]["source"] == "INSEE, BPE 2013"
    assert "2009" in rows["competitors_change"]["source"]
    assert any(s.startswith("INSEE, BPE 2013 :") for s in body["sources"])
    cmap = diagnostic_map(load_commune_contours(), context.store, "96.02A", "33063")
    assert cmap is not None and len(cmap.areas) > 20
    assert all(area.density is not None for area in cmap.areas), "every neighbour is shaded from BPE"
    assert "BPE 2013" in cmap.legend_title
    _sign_in(client, served.keys["advisor"])
    html = client.get(PAGE, params={"activite": "96.02A", "commune": "33063"}).text
    assert html.count("Source : INSEE, BPE 2013") >= 3 and "commune médiane" in html
    checks = " ".join(body["text"]["checks"])
    assert "Aucun établissement" not in checks, "Bordeaux has salons: no conclusion drawn from a zero"


def _suffixed_home(served: Served, home: Path, suffix: str, copies: int) -> Path:
    """A copy of the trained project (site store and registry; the artifacts stay where they are) whose
    registry also holds the survival models under `suffix`, `copies` versions each with the last one
    champion, as `train-site --set model_suffix=...` would leave it. A copy: the other tests' registry, whose
    models the service discovers, stays as it is."""
    store = site_dir(home)
    store.mkdir(parents=True)
    for name in (STORE_META, ACTIVITY_COMMUNE, ACTIVITY_SURVIVAL):
        shutil.copy(site_dir(served.home) / name, store / name)
    shutil.copy(served.home / "mlflow.db", home / "mlflow.db")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for horizon, name in SURVIVAL_MODELS.items():
        target = survival_model_name(horizon, suffix)
        for _ in range(copies):
            version = client.copy_model_version(f"models:/{name}@champion", target)
        client.set_registered_model_alias(target, "champion", version.version)
    return home


def _settings(served: Served, home: Path, suffix: str) -> ServiceSettings:
    return ServiceSettings(
        predict_home=home,
        keys_db=served.settings.keys_path(),
        audit_db=served.settings.audit_path(),
        rate_limit_per_minute=10_000,
        site_model_suffix=suffix,
    )


def test_a_suffix_routes_the_diagnostic_to_the_suffixed_models(served: Served, tmp_path: Path) -> None:
    home = _suffixed_home(served, tmp_path / "home", "_lyon4e", copies=2)
    headers = {"X-API-Key": served.keys["advisor"]}
    with TestClient(create_app(_settings(served, home, "_lyon4e"))) as client:
        ready = client.get("/ready", headers=headers).json()
        assert ready["models"]["site_survival_3y_lyon4e"] == "2" == ready["models"]["site_survival_5y_lyon4e"]
        body = client.post(
            "/v1/site-potential/diagnostics",
            json={"naf_code": "96.02A", "commune_code": "69384"},
            headers=headers,
        ).json()
        assert body["model_versions"] == {"site_survival_3y_lyon4e": "2", "site_survival_5y_lyon4e": "2"}
        _sign_in(client, served.keys["advisor"])
        page = client.get(PAGE, params={"activite": "96.02A", "commune": "69384"})
        assert page.status_code == 200 and 'id="rapport"' in page.text
        pdf = client.get(f"{PAGE}/rapport.pdf", params={"naf": "96.02A", "commune": "69384"})
        assert pdf.status_code == 200
    rows = sqlite3.connect(served.settings.audit_path()).execute("SELECT * FROM audit").fetchall()
    versions = {(r[3], r[5]) for r in rows}
    for route in ("/v1/site-potential/diagnostics", "/diagnostic", "/diagnostic/rapport.pdf"):
        assert (route, "2+2") in versions, route


def test_a_suffix_without_its_models_is_unavailable(served: Served) -> None:
    """No silent fall-back to the plain models when the suffixed ones are not registered."""
    headers = {"X-API-Key": served.keys["advisor"]}
    with TestClient(create_app(_settings(served, served.home, "_absent"))) as client:
        answer = client.post(
            "/v1/site-potential/diagnostics",
            json={"naf_code": "96.02A", "commune_code": "69384"},
            headers=headers,
        )
        assert answer.status_code == 503
        _sign_in(client, served.keys["advisor"])
        assert client.get(PAGE, params={"activite": "96.02A", "commune": "69384"}).status_code == 503


def test_an_explicit_list_of_models_takes_the_suffixed_site_models() -> None:
    settings = ServiceSettings(
        discover_models=False,
        models=("dropout_risk", "site_survival_3y", "site_survival_5y"),
        site_model_suffix="_lyon4e",
    )
    assert settings.models == ("dropout_risk", "site_survival_3y_lyon4e", "site_survival_5y_lyon4e")
    with pytest.raises(ValueError, match="site_model_suffix"):
        ServiceSettings(site_model_suffix="_lyon 4e")
