"""The uploader's wiring: files in, one ``UploadController`` per file, rows out (and, embedded, events out).

The same ``UploaderApp`` runs in two places:

- the page at ``/``, in the page's PyScript worker (``main.py``): the page's DOM and window are PyScript's
  proxies (``js_document``, ``js_window``) and ``js`` in this module is the worker's own global scope
  (``fetch``, ``Blob``...); files arrive at the worker's ``xworker``;
- the embedded uploader (``/embed``, ``embed_main.py``), on the frame's own main thread: the DOM is local,
  files arrive at one end of a ``MessageChannel``, and an ``UploadObserver`` tells the host page what happens.

In both:

- Files come from the intake (``static/intake.js``) as ``postMessage({kind: "files", files})`` to the
  ``intake`` given here: the ``File`` objects are structured clones, read by ``BlobSource``. Files the options
  refuse (``accept``, ``max_size``) get a failed row at once and nothing is read or sent.
- Each file gets an engine ``UploadController`` (all sharing one ``FetchTransport``) that starts at once,
  and a row (``view.UploadRow``) fed by its snapshots through a ``Throttle`` (the observer sees the same).
- With ``multiple=False`` a new choice replaces the list (uploads under way stop; they can be resumed later).
- The rows' buttons (pause, continue, start, retry) and the window's ``online`` event reach Python through
  the intake too (``{kind: "action", key}``, ``{kind: "online"}``): Python holds no listener on the page.
  When the window comes back online, every upload waiting for its next attempt tries at once.
- Every call to the page counts (from the worker each is a synchronous round trip): start-up makes one
  (``rtIntake.ready``); the rows make none: each repaint is a message posted to the intake
  (``{kind: "row", id, ops, html}``, see ``view.py``), which the worker does not wait for.
- Where the document has a ``#downloads`` list, the server's files (``GET /api/files``) are listed there.
- With ``AppOptions.downloads`` (the page at ``/``), files of that list and finished uploads' links can be
  downloaded into the page (``downloads.py``: ``{kind: "download", url, name, size}`` from the list, the
  ``download`` action of an upload's row, the ``dl-*`` actions of a download's row), and downloads a previous
  page left unfinished are continued at start-up. With ``AppOptions.translate_page`` the page's own words
  are written in ``texts``' language (its HTML is English).
- With ``AppOptions.remember_plans`` each file's chunk plan is remembered across reloads (``plan_store.py``,
  the policy in ``engine/plan_cache.py``), for the server's upload TTL (``GET /api/page``): at start-up the
  uploads a previous page left unfinished are listed (``view.RememberedRow``: "choose the file again"), and a
  file chosen again with the same name, size and modification time starts uploading without being hashed
  (the engine hashes it again if the server's checks show it changed). A plan is saved once the file is
  hashed, marked used while its upload goes, and forgotten once it has finished. Once listed, ``#uploads``
  says how many in ``data-remembered``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

from frontend.browser import view
from frontend.browser.accept import refusal
from frontend.browser.download_view import page_ops
from frontend.browser.downloads import PageDownloads
from frontend.browser.i18n import EN, Texts
from frontend.browser.plan_store import PlanStore
from frontend.browser.source import BlobSource
from frontend.browser.transport import FetchTransport
from frontend.engine import ChunkPlan, UploadSnapshot, UploadState
from frontend.engine.downloader import DownloadConfig
from frontend.engine.errors import EngineError, IllegalTransition
from frontend.engine.plan_cache import Bookkeeping, Entry, FileKey, Limits
from frontend.engine.ports import HttpRequest
from frontend.engine.retry import RetryPolicy
from frontend.engine.uploader import UploadConfig, UploadController
from wire.accept import Accept

FILES_API = "/api/files"
PAGE_API = "/api/page"  # the server's settings the page uses (server/page.py)
RENDER_INTERVAL = 0.1  # seconds: at most ten repaints a second per row; state changes paint at once
# The page keeps trying while the user waits (it cannot know how long an outage lasts): waits grow to
# 15 s at most, and the "online" event cuts the current wait short.
PAGE_RETRY = RetryPolicy(base=1.0, cap=15.0, max_attempts=None)
MAX_PARALLEL = 16
MAX_STALL = 3600  # seconds: the most ``?stall=`` may ask for


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


class UploadObserver(Protocol):
    """Told about every upload (the embed's link to its host page)."""

    def snapshot(self, key: str, snapshot: UploadSnapshot) -> None:
        """Each snapshot as painted (throttled like the row), the first one when the file is added."""

    def removed(self, key: str) -> None:
        """The upload's row was removed (a new choice replaced it)."""


@dataclass(frozen=True)
class AppOptions:
    parallel: int | None = (
        None  # chunks in flight per file, 1..16; None: as the link asks (engine/in_flight.py)
    )
    texts: Texts = EN
    accept: Accept = field(default_factory=Accept)  # no rules: any file
    max_size: int | None = None  # bytes; larger files are refused before anything is read
    multiple: bool = True  # False: a new choice replaces the list
    in_worker: bool = True  # only for the status line
    origin: str | None = None  # the page's origin; None: the window's location says
    downloads: DownloadConfig | None = None  # downloads into the page (OPFS, a worker); None: none
    translate_page: bool = False  # write the page's own words in ``texts``' language
    stall_timeout: float | None = UploadConfig.stall_timeout  # seconds without progress (``?stall=``)
    token: str | None = field(default=None, repr=False)  # --auth-secret: UploadConfig.token
    remember_plans: bool = True  # remember chunk plans across reloads (OPFS), list unfinished uploads


class Upload:
    """One row and its controller (None for a file the options refused)."""

    def __init__(
        self,
        key: str,
        controller: UploadController | None,
        row: view.UploadRow,
        source: BlobSource,
        book: Bookkeeping | None = None,
    ) -> None:
        self.key = key
        self.controller = controller
        self.row = row
        self.source = source
        self.book = book  # what to do with the remembered plan as the upload goes (None: not remembered)

    @property
    def file_key(self) -> FileKey:
        return file_key(self.source)

    def same_file(self, source: BlobSource) -> bool:
        return (self.source.name, self.source.size, self.source.last_modified) == (
            source.name,
            source.size,
            source.last_modified,
        )


def file_key(source: BlobSource) -> FileKey:
    return FileKey(source.name, source.size, source.last_modified)


def parallel_from_query(query: str, default: int | None = None) -> int | None:
    """``?parallel=N`` in the page's URL fixes the chunks in flight per file (1..16); without it they follow
    the link (``engine/in_flight.py``)."""
    for pair in query.lstrip("?").split("&"):
        name, _, value = pair.partition("=")
        if name == "parallel" and value.isdigit():
            return max(1, min(MAX_PARALLEL, int(value)))
    return default


def stall_from_query(query: str, default: float | None = UploadConfig.stall_timeout) -> float | None:
    """``?stall=N`` in the page's URL sets the seconds without progress before a request is given up and
    retried (1..3600; the engine's default otherwise: ``engine/retry.py`` says why)."""
    for pair in query.lstrip("?").split("&"):
        name, _, value = pair.partition("=")
        if name == "stall" and value.isdigit():
            return float(max(1, min(MAX_STALL, int(value))))
    return default


class UploaderApp:
    """``js_intake``: what the intake's messages arrive at (its ``onmessage`` is set here);
    ``js_intake_target``: what ``rtIntake.ready(target)`` tells the intake to post to (None: its default, the
    page's worker)."""

    def __init__(
        self,
        js_window: Any,
        js_document: Any,
        js_intake: Any,
        *,
        options: AppOptions | None = None,
        observer: UploadObserver | None = None,
        js_intake_target: Any = None,
    ) -> None:
        self.js_window = js_window
        self.js_document = js_document
        self.js_intake = js_intake
        self.js_intake_target = js_intake_target
        self.options = options or AppOptions()
        self.texts = self.options.texts
        self.observer = observer
        # A worker's own location is a blob: URL: the page's origin (``main.py`` knows it already).
        self.origin = self.options.origin or str(js_window.location.origin)
        fixed = None if self.options.parallel is None else max(1, min(MAX_PARALLEL, self.options.parallel))
        self.config = UploadConfig(
            parallel=fixed or UploadConfig.parallel,
            max_parallel=fixed or UploadConfig.max_parallel,
            retry=PAGE_RETRY,
            token=self.options.token,
            stall_timeout=self.options.stall_timeout,
        )
        self.transport = FetchTransport()
        self.uploads: dict[str, Upload] = {}
        self._live: set[str] = set()  # keys whose rows are on the page (snapshots of others are dropped)
        self._keys = (f"u{n}" for n in itertools.count(1))
        self._proxies: list[Any] = []  # event handlers stay alive as long as the page
        self._tasks: set[asyncio.Task[Any]] = set()
        # The remembered plans: a store once the server's upload TTL is known (None: none this session).
        self._plans: asyncio.Future[PlanStore | None] | None = None
        # The rows of the uploads a previous page left unfinished, by ``FileKey.slug``.
        self._remembered: dict[str, tuple[view.RememberedRow, FileKey]] = {}
        self._adding = asyncio.Lock()  # files are added in the order chosen, each after its plan is looked up
        self.downloads = (
            PageDownloads(self._post, self.texts, self.options.downloads, Throttle)
            if self.options.downloads is not None
            else None
        )

    # ------------------------------------------------------------------ start-up

    def start(self) -> None:
        """Listen to the intake, tell it Python is ready (it then marks the page ready, shows ``status`` and
        hands over queued files), then list the downloads."""
        self.js_intake.onmessage = self._proxy(self.on_message)
        pyodide_version = str(sys.modules["pyodide"].__version__) if "pyodide" in sys.modules else "?"
        python = ".".join(map(str, sys.version_info[:3]))
        where = self.texts.in_worker if self.options.in_worker else self.texts.on_main_thread
        status = self.texts.ready.format(python=python, pyodide=pyodide_version, where=where)
        # One call to the page for all of it: from the worker every DOM access is a round trip.
        self.js_window.rtIntake.ready(self.js_intake_target, status)
        if self.options.translate_page:
            self._post({"kind": "page", "ops": json.dumps(page_ops(self.texts), ensure_ascii=False)})
        self._background(self.load_downloads())
        if self.options.remember_plans:
            self._plans = asyncio.get_event_loop().create_future()
            self._background(self.restore_uploads())
        if self.downloads is not None:
            self._background(self.downloads.restore())

    def _post(self, message: dict[str, Any]) -> None:
        """A message to the intake, which applies it on the page: posting does not wait for the page (a call
        through the worker's DOM proxy would, and cost the hashing its time)."""
        self.js_intake.postMessage(to_js(message, dict_converter=js.Object.fromEntries))

    def _draw_row(self, row_id: str, ops: str, html: str | None) -> None:
        """A row's repaint (``view.Draw``), posted to the intake."""
        message = {"kind": "row", "id": row_id, "ops": ops}
        if html is not None:
            message["html"] = html
        self._post(message)

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
        """What the intake posts: ``{kind: "files", files}``, ``{kind: "action", action, key}`` (a row's button
        was clicked), ``{kind: "download", url, name, size}`` (a file of the list) and ``{kind: "online"}``
        (the window's ``online`` event). The intake listens to the page's events so that the worker holds no
        listener on the page (each would be a proxy and a round trip)."""
        js_data = js_event.data
        kind = getattr(js_data, "kind", None)
        if kind == "files":
            js_files = list(js_data.files)
            if not self.options.multiple:
                js_files = js_files[-1:]  # one file at a time: the latest choice wins
            for js_file in js_files:
                self.add_file(js_file)
        elif kind == "action":
            self.on_action(str(js_data.key), str(getattr(js_data, "action", None) or "toggle"))
        elif kind == "download" and self.downloads is not None:
            size = getattr(js_data, "size", None)
            name = getattr(js_data, "name", None)
            self.downloads.add(
                str(js_data.url), str(name) if name else None, int(size) if str(size).isdigit() else None
            )
        elif kind == "online":
            self.on_online()

    def on_action(self, key: str, action: str = "toggle") -> None:
        if action.startswith("dl-"):
            if self.downloads is not None:
                self.downloads.on_action(action, key)
            return
        if action == "forget":
            self._background(self.forget(key))
            return
        upload = self.uploads.get(key)
        if upload is None:
            return
        if action == "download":
            url = upload.controller.snapshot.url if upload.controller is not None else None
            if url and self.downloads is not None:
                self.downloads.add(url)
            return
        self.toggle(upload)

    def on_online(self) -> None:
        for upload in self.uploads.values():
            if upload.controller is not None:
                upload.controller.retry_now()
        if self.downloads is not None:
            self.downloads.on_online()

    # ------------------------------------------------------------------ uploads

    def add_file(self, js_file: Any) -> None:
        source = BlobSource(js_file)
        if self._plans is None:
            self._add(js_file, source, None)
        else:
            self._background(self._add_remembered(js_file, source))

    async def _add_remembered(self, js_file: Any, source: BlobSource) -> None:
        """Add the file once its remembered plan, if any, is read (in the order the files came)."""
        async with self._adding:
            plans = await self._plans if self._plans is not None else None
            key = file_key(source)
            plan = await plans.load(key) if plans is not None else None
            remembered = self._remembered.pop(key.slug, None)
            if remembered is not None:
                remembered[0].remove()
            self._add(js_file, source, plan)

    def _add(self, js_file: Any, source: BlobSource, plan: ChunkPlan | None) -> None:
        for upload in self.uploads.values():
            controller = upload.controller
            if controller is None or not upload.same_file(source):
                continue
            if controller.state not in (UploadState.FINISHED, UploadState.FAILED):
                # Chosen again while its row is still going: continue that upload rather than start a twin.
                # (After a failure a new row starts over: the file may have changed since.)
                if controller.state is UploadState.PAUSED:
                    controller.resume()
                return
        if not self.options.multiple:
            self.clear()
        key = next(self._keys)
        refused = refusal(
            source.name,
            str(js_file.type or ""),
            source.size,
            self.options.accept,
            self.options.max_size,
            self.texts,
        )
        row = view.UploadRow(
            self._draw_row,
            key,
            source.name,
            source.size,
            self.texts,
            actions=not refused,
            downloadable=self.downloads is not None,
        )
        self._live.add(key)
        if refused is not None:
            code, message = refused
            self.uploads[key] = Upload(key, None, row, source)
            failed = UploadSnapshot(
                state=UploadState.FAILED,
                name=source.name,
                bytes_total=source.size,
                error=message,
                error_code=code,
            )
            self._paint(key, row, failed)
            return
        book = None
        if self._plans is not None and self._plans.done() and self._plans.result() is not None:
            book = Bookkeeping(plan.file_id if plan is not None else None, time.time())
        controller = UploadController(
            source,
            self.transport,
            base_url=self.origin,
            config=self.config,
            listener=Throttle(lambda snapshot: self._paint(key, row, snapshot)),
            plan=plan,
        )
        row.render(controller.snapshot)
        if plan is not None:
            row.mark("plan", "remembered")
            row.mark("plan-saved", "1")
        self.uploads[key] = Upload(key, controller, row, source, book)
        controller.start()

    def _paint(self, key: str, row: view.UploadRow, snapshot: UploadSnapshot) -> None:
        if key not in self._live:
            return  # removed meanwhile (a cancelled run still reports how it ended)
        upload = self.uploads.get(key)
        controller = upload.controller if upload is not None else None
        rehashed = controller is not None and controller.rehashed
        if rehashed:
            row.mark("plan", "rehashed")
        row.render(snapshot, rehashed)
        if self.observer is not None:
            self.observer.snapshot(key, snapshot)
        if upload is not None and upload.book is not None:
            self._keep_plan(upload, snapshot)

    # ------------------------------------------------------------------ remembered plans

    async def restore_uploads(self) -> None:
        """Ask the server for its upload TTL, then list the uploads a previous page left unfinished. Without
        an answer, nothing is remembered this time (files are hashed, as always)."""
        store: PlanStore | None = None
        try:
            ttl = await self._upload_ttl()
            if ttl is not None:
                store = PlanStore(Limits(ttl=ttl))
                for entry in await store.restore():
                    self._show_remembered(entry)
        finally:
            if self._plans is not None and not self._plans.done():
                self._plans.set_result(store)
            # ``#uploads[data-remembered]``: how many were listed ("off": nothing is remembered this time).
            listed = str(len(self._remembered)) if store is not None else "off"
            self._post({"kind": "page", "ops": json.dumps([["#uploads", "@data-remembered", listed]])})

    async def _upload_ttl(self) -> float | None:
        try:
            answer = await self.transport.request(HttpRequest("GET", self.origin + PAGE_API, timeout=15))
        except EngineError:
            return None
        body = answer.json_body
        data = body.get("data") if answer.status == 200 and isinstance(body, dict) else None
        ttl = data.get("uploadTtlSeconds") if isinstance(data, dict) else None
        return float(ttl) if isinstance(ttl, int | float) and ttl > 0 else None

    def _show_remembered(self, entry: Entry) -> None:
        slug = entry.key.slug
        if slug in self._remembered or any(u.file_key == entry.key for u in self.uploads.values()):
            return
        row = view.RememberedRow(self._draw_row, slug, entry.key.name, entry.key.size, entry.done, self.texts)
        self._remembered[slug] = (row, entry.key)

    async def forget(self, slug: str) -> None:
        """The row's "Forget": its plan goes (the server's upload stays until its TTL)."""
        remembered = self._remembered.pop(slug, None)
        if remembered is None:
            return
        row, key = remembered
        row.remove()
        plans = await self._plans if self._plans is not None else None
        if plans is not None:
            await plans.forget(key)

    def _keep_plan(self, upload: Upload, snapshot: UploadSnapshot) -> None:
        """Save, touch or forget the upload's remembered plan, as its snapshots say (``Bookkeeping``)."""
        assert upload.book is not None and self._plans is not None
        plans = self._plans.result()
        controller = upload.controller
        if plans is None or controller is None:
            return
        action = upload.book.step(snapshot, time.time())
        key = upload.file_key
        if action == Bookkeeping.SAVE and controller.plan is not None:
            self._background(self._save_plan(plans, upload, controller.plan, snapshot.bytes_done))
        elif action == Bookkeeping.TOUCH:
            self._background(plans.touch(key, snapshot.bytes_done))
        elif action == Bookkeeping.FORGET:
            self._background(self._forget_plan(plans, upload))

    async def _save_plan(self, plans: PlanStore, upload: Upload, plan: ChunkPlan, done: int) -> None:
        if await plans.save(upload.file_key, plan, done) and upload.key in self._live:
            state = upload.controller.state if upload.controller is not None else None
            if state is not UploadState.FINISHED:
                upload.row.mark("plan-saved", "1")

    async def _forget_plan(self, plans: PlanStore, upload: Upload) -> None:
        await plans.forget(upload.file_key)
        if upload.key in self._live:
            upload.row.mark("plan-saved", "0")

    def clear(self) -> None:
        """Remove every row; uploads under way stop (the server keeps what it has: choosing the file again
        resumes it)."""
        for key, upload in list(self.uploads.items()):
            self._live.discard(key)
            del self.uploads[key]
            if upload.controller is not None:
                self._background(upload.controller.cancel())
            upload.row.remove()
            if self.observer is not None:
                self.observer.removed(key)

    def toggle(self, upload: Upload) -> None:
        """The row's button: pause while sending, continue when paused, start, retry after a failure."""
        controller = upload.controller
        if controller is None:
            return
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
        if not js_list:  # JS null is None through the worker's proxy, a falsy ``jsnull`` on the main thread
            return
        failed = self.texts.downloads_failed
        try:
            answer = await self.transport.request(HttpRequest("GET", self.origin + FILES_API, timeout=30))
        except EngineError as exc:
            view.render_downloads(js_list, None, failed.format(msg=exc.msg), self.texts)
            return
        body = answer.json_body
        if answer.status == 200 and isinstance(body, dict) and isinstance(body.get("data"), list):
            files = [f for f in body["data"] if isinstance(f, dict)]
            view.render_downloads(
                js_list, files, texts=self.texts, download_button=self.downloads is not None
            )
        else:
            msg = body.get("msg") if isinstance(body, dict) else None
            problem = failed.format(msg=msg or f"HTTP {answer.status}")
            view.render_downloads(js_list, None, problem, self.texts)
