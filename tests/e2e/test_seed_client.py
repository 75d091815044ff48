"""The seed's own JavaScript client (verbatim, with jQuery and spark-md5 from npm) against our server.

The seed's page lives on another origin and calls ``http://localhost:8000``; the test serves the page from a
local port and routes ``localhost:8000`` to the server under test (the browser still sees a cross-origin
call to port 8000, so CORS is exercised as in the seed's set-up).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from tests.support.browser import chromium_launch_kwargs, is_local
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent / "seed_client"
NODE_MODULES = Path(__file__).resolve().parents[2] / "frontend" / "node_modules"
FILES = {
    "/": HERE / "index.html",
    "/seed.js": HERE / "seed.js",
    "/jquery.js": NODE_MODULES / "jquery" / "dist" / "jquery.js",
    "/spark-md5.js": NODE_MODULES / "spark-md5" / "spark-md5.js",
}
SEED_API = "http://localhost:8000"


class _SeedPage(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        path = FILES.get(self.path)
        if path is None:
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if path.suffix == ".html" else "text/javascript")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def seed_page_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SeedPage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def damage_second_chunk(api_calls: list[str], body: bytes | None) -> bytes | None:
    """The second chunk's form with one byte of the chunk flipped (the seed sends the file part first);
    None for every other request."""
    if api_calls.count("/api/upload") != 2 or body is None:
        return None
    flipped = bytearray(body)
    flipped[flipped.index(b"\r\n\r\n", flipped.index(b'name="file"')) + 4 + 1000] ^= 0xFF
    return bytes(flipped)


@pytest.fixture
def seed_page(
    server: ServerProcess, seed_page_url: str, request: pytest.FixtureRequest
) -> Iterator[tuple[Page, list[str]]]:
    """The seed's page, its API calls routed to our server; yields the page and the API requests seen. A test
    marked ``damage_second_chunk`` gets the second chunk damaged on the way."""
    api_calls: list[str] = []
    damage = request.node.get_closest_marker("damage_second_chunk") is not None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_launch_kwargs())
        context = browser.new_context()

        def route(route: Route) -> None:
            url = route.request.url
            if url.startswith(SEED_API):
                api_calls.append(url.removeprefix(SEED_API))
                damaged = damage_second_chunk(api_calls, route.request.post_data_buffer) if damage else None
                if damaged is not None:
                    route.continue_(url=server.url + url.removeprefix(SEED_API), post_data=damaged)
                    return
                route.continue_(url=server.url + url.removeprefix(SEED_API))
            elif is_local(url):
                route.continue_()
            else:
                api_calls.append("OFF-MACHINE " + url)
                route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.goto(seed_page_url)
        yield page, api_calls
        browser.close()
    assert not [c for c in api_calls if c.startswith("OFF-MACHINE")]


def stored_md5(server: ServerProcess, file_id: str) -> str:
    return hashlib.md5((server.data_dir / "files" / file_id).read_bytes()).hexdigest()


def test_seed_client_uploads_pauses_resumes_and_gets_instant_upload(
    seed_page: tuple[Page, list[str]], server: ServerProcess, tmp_path: Path
) -> None:
    page, calls = seed_page
    source = tmp_path / "照片.jpg"
    source.write_bytes(os.urandom(5 * 1024 * 1024 + 4321))
    file_id = hashlib.md5(source.read_bytes()).hexdigest()
    control = page.locator(".btn.control")

    page.set_input_files("#file", str(source))
    expect(control).to_have_text("开始上传")  # hashed, handshake answered with the chunks needed
    answered: list[str] = []
    page.on(
        "response",
        lambda response: answered.append(response.url) if response.url.endswith("/api/upload") else None,
    )
    control.click()
    expect(page.locator(".progress span")).not_to_have_text("0%")
    control.click()  # pause: the seed stops after the chunk in flight
    expect(control).to_have_text("继续")
    # The seed's client starts a second upload chain if "continue" is clicked while a chunk is still in
    # flight (harmless here, but it would send chunks twice): wait until the paused chain has ended.
    while len(answered) < calls.count("/api/upload"):
        page.wait_for_timeout(50)
    control.click()  # continue
    link = page.locator("#link a")
    expect(link).to_have_text(f"{SEED_API}/upload/{file_id}.jpg", timeout=60_000)
    expect(page.locator(".progress span")).to_have_text("100%")
    assert stored_md5(server, file_id) == file_id
    assert calls.count("/api/upload") == 6  # every chunk exactly once, pause or not

    # Choosing the same file again: the handshake answers the URL at once, nothing is sent. (The URL is built
    # from the Host the server saw, which the routing changed to the test server's address.)
    page.reload()
    page.set_input_files("#file", str(source))
    expect(link).to_have_text(f"{server.url}/upload/{file_id}.jpg")
    assert calls.count("/api/upload") == 6
    assert calls.count("/api/upload/handshake") == 2


@pytest.mark.damage_second_chunk
def test_seed_client_resends_a_chunk_damaged_on_the_way(
    seed_page: tuple[Page, list[str]], server: ServerProcess, tmp_path: Path
) -> None:
    """The server checks the chunk as it arrives and answers ``422 CHUNK_MISMATCH`` with the ids still
    needed in ``data``, the damaged one first: the seed's client takes ``data`` as the chunks still needed,
    so it sends that one again at once, unchanged, and finishes."""
    page, calls = seed_page
    statuses: list[int] = []
    page.on(
        "response",
        lambda response: statuses.append(response.status) if response.url.endswith("/api/upload") else None,
    )
    source = tmp_path / "damaged.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 99))
    file_id = hashlib.md5(source.read_bytes()).hexdigest()
    page.set_input_files("#file", str(source))
    control = page.locator(".btn.control")
    expect(control).to_have_text("开始上传")
    control.click()
    expect(page.locator("#link a")).to_have_text(f"{SEED_API}/upload/{file_id}.bin", timeout=60_000)
    assert stored_md5(server, file_id) == file_id
    assert calls.count("/api/upload") == 4 + 1  # every chunk once, the damaged one twice
    assert statuses == [200, 422, 200, 200, 200]  # refused when it arrived, taken the next time
    assert server.assembled(file_id) == 1
    assert server.errors_logged() == []
