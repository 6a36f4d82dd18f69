"""Headless Chromium (Debian's, driven by Selenium through /usr/bin/chromedriver) for the
browser tests, with a profile of its own so nothing is shared between tests."""

from __future__ import annotations

import contextlib
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


@contextlib.contextmanager
def headless_chromium(profile: Path):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()
