"""Debian's Chromium driven by Selenium through Debian's chromedriver, headless.

`make test` installs both when missing (tests/browser/install_chromium.sh). Here a missing
browser fails the test in CI (env `CI` set) and is one skip line with the reason elsewhere:
never a silent pass. Selenium gets both paths, so it never tries to download a driver.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

BROWSER = "chromium"
DRIVER = "chromedriver"
# Without the background flags Chromium waits on network services this closed network lacks.
ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-dev-shm-usage", "--lang=en-US")
DESKTOP = (1280, 800)
PHONE = (390, 844)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when both executables are on PATH."""
    absent = [name for name in (BROWSER, DRIVER) if shutil.which(name) is None]
    if not absent:
        return None
    return (f"{' and '.join(absent)} not installed (Debian: apt-get install chromium "
            "chromium-driver; `make test` installs them as root or with sudo)")


def require() -> None:
    """At a browser test module's collection: in CI a missing browser is an error that fails
    the run; elsewhere the whole module is one skip whose reason the summary shows."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}", allow_module_level=True)


def viewport(driver: Any, size: tuple[int, int]) -> None:
    """Make the page's viewport exactly `size` (the window's own size includes the browser's
    frame); the phone size also as a phone: the page's viewport meta applies, touch events."""
    width, height = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == PHONE})


def launch(profile: Path) -> Any:
    """A new headless Chromium with an empty profile in `profile`, its console log recorded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    browser, driver = shutil.which(BROWSER), shutil.which(DRIVER)
    assert browser and driver, missing()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (*ARGUMENTS, f"--user-data-dir={profile}",
                     f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver))
