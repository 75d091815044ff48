"""A download into the page survives a browser restart (issue 15): real Chromium on a persistent profile.

A download is started and, mid-way, the whole browser is closed (not the page: the browser process and its
worker go, nothing of the page is told); Chromium is started again on the same profile and the page opened.
It lists the unfinished download without a click, continues it from what the profile's OPFS kept, and hands
over the whole file, whose SHA-256 is checked; the server's own count of bytes sent shows that only what was
missing was fetched again (plus at most the segments that were in flight when the browser went).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect, sync_playwright

from tests.e2e.download_harness import (
    DOWNLOAD_TIMEOUT_MS,
    DownloadsPage,
    MiB,
    bytes_sent,
    downloaded_sha256,
    put,
    sha256,
    throttle_downloads,
)
from tests.e2e.harness import Net, UploaderPage
from tests.support.browser import chromium_launch_kwargs
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

_EXPECTED_CONSOLE_ERRORS = ("Failed to load resource",)  # requests cut by the browser going away


@contextmanager
def chromium_on(playwright: Playwright, profile: Path, net: Net) -> Iterator[tuple[BrowserContext, Page]]:
    """Chromium on the persistent ``profile`` (a browser of its own: closing the context ends it), guarded
    like every e2e browser (nothing leaves the machine), its page's errors asserted on when it is closed."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), viewport={"width": 1000, "height": 760}, **chromium_launch_kwargs()
    )
    net.install(context)
    errors: list[str] = []
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(30_000)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith(_EXPECTED_CONSOLE_ERRORS)
            else None
        ),
    )
    try:
        yield context, page
    finally:
        context.close()
    assert errors == [], "the page logged errors:\n" + "\n".join(errors)
    assert net.offsite == [], f"requests tried to leave the machine: {net.offsite}"


def test_a_browser_restart_mid_way_continues_and_fetches_only_what_was_missing(
    server: ServerProcess, tmp_path: Path
) -> None:
    segment, parallel = 2 * MiB, 3
    data = random.Random(60).randbytes(32 * MiB)
    url = put(server, "restart.bin", data)
    profile = tmp_path / "profile"
    query = f"?dsegment=2&dparallel={parallel}"  # the same both times: a journal cut otherwise is not reused
    with sync_playwright() as playwright:
        with chromium_on(playwright, profile, Net()) as (context, page):
            downloads = DownloadsPage(UploaderPage(page, server.url))
            downloads.open(query)
            throttle_downloads(context.new_cdp_session(page), 4 * MiB)
            downloads.start("restart.bin")
            downloads.wait_percent(url, 30)
            before = int(downloads.attr(url, "percent") or 0)
        # The whole browser is gone (its worker and requests in flight with it); the profile stays.
        sent_before = bytes_sent(server)
        assert sent_before < len(data), "the download finished before the browser was closed"

        with chromium_on(playwright, profile, Net()) as (context, page):
            downloads = DownloadsPage(UploaderPage(page, server.url))
            with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as caught:
                downloads.open(query)  # no click: listed again and continued from what is on disk
                expect(downloads.row(url)).to_be_visible(timeout=30_000)
                downloads.wait_state(url, "finish")
            assert downloaded_sha256(caught.value) == ("restart.bin", sha256(data))
            assert downloads.saved(url) == ("restart.bin", len(data), sha256(data))
            assert downloads.attr(url, "restarts") == "0"  # nothing on disk was thrown away
    # The server's count: the file once, plus at most the segments in flight when the browser went.
    sent = bytes_sent(server)
    assert sent <= len(data) + parallel * segment + 8, (sent, len(data))
    assert before >= 30
