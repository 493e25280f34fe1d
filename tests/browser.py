"""A real browser for the page tests: Debian's chromium driven through its chromedriver (selenium).

`make test` installs chromium and chromium-driver when they are missing (Makefile: browser) and
sets SAGESTACK_REQUIRE_BROWSER, so there a missing browser fails the page tests instead of
skipping them. SAGESTACK_CHROMIUM / SAGESTACK_CHROMEDRIVER name other binaries (a CI image's
Chrome). Screenshots go to test-artifacts/ (SAGESTACK_TEST_ARTIFACTS), which CI keeps.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import wait_until

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SAGESTACK_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SAGESTACK_CHROMEDRIVER", "/usr/bin/chromedriver")
# What the browser must not do on a machine with no network: every background service is off.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--window-size=1400,1000")


def artifacts() -> Path:
    folder = Path(os.environ.get("SAGESTACK_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def available() -> str | None:
    """None when the browser can run, else why not."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        return f"no browser for the page tests ({', '.join(missing)} missing: `make browser` installs them)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the session (a new page per `get`), with its console log kept."""
    problem = available()
    if problem:
        if os.environ.get("SAGESTACK_REQUIRE_BROWSER"):
            pytest.fail(problem)
        pytest.skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sagestack-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: Any, name: str) -> Path:
    """A screenshot of the whole page (the window grown to the page's height) under test-artifacts/."""
    driver.set_window_size(1400, 1000)  # the page's own height, not the window a longer page left behind
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1400, min(max(height, 800), 12000))
    path = artifacts() / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def click(driver: Any, css: str, timeout: float = 15) -> None:
    """Click the element `css` finds, as a person would. A page that refreshes its sections in place (the
    console) may swap the element between finding and clicking it; then it is found again and clicked."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    def attempt() -> bool:
        try:
            driver.find_element("css selector", css).click()
        except (StaleElementReferenceException, NoSuchElementException):
            return False
        return True

    assert wait_until(attempt, timeout), f"nothing to click at {css!r}"


def severe_console_messages(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
