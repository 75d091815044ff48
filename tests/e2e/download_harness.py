"""What the download end-to-end tests drive and observe: the page's download rows, the files handed over
(Playwright's download event and the OPFS file read back in the page), the page's OPFS folder, the server's
count of download bytes and Chromium's network emulation for downloads.

A download row is found by its URL (``li.download[data-url=...]``) and read through its attributes
(``data-state``, ``data-percent``, ``data-verified``...: ``frontend/browser/download_view.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.request
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import CDPSession, Download, Locator, Page, expect

from tests.e2e.harness import UploaderPage
from tests.support.browser import is_local
from tests.support.server_process import ServerProcess

MiB = 1024 * 1024
DOWNLOAD_TIMEOUT_MS = 180_000
_SENT = re.compile(r"^rt_download_bytes_total (\S+)$", re.MULTILINE)

# The page's OPFS folder, read from the page's main thread (the worker holds the files it writes).
_LIST_OPFS = """async () => {
  const root = await navigator.storage.getDirectory();
  let folder;
  try { folder = await root.getDirectoryHandle("downloads"); } catch { return []; }
  const names = [];
  for await (const name of folder.keys()) names.push(name);
  return names.sort();
}"""
_SHA256_OF_SAVED = """async (id) => {
  const link = document.querySelector(`#${id} a.download-save`);
  const blob = await (await fetch(link.href)).blob();
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [link.download, blob.size, Array.from(new Uint8Array(digest), b => b.toString(16).padStart(2, "0")).join("")];
}"""


def put(server: ServerProcess, name: str, data: bytes) -> str:
    """Put ``data`` in the server's downloads folder as a writer should (renamed over); returns its URL."""
    folder = server.data_dir / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{name}.part"
    temp.write_bytes(data)
    os.replace(temp, folder / name)
    return f"{server.url}/download/{quote(name, safe='')}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bytes_sent(server: ServerProcess) -> int:
    """The server's own count of download body bytes answered (``/metrics``)."""
    assert is_local(server.url)
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:
        found = _SENT.search(answer.read().decode())
    return int(float(found.group(1))) if found else 0


def throttle_downloads(
    cdp: CDPSession, bytes_per_second: float | None, latency_ms: float = 0, offline: bool = False
) -> None:
    """Chromium's own network emulation, downstream, which applies to the page's worker too (Playwright's
    ``context.set_offline`` does not reach the worker's requests here): speed (None = unlimited), latency,
    offline (new requests fail; those in flight go on)."""
    cdp.send("Network.enable")
    rate = -1 if bytes_per_second is None else bytes_per_second
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": offline, "latency": latency_ms, "downloadThroughput": rate, "uploadThroughput": -1},
    )


class DownloadsPage:
    """The page's downloads, driven like a person would."""

    def __init__(self, ui: UploaderPage) -> None:
        self.ui = ui
        self.page: Page = ui.page

    def open(self, query: str = "") -> None:
        self.page.goto(self.ui.base_url + "/" + query)
        self.ui.wait_python_ready()

    def start(self, name: str) -> None:
        """Click the "Download" button of ``name`` in the list of the server's files."""
        self.page.locator(f'#downloads button[data-action=download][data-name="{name}"]').click()

    def row(self, url: str) -> Locator:
        return self.page.locator(f'li.download[data-url="{url}"]')

    def state(self, url: str) -> str | None:
        return self.row(url).get_attribute("data-state")

    def attr(self, url: str, name: str) -> str | None:
        return self.row(url).get_attribute(f"data-{name}")

    def wait_state(self, url: str, state: str, timeout_ms: float = DOWNLOAD_TIMEOUT_MS) -> None:
        expect(self.row(url)).to_have_attribute("data-state", state, timeout=timeout_ms)

    def wait_percent(self, url: str, at_least: int, timeout_ms: float = DOWNLOAD_TIMEOUT_MS) -> None:
        self.page.wait_for_function(
            '([url, at]) => { const row = document.querySelector(`li.download[data-url="${url}"]`);'
            " return row !== null && Number(row.dataset.percent) >= at; }",
            arg=[url, at_least],
            timeout=timeout_ms,
        )

    def toggle(self, url: str) -> None:
        self.row(url).locator("button.dl-toggle").click()

    def saved(self, url: str) -> tuple[str, int, str]:
        """(name, size, SHA-256) of the file the finished row hands over, read back through its link."""
        row_id = self.row(url).get_attribute("id")
        result = self.page.evaluate(_SHA256_OF_SAVED, row_id)
        return str(result[0]), int(result[1]), str(result[2])

    def opfs(self) -> list[str]:
        """The files in the page's OPFS folder of downloads."""
        return list(self.page.evaluate(_LIST_OPFS))

    def wait_opfs_empty(self, timeout_ms: float = 10_000) -> None:
        self.page.wait_for_function(
            f"async () => ({_LIST_OPFS})().then(n => n.length === 0)", timeout=timeout_ms
        )


def downloaded_sha256(download: Download) -> tuple[str, str]:
    """(suggested name, SHA-256) of a file the browser saved (Playwright's download event)."""
    path = download.path()
    return download.suggested_filename, hashlib.sha256(Path(path).read_bytes()).hexdigest()
