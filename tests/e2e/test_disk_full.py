"""The page when the server's disk is full: it says so while it waits, and finishes by itself once there is
space again (here the server is restarted with a margin the disk meets, as an operator freeing space would)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import MiB, UploaderPage, fetch_md5, md5_of
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    """A server whose free-space margin (1 PB) no disk here meets: every new upload gets 507."""
    return make_server("--min-free-bytes", str(10**15))


def test_the_page_shows_a_full_disk_and_finishes_once_there_is_space(
    uploader: UploaderPage, server: ServerProcess, files: Callable[..., Path]
) -> None:
    source = files("big-report.bin", 3 * MiB + 7, seed=31)
    uploader.choose(source)
    uploader.wait_state("big-report.bin", "retrying")
    row = uploader.row("big-report.bin")
    expect(row.locator(".upload-error")).to_contain_text("disk is full")
    expect(row.locator(".upload-detail")).to_contain_text("The server cannot take it now, retrying")

    server.flags = ["--min-free-bytes", "0"]
    server.restart(same_port=True, hard=False)
    uploader.page.evaluate("window.dispatchEvent(new Event('online'))")  # as when the network comes back
    link = uploader.wait_finished("big-report.bin")
    assert fetch_md5(link) == md5_of(source)
    assert server.errors_logged() == []
