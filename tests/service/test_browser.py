"""End to end, as an advisor would use it: a real headless Chromium (Debian's `chromium` and
`chromium-driver`, installed by `make test`) against the real HTTP server: sign in, search with
suggestions, read the report, download the PDF, then check the PDF's pages as images (`pdftoppm`).

Screenshots are written to `var/test-artifacts/` (git-ignored) for review.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from service.app import create_app
from tests.service.browser import chromium
from tests.service.conftest import Served
from tests.service.real_server import server_in_thread

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


@pytest.fixture()
def base_url(served: Served) -> Iterator[str]:
    with server_in_thread(create_app(served.settings)) as base:
        yield base


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path, downloads=True) as driver:
        yield driver


def _choose(driver: webdriver.Chrome, field: str, typed: str, wanted: str) -> None:
    """Type into a field, wait for the suggestions, take the one containing `wanted`."""
    box = driver.find_element(By.ID, field)
    box.clear()
    box.send_keys(typed)
    options = f"#{'activites' if field == 'activite' else 'communes'} option"

    def suggested(d: webdriver.Chrome) -> str | None:
        # Suggestions for a prefix typed on the way may show first: wait for those of the whole text.
        try:
            values = [o.get_attribute("value") or "" for o in d.find_elements(By.CSS_SELECTOR, options)]
        except StaleElementReferenceException:  # the list was replaced while being read
            return None
        return next((v for v in values if wanted in v), None)

    choice = WebDriverWait(driver, 10).until(suggested)
    box.clear()
    box.send_keys(choice)


def test_advisor_signs_in_searches_reads_and_downloads(
    base_url: str, browser: webdriver.Chrome, served: Served, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, 30)
    browser.get(f"{base_url}/diagnostic")
    browser.find_element(By.ID, "cle").send_keys(served.keys["advisor"])
    browser.find_element(By.ID, "se-connecter").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "activite")))

    _choose(browser, "activite", "coiff", "96.02A")
    _choose(browser, "commune", "33000", "Bordeaux")
    browser.find_element(By.ID, "diagnostiquer").click()
    report = wait.until(expected_conditions.presence_of_element_located((By.ID, "rapport")))
    assert "Coiffure" in report.text and "Bordeaux" in report.text
    assert "Chances de survie" in report.text and "Points à vérifier" in report.text
    assert browser.find_elements(By.CSS_SELECTOR, "svg.carte path"), "the map is drawn"
    browser.save_screenshot(str(ARTIFACTS / "diagnostic_page.png"))

    browser.find_element(By.LINK_TEXT, "Télécharger le PDF").click()
    downloads = tmp_path / "downloads"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(downloads.glob("*.pdf")):
        time.sleep(0.2)
    pdfs = list(downloads.glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].name == "diagnostic_9602A_33063.pdf"

    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdfs[0]), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 3
    for page in pages:
        image = Image.open(page).convert("L")
        assert image.size[0] < image.size[1], "portrait A4"
        assert ImageStat.Stat(image).stddev[0] > 10, f"{page.name} is not blank"
    shutil.copy(pages[0], ARTIFACTS / "diagnostic_pdf_page1.png")
    text = subprocess.run(["pdftotext", str(pdfs[0]), "-"], capture_output=True, text=True, check=True).stdout
    assert "Diagnostic flash" in text and "Bordeaux" in text and "Coiffure" in text


def test_unknown_commune_shows_a_helpful_message(
    base_url: str, browser: webdriver.Chrome, served: Served
) -> None:
    browser.get(f"{base_url}/diagnostic")
    browser.find_element(By.ID, "cle").send_keys(served.keys["advisor"])
    browser.find_element(By.ID, "se-connecter").click()
    WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.ID, "activite")))
    browser.find_element(By.ID, "activite").send_keys("96.02A")
    browser.find_element(By.ID, "commune").send_keys("Qwertyville")
    browser.find_element(By.ID, "diagnostiquer").click()
    alert = WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]"))
    )
    assert "Aucune commune ne correspond" in alert.text
    assert browser.find_elements(By.ID, "activite"), "the search form stays on the page"
