"""A real headless Chromium for admin tests: Debian's `chromium` package driven by Playwright.

Playwright's own browser download is never used (it cannot download here, and CI installs
Debian's chromium instead, see .ci/run), so the browser is launched by path. A missing
browser fails the tests with the fix in the message; it is never a silent skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags chromium's own connections are refused on this machine and it
# stalls; QUIC and background services are not wanted against a local test server anyway.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Long enough for a loaded CI machine, short enough that a missing element fails fast.
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the admin browser tests need Debian's chromium. Install it with "
            "`apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium` "
            "(.ci/run does this; `playwright install` is not used).",
            pytrace=False,
        )
    # Playwright's sync API keeps its asyncio loop marked as running in this thread for as long
    # as it is started, so Django would refuse every ORM call of the test process
    # (SynchronousOnlyOperation). The loop is idle whenever test code runs, so blocking
    # database calls are safe; this is the documented escape hatch, lifted on teardown.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    """A fresh tab with no cookies, addressing the live server by relative URLs."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def screenshot(capsys: pytest.CaptureFixture[str]) -> Callable[[Page, str], Path]:
    """Save a full-page screenshot as a test artefact under <var>/artifacts/ and print where,
    past pytest's output capture, so the path shows in the test run's output."""

    def take(tab: Page, name: str, width: int = 1600) -> Path:
        folder = Path(settings.VAR_DIR) / "artifacts"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        tab.set_viewport_size({"width": width, "height": 900})  # 1600: wide enough for the whole list
        tab.screenshot(path=str(path), full_page=True)
        with capsys.disabled():
            print(f"\n  artefact: {path}")  # noqa: T201
        return path

    return take
