"""What the end-to-end tests drive and observe: the network guard, the uploader page, test files.

- ``Net`` is the browser context's one route handler. It sees every request of the page and of its worker.
  Requests that would leave the machine are failed and recorded. Chunk uploads (``POST /api/upload``) are
  counted as they leave the browser, before the server sees them; a test can fail, alter or delay them
  through ``chunk_hook``. "Count at the server" in the tests means these counts: every request counted here
  reaches the server unless the hook itself failed it (and then the test knows).
- ``UploaderPage`` drives the page through its DOM, the way a person would (file chooser, row buttons), and
  reads its state from the attributes the view keeps on each row (``data-state``, ``data-percent``...).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, CDPSession, Locator, Page, Response, Route, expect

from tests.support.browser import is_local
from tests.support.seed_protocol import form_body, plan

MiB = 1024 * 1024
CHUNK = MiB

_FIELD = re.compile(rb'name="(chunkId|fileId)"\r\n\r\n([0-9a-fA-F]+)\r\n')

PYTHON_READY_TIMEOUT_MS = 90_000  # a cold Pyodide start on a busy 2-core machine
UPLOAD_TIMEOUT_MS = 120_000


@dataclass
class ChunkPost:
    """One ``POST /api/upload`` as it left the browser (ids read from the multipart body)."""

    chunk_id: str | None
    file_id: str | None
    body: bytes | None


def chunk_ids_of(body: bytes | None) -> tuple[str | None, str | None]:
    fields = dict(_FIELD.findall(body or b""))
    chunk_id, file_id = fields.get(b"chunkId"), fields.get(b"fileId")
    return (chunk_id.decode() if chunk_id else None, file_id.decode() if file_id else None)


ChunkHook = Callable[[Route, ChunkPost], bool]
"""Called for each chunk upload; returns True when it answered the route itself (abort, altered body...)."""


@dataclass
class Net:
    offsite: list[str] = field(default_factory=list)  # requests that tried to leave the machine (failed)
    chunk_posts: list[ChunkPost] = field(default_factory=list)
    handshakes: list[object] = field(default_factory=list)  # ``data`` of each handshake answer, if watched
    chunk_answers: list[int] = field(default_factory=list)  # HTTP status of each chunk upload's answer
    chunk_hook: ChunkHook | None = None
    watch_handshakes: bool = False

    def handle(self, route: Route) -> None:
        request = route.request
        if not is_local(request.url):
            self.offsite.append(request.url)
            route.abort("blockedbyclient")
            return
        path = urlsplit(request.url).path
        if request.method == "POST" and path == "/api/upload":
            body = request.post_data_buffer
            post = ChunkPost(*chunk_ids_of(body), body=body)
            self.chunk_posts.append(post)
            if self.chunk_hook is not None and self.chunk_hook(route, post):
                return
        elif request.method == "POST" and path == "/api/upload/handshake" and self.watch_handshakes:
            # Read the answer on the page's behalf, note it, hand it over unchanged.
            response = route.fetch()
            self.handshakes.append(response.json().get("data"))
            route.fulfill(response=response)
            return
        route.continue_()

    def posted(self, file_id: str | None = None) -> list[str]:
        """Chunk ids posted so far (for one file if given), in order, repeats included."""
        return [p.chunk_id or "?" for p in self.chunk_posts if file_id is None or p.file_id == file_id]

    def install(self, context: BrowserContext) -> None:
        context.route("**/*", self.handle)
        context.on("response", self._response)
        context.route_web_socket(re.compile(r".*"), self._web_socket)

    def _response(self, response: Response) -> None:
        if response.request.method == "POST" and urlsplit(response.url).path == "/api/upload":
            self.chunk_answers.append(response.status)

    def _web_socket(self, ws: object) -> None:
        url = ws.url  # type: ignore[attr-defined]
        if not is_local(url):
            self.offsite.append(url)
            ws.close()  # type: ignore[attr-defined]
        else:
            ws.connect_to_server()  # type: ignore[attr-defined]


def throttle(cdp: CDPSession, upload_bytes_per_second: float | None, offline: bool = False) -> None:
    """Chromium's own network emulation (DevTools), which applies to the page's worker too: upload speed
    (None = unlimited) and offline (new requests fail; those in flight go on)."""
    cdp.send("Network.enable")
    rate = -1 if upload_bytes_per_second is None else upload_bytes_per_second
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": rate},
    )


def make_file(folder: Path, name: str, size: int, seed: int = 0) -> Path:
    """A file of ``size`` pseudo-random bytes (incompressible, different per seed)."""
    path = folder / name
    path.write_bytes(random.Random(f"{seed}:{size}").randbytes(size))
    return path


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as source:
        while block := source.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def chunk_ids_of_file(path: Path) -> list[str]:
    """The seed's chunk ids of a file: each 1 MiB chunk's MD5 followed by its index."""
    data = path.read_bytes()
    return [
        hashlib.md5(data[i : i + CHUNK]).hexdigest() + str(n)
        for n, i in enumerate(range(0, len(data), CHUNK))
    ]


def fetch_md5(url: str) -> str:
    """The MD5 of what the server serves at ``url`` (the stored file)."""
    assert is_local(url), url
    digest = hashlib.md5()
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert answer.status == 200
        while block := answer.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def _post(url: str, body: bytes, content_type: str) -> object:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["data"]


def seed_upload(base_url: str, data: bytes, ext: str) -> str:
    """Upload ``data`` the way the seed's client does (handshake, then the needed chunks one by one), without
    the page; returns the stored file's URL. Synchronous: Playwright's sync API owns this thread's loop."""
    planned = plan(data)
    handshake = {"fileId": planned.file_id, "ext": ext, "chunkIds": planned.chunk_ids}
    needs = _post(base_url + "/api/upload/handshake", json.dumps(handshake).encode(), "application/json")
    while isinstance(needs, list) and needs:
        fields = [("file", planned.chunk(needs[0])), ("chunkId", needs[0]), ("fileId", planned.file_id)]
        needs = _post(base_url + "/api/upload", *form_body(fields))
    return needs if isinstance(needs, str) else f"{base_url}/upload/{planned.file_id}{ext}"


class UploaderPage:
    """The uploader page, driven like a person would, observed through the rows' attributes."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url.rstrip("/")

    def open(self) -> float:
        """Load the page and wait for Python; returns the seconds from navigation to "Python ready"."""
        self.page.goto(self.base_url + "/")
        self.wait_python_ready()
        return self.page.evaluate("performance.now()") / 1000

    def wait_python_ready(self) -> None:
        expect(self.page.locator("html")).to_have_attribute(
            "data-python", "ready", timeout=PYTHON_READY_TIMEOUT_MS
        )

    def choose(self, *paths: Path) -> None:
        self.page.set_input_files("#file-input", [str(p) for p in paths])

    def row(self, name: str) -> Locator:
        return self.page.locator(f'li.upload[data-name="{name}"]')

    def state(self, name: str) -> str | None:
        return self.row(name).get_attribute("data-state")

    def percent(self, name: str) -> int:
        return int(self.row(name).get_attribute("data-percent") or 0)

    def wait_state(self, name: str, state: str, timeout_ms: float = UPLOAD_TIMEOUT_MS) -> None:
        expect(self.row(name)).to_have_attribute("data-state", state, timeout=timeout_ms)

    def wait_percent(self, name: str, at_least: int, timeout_ms: float = UPLOAD_TIMEOUT_MS) -> None:
        """Wait until the server has confirmed ``at_least`` percent of the file."""
        self.page.wait_for_function(
            '([name, at]) => { const row = document.querySelector(`li.upload[data-name="${name}"]`);'
            " return row !== null && row.dataset.state !== 'hashing' && Number(row.dataset.percent) >= at; }",
            arg=[name, at_least],
            timeout=timeout_ms,
        )

    def toggle(self, name: str) -> None:
        """The row's pause/continue button."""
        self.row(name).locator("button[data-action=toggle]").click()

    def wait_finished(self, name: str, timeout_ms: float = UPLOAD_TIMEOUT_MS) -> str:
        """Wait for the upload to finish; returns the link the page shows."""
        self.wait_state(name, "finish", timeout_ms)
        link = self.row(name).locator("a.upload-link")
        expect(link).to_be_visible()
        href = link.get_attribute("href")
        assert href, "the finished row shows no link"
        return href
