"""The advisors' page under attack, through HTTP: security headers on it and on every answer, no inline
script or style, and sign-in / sign-out forms that refuse cross-site requests (foreign Origin or Referer,
missing or wrong CSRF token); in a real Chromium, the page and /docs break none of their own policies."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from service.app import create_app
from service.routers.diagnostic_page import CROSS_SITE, CSRF_COOKIE
from service.sessions import COOKIE_NAME
from tests.service.browser import chromium
from tests.service.conftest import Served
from tests.service.real_server import server_in_thread

PAGE = "/diagnostic"
SIGN_IN = f"{PAGE}/connexion"


def _token(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(PAGE).text)
    assert found is not None
    return found.group(1)


def _policy(response_headers: object) -> dict[str, str]:
    directives = [d.strip() for d in str(response_headers).split(";") if d.strip()]
    return {d.split()[0]: d for d in directives}


def test_every_answer_carries_the_security_headers(client: TestClient, served: Served) -> None:
    answers = {
        "page": client.get(PAGE),
        "json": client.get("/health"),
        "error": client.get("/nowhere"),
        "docs": client.get("/docs"),
        "file": client.get(f"{PAGE}/static/diagnostic.js"),
    }
    for name, answer in answers.items():
        headers = answer.headers
        assert headers["x-frame-options"] == "DENY", name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] in ("no-referrer", "same-origin"), name
        policy = _policy(headers["content-security-policy"])
        assert policy["default-src"] == "default-src 'self'", name
        assert policy["frame-ancestors"] == "frame-ancestors 'none'", name
        assert "unsafe-inline" not in headers["content-security-policy"], name
        assert "strict-transport-security" not in headers, f"{name}: no HSTS over plain HTTP"
    assert answers["page"].headers["cache-control"] == "no-store"
    assert "style-src" in _policy(answers["page"].headers["content-security-policy"])


def test_hsts_over_https_or_when_set(served: Served) -> None:
    with TestClient(create_app(served.settings), base_url="https://testserver") as client:
        hsts = client.get("/health").headers["strict-transport-security"]
        assert int(hsts.split("max-age=")[1].split(";")[0]) >= 180 * 86400
    forced = served.settings.model_copy(update={"hsts": True})
    with TestClient(create_app(forced)) as client:
        assert "strict-transport-security" in client.get("/health").headers


def test_the_page_has_no_inline_script_or_style(client: TestClient, served: Served) -> None:
    sign_in = client.get(PAGE).text
    client.post(SIGN_IN, data={"cle": served.keys["advisor"], "csrf": _token(client)})
    report = client.get(PAGE, params={"activite": "96.02A", "commune": "33063"})
    assert 'id="rapport"' in report.text
    for html in (sign_in, report.text):
        assert "<style" not in html
        scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S)
        assert all(body == "" for body in scripts), "scripts are files"
        assert not re.search(r"\son[a-z]+=", html), "no inline event handler"
    for name, kind in (("diagnostic.css", "text/css"), ("diagnostic.js", "text/javascript")):
        file = client.get(f"{PAGE}/static/{name}")
        assert file.status_code == 200 and file.headers["content-type"].startswith(kind)
    assert client.get(f"{PAGE}/static/nothing.js").status_code == 404


def _no_session(response: httpx.Response) -> bool:
    return COOKIE_NAME not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://attacker.example"},
        {"origin": "null"},
        {"origin": "http://testserver.attacker.example"},
        {"referer": "https://attacker.example/page.html"},
    ],
    ids=["foreign-origin", "null-origin", "lookalike-origin", "foreign-referer"],
)
def test_a_cross_site_sign_in_does_not_sign_the_victim_in(
    client: TestClient, served: Served, headers: dict[str, str]
) -> None:
    """Even with the victim's own token (worst case), a foreign Origin or Referer is refused."""
    token = _token(client)
    answer = client.post(
        SIGN_IN, data={"cle": served.keys["advisor"], "csrf": token}, headers=headers, follow_redirects=False
    )
    assert answer.status_code == 403 and CROSS_SITE.split(":")[0] in answer.text
    assert _no_session(answer) and COOKIE_NAME not in client.cookies
    assert 'id="cle"' in client.get(PAGE).text, "still signed out"
    assert served.keys["advisor"] not in answer.text


def test_a_sign_in_without_the_token_is_refused(client: TestClient, served: Served) -> None:
    same_origin = {"origin": "http://testserver"}
    missing = client.post(SIGN_IN, data={"cle": served.keys["advisor"]}, headers=same_origin)
    assert missing.status_code == 403 and _no_session(missing)
    _token(client)  # the cookie is set, the form's field is forged
    forged = client.post(SIGN_IN, data={"cle": served.keys["advisor"], "csrf": "x" * 43}, headers=same_origin)
    assert forged.status_code == 403 and _no_session(forged)
    client.cookies.delete(CSRF_COOKIE, path=PAGE)
    no_cookie = client.post(
        SIGN_IN, data={"cle": served.keys["advisor"], "csrf": "x" * 43}, headers=same_origin
    )
    assert no_cookie.status_code == 403 and _no_session(no_cookie)
    assert 'id="cle"' in client.get(PAGE).text


def test_a_same_site_sign_in_and_sign_out_work(client: TestClient, served: Served) -> None:
    token = _token(client)
    same_origin = {"origin": "http://testserver", "referer": "http://testserver/diagnostic"}
    signed = client.post(
        SIGN_IN,
        data={"cle": served.keys["advisor"], "csrf": token},
        headers=same_origin,
        follow_redirects=False,
    )
    assert signed.status_code == 303 and COOKIE_NAME in signed.cookies
    assert signed.cookies[CSRF_COOKIE] != token, "a new token with the session"
    client.cookies.set(COOKIE_NAME, signed.cookies[COOKIE_NAME], path=PAGE)
    client.cookies.set(CSRF_COOKIE, signed.cookies[CSRF_COOKIE], path=PAGE)
    assert 'id="activite"' in client.get(PAGE).text
    old = client.post(f"{PAGE}/deconnexion", data={"csrf": token}, follow_redirects=False)
    assert old.status_code == 403, "the token of before the sign-in is worth nothing"
    foreign = client.post(
        f"{PAGE}/deconnexion", data={"csrf": _token(client)}, headers={"origin": "https://attacker.example"}
    )
    assert foreign.status_code == 403 and 'id="activite"' in client.get(PAGE).text, "still signed in"
    out = client.post(f"{PAGE}/deconnexion", data={"csrf": _token(client)}, headers=same_origin)
    assert out.status_code == 200 and 'id="cle"' in out.text


def test_sign_in_attempts_are_limited_per_address(client: TestClient, served: Served) -> None:
    limit = served.settings.sign_in_attempts_per_minute
    token = _token(client)
    for _ in range(limit):
        assert client.post(SIGN_IN, data={"cle": "cma_guess", "csrf": token}).status_code == 401
    refused = client.post(SIGN_IN, data={"cle": served.keys["advisor"], "csrf": token})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["status"] == 429 and _no_session(refused)


# In a real browser: the page's and /docs' own policies block nothing they need.


@pytest.fixture()
def base_url(served: Served) -> Iterator[str]:
    with server_in_thread(create_app(served.settings)) as base:
        yield base


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path, logs=True) as driver:
        yield driver


def _violations(driver: webdriver.Chrome) -> list[str]:
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def _hosts_requested(driver: webdriver.Chrome) -> set[str]:
    hosts = set()
    for entry in driver.get_log("performance"):
        found = re.search(r'"Network\.requestWillBeSent".*?"url":"(https?://[^/"]+)', entry["message"])
        if found:
            hosts.add(found.group(1))
    return hosts


def test_in_a_browser_the_page_and_docs_break_no_policy(
    base_url: str, browser: webdriver.Chrome, served: Served
) -> None:
    wait = WebDriverWait(browser, 30)
    browser.get(f"{base_url}/diagnostic")
    browser.find_element(By.ID, "cle").send_keys(served.keys["advisor"])
    browser.find_element(By.ID, "se-connecter").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "activite")))
    browser.get(f"{base_url}/diagnostic?activite=96.02A&commune=33063")
    risk = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "p.risque span")))
    assert risk.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)", "the risk colour applies"
    header = browser.find_element(By.CSS_SELECTOR, "header.bandeau")
    assert header.value_of_css_property("background-color") == "rgba(30, 58, 138, 1)", (
        "the stylesheet applies"
    )
    assert _violations(browser) == []

    browser.get(f"{base_url}/docs")
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    assert "/v1/dropout-risk/scores" in browser.page_source
    assert _violations(browser) == []
    assert _hosts_requested(browser) == {base_url}, "nothing from another host"

    browser.get(f"{base_url}/diagnostic")
    browser.find_element(By.ID, "se-deconnecter").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "cle")))


def test_the_pages_refusals_are_audited_without_the_key(served: Served) -> None:
    """Before: a wrong key at the sign-in form, a cross-site sign-in, a suggestion asked without a session
    and the page's 429s left no trace in the audit log."""
    settings = served.settings.model_copy(update={"rate_limit_per_minute": 2})
    wrong = "cma_0123456789ab_SecretPartOfAWrongKey000000000"
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        same_origin = {"Origin": "http://testserver"}
        assert (
            client.post(SIGN_IN, data={"cle": wrong, "csrf": _token(client)}, headers=same_origin).status_code
            == 401
        )
        foreign = {"Origin": "https://attacker.example"}
        assert (
            client.post(SIGN_IN, data={"cle": wrong, "csrf": _token(client)}, headers=foreign).status_code
            == 403
        )
        assert client.get(f"{PAGE}/suggestions/activites?q=coif").status_code == 401
        client.post(
            SIGN_IN, data={"cle": served.keys["advisor"], "csrf": _token(client)}, headers=same_origin
        )
        codes = [client.get(f"{PAGE}/suggestions/communes?q=bord").status_code for _ in range(3)]
        assert codes[-1] == 429
    with sqlite3.connect(served.settings.audit_path()) as con:
        rows = con.execute("SELECT key_id, route, status FROM audit WHERE status >= 400").fetchall()
    advisor_id = served.keys["advisor"].split("_")[1]
    assert ("", f"{PAGE}/connexion", 401) in rows
    assert ("", f"{PAGE}/connexion", 403) in rows
    assert ("", f"{PAGE}/suggestions/activites", 401) in rows
    assert (advisor_id, f"{PAGE}/suggestions/communes", 429) in rows
    stored = served.settings.audit_path().read_bytes()
    assert b"SecretPartOfAWrongKey" not in stored and b"0123456789ab" not in stored
