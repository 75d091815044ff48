"""End-to-end fixtures: real Chromium (Playwright, sync API) against the real server process.

- ``browser``: Chromium as ``tests/support/browser.py`` launches it (Debian's ``/usr/bin/chromium`` or
  ``$CHROMIUM``, else Playwright's own), with the flags that keep it from reaching the internet by itself.
- ``net`` + ``context`` + ``page``: a fresh context per test whose route handler (``harness.Net``) fails and
  records any request that would leave the machine; every test ends by asserting there was none.
- ``uploader``: the uploader page on a fresh server (``server`` from ``tests/conftest.py``), Python ready.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, sync_playwright

from tests.e2e.harness import Net, UploaderPage
from tests.support.browser import chromium_launch_kwargs
from tests.support.server_process import ServerProcess


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A Chromium per test: Playwright's sync API owns an event loop while it runs, which must not outlive
    the test (other tests, and other e2e tests, run their own loops in this thread)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium_launch_kwargs())
        yield browser
        browser.close()


@pytest.fixture
def net() -> Net:
    return Net()


@pytest.fixture
def context(browser: Browser, net: Net) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    net.install(context)
    yield context
    context.close()
    assert net.offsite == [], f"requests tried to leave the machine: {net.offsite}"


# The browser reports every failed request on the console; the tests cause those on purpose.
_EXPECTED_CONSOLE_ERRORS = ("Failed to load resource",)


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """The test's page. It must not log errors (a Python traceback in the worker shows up here)."""
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith(_EXPECTED_CONSOLE_ERRORS)
            else None
        ),
    )
    yield page
    assert errors == [], "the page logged errors:\n" + "\n".join(errors)


@pytest.fixture
def cdp(context: BrowserContext, page: Page) -> CDPSession:
    return context.new_cdp_session(page)


@pytest.fixture
def uploader(page: Page, server: ServerProcess) -> UploaderPage:
    ui = UploaderPage(page, server.url)
    ui.open()
    return ui


@pytest.fixture
def files(tmp_path: Path) -> Callable[..., Path]:
    """``files(name, size, seed=0)``: a test file of pseudo-random bytes in the test's folder."""
    from tests.e2e.harness import make_file

    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    return lambda name, size, seed=0: make_file(folder, name, size, seed)
