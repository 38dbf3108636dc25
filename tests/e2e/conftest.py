"""Browser fixtures: Debian's Chromium driven by Playwright, against pytest-django's live server.

Never downloads a browser. Without /usr/bin/chromium (HELPDESK_E2E_CHROMIUM points elsewhere) or
Playwright the e2e tests are skipped with the reason; CI installs Chromium.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("HELPDESK_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--headless",
]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"end-to-end tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    # Playwright's sync API runs an event loop in this thread; Django then refuses database
    # access from it (SynchronousOnlyOperation) although the code is synchronous. Allowed for
    # the browser's lifetime only, so the rest of the suite keeps Django's check.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """``new_page()``: a page in a fresh browser context (own cookies: another person)."""
    contexts = []
    dialogs: list[str] = []

    def make(**options):
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        # An alert() would mean markup from a ticket ran as a script.
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not dialogs, f"a page opened dialogs: {dialogs}"


@pytest.fixture
def page(new_page):
    return new_page()
