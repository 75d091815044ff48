"""The uploader page's wiring, in the PyScript worker: files in, one ``UploadController`` per file, rows out.

- Files come from the page's intake (``static/intake.js``) as ``postMessage({kind: "files", files})``: the
  ``File`` objects are structured clones, native to this worker, read by ``BlobSource``.
- Each file gets an engine ``UploadController`` (all sharing one ``FetchTransport``) that starts at once,
  and a row (``view.UploadRow``) fed by its snapshots through a ``Throttle``.
- The rows' buttons reach ``on_click`` (one listener on the list): pause, continue, start, retry.
- When the page comes back online, every upload waiting for its next attempt tries at once.
- The server's downloadable files (``GET /api/files``) are listed as links.

The page's DOM and window are PyScript's proxies to the page (``js_document``, ``js_window``); ``js`` in this
module is the worker's own global scope (``fetch``, ``Blob``...).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import Callable
from typing import Any

from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from frontend.browser import view
from frontend.browser.source import BlobSource
from frontend.browser.transport import FetchTransport
from frontend.engine import UploadSnapshot, UploadState
from frontend.engine.errors import EngineError, IllegalTransition
from frontend.engine.ports import HttpRequest
from frontend.engine.retry import RetryPolicy
from frontend.engine.uploader import UploadConfig, UploadController

FILES_API = "/api/files"
RENDER_INTERVAL = 0.1  # seconds: at most ten repaints a second per row; state changes paint at once
# The page keeps trying while the user waits (it cannot know how long an outage lasts): waits grow to
# 15 s at most, and the "online" event cuts the current wait short.
PAGE_RETRY = RetryPolicy(base=1.0, cap=15.0, max_attempts=None)
MAX_PARALLEL = 16


class Throttle:
    """Passes snapshots to ``paint`` at most every ``interval`` seconds, and always when the state changes;
    the latest snapshot is never lost (a deferred paint follows)."""

    def __init__(self, paint: Callable[[UploadSnapshot], None], interval: float = RENDER_INTERVAL) -> None:
        self.paint = paint
        self.interval = interval
        self._latest: UploadSnapshot | None = None
        self._painted_state: UploadState | None = None
        self._painted_at = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def __call__(self, snapshot: UploadSnapshot) -> None:
        self._latest = snapshot
        wait = self._painted_at + self.interval - time.monotonic()
        if snapshot.state is not self._painted_state or wait <= 0:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_event_loop().call_later(wait, self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._latest is not None:
            self._painted_state = self._latest.state
            self._painted_at = time.monotonic()
            self.paint(self._latest)


class Upload:
    """One row and its controller."""

    def __init__(
        self, key: str, controller: UploadController, row: view.UploadRow, source: BlobSource
    ) -> None:
        self.key = key
        self.controller = controller
        self.row = row
        self.source = source

    def same_file(self, source: BlobSource) -> bool:
        return (self.source.name, self.source.size, self.source.last_modified) == (
            source.name,
            source.size,
            source.last_modified,
        )


def parallel_from_query(query: str, default: int = UploadConfig.parallel) -> int:
    """``?parallel=N`` in the page's URL sets the chunks in flight per file (1..16)."""
    for pair in query.lstrip("?").split("&"):
        name, _, value = pair.partition("=")
        if name == "parallel" and value.isdigit():
            return max(1, min(MAX_PARALLEL, int(value)))
    return default


class UploaderApp:
    def __init__(self, js_window: Any, js_document: Any, js_xworker: Any) -> None:
        self.js_window = js_window
        self.js_document = js_document
        self.js_xworker = js_xworker
        self.origin = str(js_window.location.origin)  # the worker's own location is a blob: URL
        self.config = UploadConfig(
            parallel=parallel_from_query(str(js_window.location.search)), retry=PAGE_RETRY
        )
        self.transport = FetchTransport()
        self.uploads: dict[str, Upload] = {}
        self._keys = (f"u{n}" for n in itertools.count(1))
        self._js_list = js_document.getElementById("uploads")
        self._proxies: list[Any] = []  # event handlers stay alive as long as the page
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ start-up

    def start(self) -> None:
        """Listen to the page, tell it Python is ready (it then hands over queued files), list downloads."""
        self.js_xworker.onmessage = self._proxy(self.on_message)
        self._js_list.addEventListener("click", self._proxy(self.on_click))
        self.js_window.addEventListener("online", self._proxy(self.on_online))
        self._background(self.load_downloads())
        pyodide_version = str(sys.modules["pyodide"].__version__) if "pyodide" in sys.modules else "?"
        python = ".".join(map(str, sys.version_info[:3]))
        status = self.js_document.getElementById("python-status")
        status.textContent = f"Ready · Python {python} (Pyodide {pyodide_version}) in a worker"
        self.js_document.documentElement.dataset.python = "ready"
        self.js_window.rtIntake.ready()

    def _proxy(self, handler: Callable[[Any], None]) -> Any:
        js_handler = create_proxy(handler)
        self._proxies.append(js_handler)
        return js_handler

    def _background(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ events

    def on_message(self, js_event: Any) -> None:
        js_data = js_event.data
        if getattr(js_data, "kind", None) == "files":
            for js_file in js_data.files:
                self.add_file(js_file)

    def on_click(self, js_event: Any) -> None:
        js_button = js_event.target.closest("button[data-action]")
        if js_button is None:
            return
        upload = self.uploads.get(str(js_button.dataset.key))
        if upload is not None:
            self.toggle(upload)

    def on_online(self, _js_event: Any) -> None:
        for upload in self.uploads.values():
            upload.controller.retry_now()

    # ------------------------------------------------------------------ uploads

    def add_file(self, js_file: Any) -> None:
        source = BlobSource(js_file)
        for upload in self.uploads.values():
            state = upload.controller.state
            if upload.same_file(source) and state not in (UploadState.FINISHED, UploadState.FAILED):
                # Chosen again while its row is still going: continue that upload rather than start a twin.
                # (After a failure a new row starts over: the file may have changed since.)
                if state is UploadState.PAUSED:
                    upload.controller.resume()
                return
        key = next(self._keys)
        row = view.UploadRow(self.js_document, self._js_list, key, source.name, source.size)
        controller = UploadController(
            source, self.transport, base_url=self.origin, config=self.config, listener=Throttle(row.render)
        )
        row.render(controller.snapshot)
        self.uploads[key] = Upload(key, controller, row, source)
        controller.start()

    def toggle(self, upload: Upload) -> None:
        """The row's button: pause while sending, continue when paused, start, retry after a failure."""
        controller = upload.controller
        try:
            if controller.state in (UploadState.UPLOADING, UploadState.RETRYING):
                controller.pause()
            elif controller.state in (UploadState.PAUSED, UploadState.CHOSEN, UploadState.FAILED):
                controller.start()
        except IllegalTransition:
            pass  # the state changed between the click and now (e.g. it just finished): nothing to do

    # ------------------------------------------------------------------ downloads

    async def load_downloads(self) -> None:
        js_list = self.js_document.getElementById("downloads")
        try:
            answer = await self.transport.request(HttpRequest("GET", self.origin + FILES_API, timeout=30))
        except EngineError as exc:
            view.render_downloads(js_list, None, f"The list could not be loaded: {exc.msg}")
            return
        body = answer.json_body
        if answer.status == 200 and isinstance(body, dict) and isinstance(body.get("data"), list):
            view.render_downloads(js_list, [f for f in body["data"] if isinstance(f, dict)])
        else:
            msg = body.get("msg") if isinstance(body, dict) else None
            view.render_downloads(
                js_list, None, f"The list could not be loaded: {msg or f'HTTP {answer.status}'}"
            )
