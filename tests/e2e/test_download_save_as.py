"""**Save as…** on a finished download (issue 15: ``showSaveFilePicker`` offered where it exists), real Chromium.

Headless Chromium has ``showSaveFilePicker`` but rejects every call (``AbortError``), so the copy into a chosen
file is checked through a stand-in picker the test installs before the page loads (a handle whose writable
collects the bytes): the row offers the button, a click streams the OPFS file into it, and the bytes' SHA-256
is checked. Headless Chromium's own picker shows the cancelled path (nothing changes, no error), and a browser
without the picker gets no button. The normal download (an object URL) happens every time.
"""

from __future__ import annotations

import random

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.download_harness import DOWNLOAD_TIMEOUT_MS, DownloadsPage, MiB, downloaded_sha256, put, sha256
from tests.e2e.harness import UploaderPage
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

# A picker whose chosen file is a stream collecting what it is given; its bytes' size and SHA-256 end up in
# window.savedAs once the stream is closed.
_STAND_IN_PICKER = """
window.showSaveFilePicker = async (options) => ({
  name: "chosen " + options.suggestedName,
  async createWritable() {
    const parts = [];
    return new WritableStream({
      write(chunk) { parts.push(chunk); },
      async close() {
        const blob = new Blob(parts);
        const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
        window.savedAs = [blob.size, Array.from(new Uint8Array(digest), b => b.toString(16).padStart(2, "0")).join("")];
      },
    });
  },
});
"""
_NO_PICKER = "delete Window.prototype.showSaveFilePicker; delete window.showSaveFilePicker;"


def finish(downloads: DownloadsPage, page: Page, name: str, data: bytes, url: str) -> None:
    with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as caught:
        downloads.start(name)
        downloads.wait_state(url, "finish")
    assert downloaded_sha256(caught.value) == (name, sha256(data))  # the normal download, every time


def test_save_as_streams_the_file_into_the_chosen_one(page: Page, server: ServerProcess) -> None:
    data = random.Random(80).randbytes(3 * MiB + 11)
    url = put(server, "report.bin", data)
    page.add_init_script(_STAND_IN_PICKER)
    downloads = DownloadsPage(UploaderPage(page, server.url))
    downloads.open()
    finish(downloads, page, "report.bin", data, url)
    button = downloads.row(url).locator("button.dl-save-as")
    expect(button).to_be_visible()
    expect(button).to_have_text("Save as…")
    button.click()
    expect(downloads.row(url)).to_have_attribute("data-saved-as", "saved", timeout=30_000)
    assert page.evaluate("window.savedAs") == [len(data), sha256(data)]
    expect(downloads.row(url).locator(".download-saved-as")).to_have_text("Also saved as chosen report.bin")


def test_headless_chromiums_own_picker_is_cancelled_and_nothing_changes(
    page: Page, server: ServerProcess
) -> None:
    data = random.Random(81).randbytes(MiB + 3)
    url = put(server, "plain.bin", data)
    downloads = DownloadsPage(UploaderPage(page, server.url))
    downloads.open()
    finish(downloads, page, "plain.bin", data, url)
    button = downloads.row(url).locator("button.dl-save-as")
    expect(button).to_be_visible()  # headless Chromium has the function...
    button.click()  # ...and rejects it (AbortError): as when a person closes the picker
    expect(downloads.row(url)).to_have_attribute("data-saved-as", "cancelled", timeout=30_000)
    expect(downloads.row(url).locator(".download-saved-as")).to_be_hidden()
    assert downloads.saved(url) == ("plain.bin", len(data), sha256(data))  # the link still gives the file


def test_no_button_without_a_picker(page: Page, server: ServerProcess) -> None:
    data = random.Random(82).randbytes(MiB + 5)
    url = put(server, "old.bin", data)
    page.add_init_script(_NO_PICKER)
    downloads = DownloadsPage(UploaderPage(page, server.url))
    downloads.open()
    assert page.evaluate("typeof window.showSaveFilePicker") == "undefined"
    finish(downloads, page, "old.bin", data, url)
    expect(downloads.row(url).locator("a.download-save")).to_be_visible()
    expect(downloads.row(url).locator("button.dl-save-as")).to_be_hidden()
