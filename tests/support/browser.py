"""A real browser for end-to-end page tests: Debian's Chromium driven by Playwright.

One headless Chromium per test module (launching it is the slow part). Every page a test
visits is saved as a screenshot under reports/screenshots/ (git-ignored) for people to look at.
Chromium comes from the distribution (`apt-get install chromium`, done by scripts/services.sh
as root); Playwright never downloads a browser.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "reports" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """A headless Chromium shared by the tests of one module."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"{CHROMIUM} is missing: run scripts/services.sh as root (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread while the browser is
    # open; Django would then refuse the test's own database setup and teardown (plain sync
    # code between browser calls), so it is told that this thread is sync code, for this module.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Shots:
    """Numbered full-page screenshots of one test: reports/screenshots/<test>/NN-<name>.png."""

    def __init__(self, test_name: str):
        self.folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]", "_", test_name)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def take(self, page: object, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)
