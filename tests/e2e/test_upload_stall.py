"""A chunk request that stops making progress is given up and retried, and the upload still finishes (issue 16).

Between the page and the real server sits ``StallingProxy``, a small TCP proxy run by the test (asyncio, in a
thread of its own: Playwright's sync API owns this thread's event loop). It passes every byte through both
ways, except once: the second chunk upload (``POST /api/upload``) has half its body forwarded, then the proxy
stops reading from the browser and forwarding either way, and keeps both connections open: a dead path. No
error reaches the browser: only its stall watchdog (``frontend/browser/transport.py``) can end that request.

The page is opened with ``?stall=4``, so the test waits 4 s for the stall, not the 60 s default. What the
browser sees here: over loopback the operating system's buffers take the whole 1 MiB body at once, so the
request looks fully sent and the watchdog finds no answer's head for 4 s (the same clock as "no bytes taken
while sending"). The file's MD5 is then checked at the server, and the row must have shown RETRYING with
the transport's message.

The server's side of the dead path ends with its own ``--body-timeout-seconds``, 2 s here (60 s by default,
like the page's stall time): until then a chunk that was being written at the end of the file's assembled
part holds that end, and the file cannot be completed (the chunk sent again, and the handshakes, wait).

And the other way round: an upload that is slow but moving is never given up, however long each request
takes (Chromium's own throttling, which the network service applies as it sends: the body's bytes are taken
slowly, and each progress event restarts the clock).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import CDPSession, Page

from tests.e2e.harness import (
    MiB,
    Net,
    UploaderPage,
    chunk_ids_of,
    chunk_ids_of_file,
    fetch_md5,
    md5_of,
    throttle,
)
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

STALL_SECONDS = 4  # the page's ``?stall=``: short, yet far above a chunk's round trip on a busy machine
SERVER_BODY_TIMEOUT = 2  # seconds: the server gives up its side of the dead path first
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class StallingProxy:
    """A TCP proxy in front of ``upstream`` that stalls the ``stall_nth`` chunk upload half-way, once."""

    def __init__(self, upstream: str, stall_nth: int = 2) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.stall_nth = stall_nth
        self.chunk_posts = 0  # POST /api/upload heads seen
        self.stalled_chunk: str | None = None  # the chunk id of the stalled request, once it happened
        self.problems: list[str] = []  # what the proxy could not handle (the test asserts there is none)
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stalling-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self._closing: asyncio.Event | None = None

    def __enter__(self) -> Self:
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> int:
        self._closing = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        assert self._server is not None and self._closing is not None
        self._closing.set()
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._connections:
            await asyncio.wait(self._connections, timeout=5)
        await self._server.wait_closed()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        this = asyncio.current_task()
        assert this is not None
        self._connections.add(this)
        this.add_done_callback(self._connections.discard)
        up_r, up_w = await asyncio.open_connection(*self.upstream)
        self._writers |= {client_w, up_w}
        answers = asyncio.create_task(self._pipe(up_r, client_w))  # the server's answers, as they come
        try:
            if await self._requests(client_r, up_w):  # the stall: nothing read or forwarded either way
                answers.cancel()  # (the server's 408, once its body timeout is up, goes nowhere)
                assert self._closing is not None
                await self._closing.wait()  # until the test ends: the browser must give up by itself
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the browser closed the connection
        finally:
            answers.cancel()
            for writer in (client_w, up_w):
                writer.close()
                self._writers.discard(writer)

    async def _requests(self, client_r: asyncio.StreamReader, up_w: asyncio.StreamWriter) -> bool:
        """Forward the browser's requests one by one (head, then ``Content-Length`` bytes of body), until the
        browser closes the connection (False) or this connection is the one to stall (True)."""
        while True:
            head = await client_r.readuntil(b"\r\n\r\n")
            if b"transfer-encoding" in head.lower():  # the page sends sized bodies only
                self.problems.append(f"a body without Content-Length: {head[:200]!r}")
                return False
            match = _CONTENT_LENGTH.search(head)
            remaining = int(match.group(1)) if match else 0
            up_w.write(head)
            if head.startswith((b"POST /api/upload ", b"POST /api/upload?")):
                self.chunk_posts += 1
                if self.chunk_posts == self.stall_nth and self.stalled_chunk is None:
                    half = await client_r.readexactly(remaining // 2)
                    up_w.write(half)
                    self.stalled_chunk = chunk_ids_of(half)[0] or "?"  # the ids come before the file part
                    return True
            while remaining:
                data = await client_r.read(min(remaining, 256 * 1024))
                if not data:
                    return False
                up_w.write(data)
                await up_w.drain()
                remaining -= len(data)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The server's answers to the browser; when the server closes, the browser's side is closed too."""
        try:
            while data := await reader.read(256 * 1024):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()


@pytest.fixture
def quick_server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_server("--body-timeout-seconds", str(SERVER_BODY_TIMEOUT))


@pytest.fixture
def proxy(quick_server: ServerProcess) -> Iterator[StallingProxy]:
    with StallingProxy(quick_server.url) as running:
        yield running


# Every change of an upload row's state, with what the row said then (the rows are in the page's DOM).
_WATCH_ROWS = """() => {
  window.rowStates = [];
  new MutationObserver((records) => {
    for (const record of records) {
      const row = record.target;
      if (!row.matches("li.upload")) continue;
      window.rowStates.push({
        from: record.oldValue,
        state: row.dataset.state,
        error: row.querySelector(".upload-error")?.textContent ?? "",
      });
    }
  }).observe(document.body, {
    subtree: true, attributes: true, attributeFilter: ["data-state"], attributeOldValue: true,
  });
}"""


def test_a_chunk_request_that_stalls_is_given_up_and_retried(
    page: Page, quick_server: ServerProcess, proxy: StallingProxy, files: Callable[..., Path], net: Net
) -> None:
    source = files("stalled.bin", 4 * MiB + 5, seed=30)
    uploader = UploaderPage(page, proxy.url)
    page.goto(f"{proxy.url}/?stall={STALL_SECONDS}")
    uploader.wait_python_ready()
    page.evaluate(_WATCH_ROWS)

    uploader.choose(source)
    # The engine sets no whole-exchange timeout (``UploadConfig.request_timeout``): only the stall time ends it.
    link = uploader.wait_finished("stalled.bin", timeout_ms=60_000)

    assert proxy.problems == []
    assert proxy.stalled_chunk in chunk_ids_of_file(source), "the proxy never stalled a chunk"
    assert fetch_md5(quick_server.url + urlsplit(link).path) == md5_of(source)  # at the server itself
    posted = net.posted(md5_of(source))
    assert posted.count(proxy.stalled_chunk) == 2, posted  # given up, then sent again
    assert sorted(set(posted)) == sorted(chunk_ids_of_file(source))
    assert len(posted) == len(chunk_ids_of_file(source)) + 1, "no other chunk was sent twice"

    seen = page.evaluate("window.rowStates")
    retrying = [change for change in seen if change["state"] == "retrying"]
    assert retrying, f"the row never showed the retry: {seen}"
    assert f"no progress for {STALL_SECONDS} s" in retrying[0]["error"], retrying[0]
    assert seen[-1]["state"] == "finish"
    assert quick_server.errors_logged() == []


def test_a_slow_upload_that_keeps_moving_is_not_given_up(
    page: Page, server: ServerProcess, cdp: CDPSession, files: Callable[..., Path], net: Net
) -> None:
    """Three chunks in flight share 256 KiB/s: each takes about 12 s, six times the page's stall time."""
    source = files("slow.bin", 3 * MiB + 5, seed=31)
    uploader = UploaderPage(page, server.url)
    page.goto(f"{server.url}/?stall=2")
    uploader.wait_python_ready()
    page.evaluate(_WATCH_ROWS)
    throttle(cdp, 256 * 1024)

    uploader.choose(source)
    link = uploader.wait_finished("slow.bin", timeout_ms=60_000)

    assert fetch_md5(link) == md5_of(source)
    assert sorted(net.posted(md5_of(source))) == sorted(chunk_ids_of_file(source)), "a chunk was sent twice"
    states = [change["state"] for change in page.evaluate("window.rowStates")]
    assert "retrying" not in states, states
