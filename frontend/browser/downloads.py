"""The page's downloads: one ``DownloadController`` and one row per file, their partial files in OPFS.

``PageDownloads`` is wired into the page's ``UploaderApp`` (``main.py``), which hands it what the intake
posts: a file of the list to download (``{kind: "download", url, name, size}``), a click on a download row's
button (``dl-toggle``: pause / continue / retry; ``dl-remove``: stop and free its space) and the window's
``online`` event. An upload's "Download" button downloads its link the same way.

- One download per URL (``opfs.key_for``): asking again for a file already in the list continues its row.
- The engine runs each download (``frontend/engine/downloader.py``) over ``FetchStreamTransport`` and
  ``OpfsPartialFile``, with ``navigator.storage.estimate()`` checked before a file is started; the page
  keeps retrying while the person waits (the same policy as uploads: waits up to 15 s, ``online`` cuts the
  wait short).
- Finished: the OPFS ``File`` is posted to the page (``{kind: "save", id, name, file}``), which saves it
  through an object URL under its name and keeps the link in the row. Where the page's window has
  ``showSaveFilePicker`` (asked once, of the intake: ``rtIntake.canPickFile()``), the row also offers
  **Save as…**, which the intake runs on the page's thread; its outcome comes back as the action
  ``dl-saved-as|<error name>|<detail>`` (``download_view.parse_saved_as``).
- At start-up ``restore`` lists what a previous page left unfinished (``opfs.restore``, which also frees
  what is finished or abandoned) and continues it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pyodide.ffi import JsException  # type: ignore[import-not-found]

from frontend.browser import opfs
from frontend.browser.download_view import LIST_ID, DownloadRow, parse_saved_as
from frontend.browser.fetch_stream import FetchStreamTransport
from frontend.browser.i18n import Texts
from frontend.engine.download_ports import DownloadSnapshot
from frontend.engine.download_state import DownloadState
from frontend.engine.downloader import DownloadConfig, DownloadController
from frontend.engine.errors import IllegalTransition
from frontend.engine.retry import RetryPolicy

S = DownloadState
MiB = 1024 * 1024
MAX_PARALLEL = 16
MAX_SEGMENT_MIB = 64

Post = Callable[[dict[str, Any]], None]
"""Posts a message to the page's intake (``static/intake.js``)."""
Throttled = Callable[[Callable[[Any], None]], Callable[[Any], None]]
"""Wraps a row's paint so that it runs at most ten times a second (``app.Throttle``)."""


def config_from_query(query: str, retry: RetryPolicy) -> DownloadConfig:
    """``?dsegment=<MiB>`` (1..64) and ``?dparallel=<n>`` (1..16) in the page's URL set the segment size and
    the segments in flight per download."""
    config = DownloadConfig(retry=retry)
    values = dict(pair.partition("=")[::2] for pair in query.lstrip("?").split("&") if pair)
    segment, parallel = values.get("dsegment", ""), values.get("dparallel", "")
    if segment.isdigit():
        config = DownloadConfig(
            segment_size=max(1, min(MAX_SEGMENT_MIB, int(segment))) * MiB,
            parallel=config.parallel,
            retry=retry,
        )
    if parallel.isdigit():
        config = DownloadConfig(
            segment_size=config.segment_size, parallel=max(1, min(MAX_PARALLEL, int(parallel))), retry=retry
        )
    return config


class PageDownload:
    def __init__(self, key: str, controller: DownloadController, row: DownloadRow) -> None:
        self.key = key
        self.controller = controller
        self.row = row


class PageDownloads:
    def __init__(self, post: Post, texts: Texts, config: DownloadConfig, throttled: Throttled) -> None:
        self._post = post
        self.texts = texts
        self.config = config
        self._throttled = throttled
        self.transport = FetchStreamTransport()
        self.space = opfs.StorageEstimate()
        self.downloads: dict[str, PageDownload] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._picker: bool | None = None  # the page's window has showSaveFilePicker (None: not asked yet)

    def add(self, url: str, name: str | None = None, size: int | None = None) -> PageDownload:
        """Download ``url`` (absolute), or continue it if it is in the list already."""
        key = opfs.key_for(url)
        existing = self.downloads.get(key)
        if existing is not None:
            if existing.controller.state in (S.PAUSED, S.FAILED):
                existing.controller.start()
            return existing
        file = opfs.OpfsPartialFile(key, lambda js_file, saved_as: self._save(key, js_file, saved_as))
        controller = DownloadController(
            url, self.transport, file, name=name, size=size, space=self.space, config=self.config
        )
        row = DownloadRow(self._draw, key, url, controller.name, size, self.texts)
        download = PageDownload(key, controller, row)
        self.downloads[key] = download
        row.render(controller.snapshot)
        controller.subscribe(self._throttled(lambda snapshot: self._paint(key, snapshot)))
        controller.start()
        return download

    async def restore(self) -> None:
        """Continue the downloads a previous page left unfinished (a reload, a browser restart)."""
        for journal in await opfs.restore():
            self.add(journal.url, journal.name, journal.size)

    def on_action(self, action: str, key: str) -> None:
        download = self.downloads.get(key)
        if download is None:
            return
        controller = download.controller
        saved_as = parse_saved_as(action)
        if saved_as is not None:
            download.row.saved_as(*saved_as)
            download.row.render(controller.snapshot)
            return
        try:
            if action == "dl-remove":
                self._background(self._remove(download))
            elif controller.state in (S.DOWNLOADING, S.RETRYING, S.CHECKING):
                controller.pause()
            elif controller.state in (S.PAUSED, S.FAILED):
                controller.start()
        except IllegalTransition:
            pass  # the state changed between the click and now

    def on_online(self) -> None:
        for download in self.downloads.values():
            download.controller.retry_now()

    # ------------------------------------------------------------------ the page

    def _paint(self, key: str, snapshot: DownloadSnapshot) -> None:
        download = self.downloads.get(key)
        if download is not None:
            download.row.render(snapshot)

    def _draw(self, row_id: str, ops: str, html: str | None) -> None:
        message: dict[str, Any] = {"kind": "row", "id": row_id, "ops": ops, "list": LIST_ID}
        if html is not None:
            message["html"] = html
        self._post(message)

    def _save(self, key: str, js_file: Any, name: str) -> None:
        download = self.downloads.get(key)
        if download is not None:
            self._post({"kind": "save", "id": download.row.row_id, "name": name, "file": js_file})
            download.row.picker = self._has_picker()  # shown with the row's next paint (finished)

    def _has_picker(self) -> bool:
        """Whether the page's window has ``showSaveFilePicker``: asked of the intake once (a round trip to the
        page from the worker), at the first finished download."""
        if self._picker is None:
            try:
                from pyscript import window  # type: ignore[import-not-found]

                self._picker = bool(window.rtIntake.canPickFile())
            except (ImportError, AttributeError, JsException):  # no intake that can tell: the normal download
                self._picker = False
        return self._picker

    async def _remove(self, download: PageDownload) -> None:
        await download.controller.discard()
        self.downloads.pop(download.key, None)
        download.row.remove()

    def _background(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
