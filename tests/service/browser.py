"""Debian's Chromium driven headless by selenium, for the browser tests (installed by `make test`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@contextmanager
def chromium(folder: Path, downloads: bool = False, logs: bool = False) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with its profile in `folder`, no background traffic of its own; `downloads`:
    files saved to `folder / "downloads"` without asking; `logs`: the console and network logs kept."""
    assert CHROMIUM and CHROMEDRIVER, "Debian chromium and chromium-driver are installed by `make test`"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1800",
        f"--user-data-dir={folder / 'profile'}",
    ):
        options.add_argument(flag)
    if downloads:
        options.add_experimental_option(
            "prefs",
            {"download.default_directory": str(folder / "downloads"), "download.prompt_for_download": False},
        )
    if logs:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    if downloads:
        driver.execute_cdp_cmd(
            "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder / "downloads")}
        )
    try:
        yield driver
    finally:
        driver.quit()
