"""The page itself: it loads from our server only, is cross-origin isolated, and Python becomes ready.

The route guard (``conftest.context``) fails the test if any request tried to leave the machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from server.page import exact_vendor
from tests.e2e.harness import Net, UploaderPage, fetch_md5
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e


def test_page_loads_offline_and_python_becomes_ready(page: Page, server: ServerProcess, net: Net) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    ui = UploaderPage(page, server.url)
    page.goto(server.url + "/")
    # The UI is there at once, before Python: the chooser works and says Python is starting.
    expect(page.locator("#file-input")).to_be_attached()
    expect(page.locator("label[for=file-input]")).to_be_visible()
    ui.wait_python_ready()
    expect(page.locator("#python-status")).to_contain_text("Ready")
    assert page.evaluate("crossOriginIsolated") is True
    assert any(url.endswith(exact_vendor()["/vendor/pyodide"] + "/pyodide.asm.wasm") for url in requested)
    assert all(url.startswith((server.url, "data:", "blob:")) for url in requested), requested
    assert net.offsite == []


def test_a_file_chosen_before_python_is_ready_is_not_lost(
    page: Page, server: ServerProcess, files: Callable[..., Path], net: Net
) -> None:
    small = files("early.txt", 1000, seed=1)
    ui = UploaderPage(page, server.url)
    page.goto(server.url + "/")
    ui.choose(small)  # at once: Python is still starting
    expect(page.locator("html")).to_have_attribute("data-python", "starting")  # (it takes seconds)
    ui.wait_python_ready()
    ui.wait_finished("early.txt")
    assert net.offsite == []


def test_a_dropped_file_is_uploaded(uploader: UploaderPage, page: Page, net: Net) -> None:
    text = "dropped on the zone\n" * 5000
    transfer = page.evaluate_handle(
        """text => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "dropped.txt", { type: "text/plain" }));
            return transfer;
        }""",
        text,
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    link = uploader.wait_finished("dropped.txt")
    assert fetch_md5(link) == hashlib.md5(text.encode()).hexdigest()
