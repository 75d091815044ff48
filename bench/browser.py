"""Chromium for the browser benchmarks (issue 5, items 1, 2 and 5): launching it, guarding its network,
serving the peers' pages, and reading times the pages themselves record.

- ``chromium()``: Chromium as the e2e tests launch it (``tests.support.browser.chromium_launch_kwargs``),
  through Playwright's async API, with every request that does not go to a loopback address sent to a proxy
  where nothing listens (so it fails). Its contexts are incognito-like: fine for anything but a returning
  visitor (see ``profile_page``). ``seed_api=URL`` maps the seed client's hard-coded
  ``http://localhost:8000`` to our server with Chromium's own ``--host-resolver-rules``
  (``MAP localhost:8000 127.0.0.1:PORT``): the page still makes a cross-origin call to ``localhost:8000``, as
  in the seed's set-up.
- ``Guard``: records every request that tried to leave the machine (from the context's ``request`` events,
  which do not pause anything) and fails the run if there was one; installs routes only where a benchmark
  needs one (``pages``: e.g. the bare ``loadPyodide`` page on our server's origin; ``block_handshake``:
  hashing measured alone, nothing uploaded). Not a catch-all route: while a context has any route, Chromium
  pauses every request for Playwright, and 1 MiB chunk uploads then ran about 4x slower (measured: 64 MiB
  with the seed's client, 34-36 MB/s without a route, 7-9 MB/s with one).
- ``profile_page``: a page of a Chromium of its own with a fresh profile on disk, which caches what a real
  browser caches (HTTP cache on disk, V8's code cache for scripts and WebAssembly): a reload is a returning
  visitor's start-up. ``Guard.pages`` are answered there through the DevTools protocol for their URLs only,
  not by a Playwright route, which would disable the HTTP cache.
- ``StaticSite``: a throw-away local HTTP server for the peers' pages (``bench/pages/``, the seed's client
  from ``tests/e2e/seed_client/``, jQuery / spark-md5 / hash-wasm from ``frontend/node_modules``).
- ``MARKS_JS``: an init script that records, with the page's own clock (``performance.now()``, ms since
  navigation started), when a file was chosen (the ``change`` event of an ``<input type=file>``) and when
  the attributes the pages use to show their state first took each value (``data-state`` and
  ``data-file-id`` of our rows, ``data-python`` of our page, ``data-status`` of the seed's button, ``href``
  of the seed's link). Times
  are read back with ``marks(page)``; they do not depend on how often Python polls.
- ``WorkerSession``: a DevTools Protocol session with a page's dedicated worker (our page's PyScript worker,
  where its Python runs): V8's sampling profiler there (``profile_breakdown`` sorts its samples into what the
  time went to: MD5, the DOM proxy, native browser work, waiting...), or an expression evaluated there.
- ``write_random_file`` / ``check_ids``: the test file and the seed's ids of it, to check every page's result.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    Request,
    Route,
    async_playwright,
)

from bench.measure import MiB
from tests.support.browser import chromium_launch_kwargs, is_local

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "bench" / "pages"
NODE_MODULES = ROOT / "frontend" / "node_modules"
SEED_CLIENT = ROOT / "tests" / "e2e" / "seed_client"
SEED_API = "http://localhost:8000"  # what the seed's client calls, verbatim
HANDSHAKE_PATH = "/api/upload/handshake"


MARKS_JS = """
(() => {
  const marks = Object.create(null);
  const mark = (name, at = performance.now()) => { if (!(name in marks)) marks[name] = at; };
  Object.defineProperty(window, "__benchMarks", { value: marks });
  Object.defineProperty(window, "__benchMark", { value: mark });
  document.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type === "file") mark("change");
  }, true);
  new MutationObserver((records) => {
    const now = performance.now();
    for (const record of records) {
      const name = record.attributeName;
      mark(`${name}=${record.target.getAttribute(name)}`, now);
      if (record.oldValue !== null) mark(`${name}<-${record.oldValue}`, now);  // first time it left a value
    }
  }).observe(document, {
    subtree: true,
    attributes: true,
    attributeOldValue: true,
    attributeFilter: ["data-state", "data-python", "data-status", "data-file-id", "href"],
  });
})();
"""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
}

# -- versions ----------------------------------------------------------------------------------------------------


def npm_version(package: str) -> str:
    """The installed version of an npm package of ``frontend/`` (``?`` when missing)."""
    manifest = NODE_MODULES / package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "?"


def peers_missing() -> str | None:
    """Why the browser peers cannot run (their npm packages, pinned by frontend/package-lock.json), or None."""
    needed = ["spark-md5/spark-md5.js", "hash-wasm/dist/md5.umd.min.js", "jquery/dist/jquery.js"]
    missing = [path for path in needed if not (NODE_MODULES / path).is_file()]
    if missing:
        return f"frontend/node_modules lacks {', '.join(missing)} (run bash scripts/setup.sh)"
    return None


# -- the seed's code, as the seed gives it ------------------------------------------------------------------------


def seed_split_file_js() -> str:
    """The seed's ``splitFile`` function, cut verbatim out of ``tests/e2e/seed_client/seed.js`` (from its doc
    comment to the line before ``// 选择文件``), for the page that hashes the seed's way."""
    source = (SEED_CLIENT / "seed.js").read_text()
    start = source.index("/**\n * 文件分片")
    end = source.index("// 选择文件")
    part = source[start:end]
    if "async function splitFile(file)" not in part:
        raise RuntimeError("seed.js changed: splitFile not found where expected")
    return "// splitFile, verbatim from tests/e2e/seed_client/seed.js\n" + part


# -- a local site for the peers' pages ---------------------------------------------------------------------------


# Pages of bench/pages served by the peers' site; the others are served on our server's origin (``Fulfil``).
PEER_PAGES = ("hash_spark.html", "hash_wasm.html", "js_send.html", "js_send_worker.js")


def peer_files() -> dict[str, bytes | Path]:
    """URL path -> content (bytes or a file) of everything the peers' pages load."""
    files: dict[str, bytes | Path] = {
        "/seed/": SEED_CLIENT / "index.html",  # its scripts are /jquery.js, /spark-md5.js and /seed.js
        "/seed.js": SEED_CLIENT / "seed.js",
        "/jquery.js": NODE_MODULES / "jquery" / "dist" / "jquery.js",
        "/spark-md5.js": NODE_MODULES / "spark-md5" / "spark-md5.js",
        "/hash-wasm-md5.js": NODE_MODULES / "hash-wasm" / "dist" / "md5.umd.min.js",
        "/seed-split-file.js": seed_split_file_js().encode(),
    }
    for name in PEER_PAGES:
        files[f"/{name}"] = PAGES / name
    return files


class StaticSite:
    """Serves fixed content (URL path -> bytes or file) from a thread; ``url`` is its origin."""

    def __init__(self, files: dict[str, bytes | Path]) -> None:
        content = {
            path: body if isinstance(body, bytes) else body.read_bytes() for path, body in files.items()
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                path = urlsplit(self.path).path
                body = content.get(path)
                if body is None:
                    self.send_error(404)
                    return
                suffix = Path(path).suffix or ".html"
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPES.get(suffix, "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def peer_site() -> Iterator[StaticSite]:
    with StaticSite(peer_files()) as site:
        yield site


# -- Chromium ----------------------------------------------------------------------------------------------------

# Every request that is not to a loopback address goes to this proxy, where nothing listens: it fails at once.
# Chromium always sends loopback requests directly (its implicit proxy bypass), so ours are not touched.
DEAD_PROXY = "http://127.0.0.1:9"


def _launch_kwargs(seed_api: str | None = None) -> dict[str, Any]:
    kwargs = chromium_launch_kwargs()
    args = [*kwargs["args"], f"--proxy-server={DEAD_PROXY}"]
    if seed_api is not None:
        target = urlsplit(seed_api)
        source = urlsplit(SEED_API)
        args.append(
            f"--host-resolver-rules=MAP {source.hostname}:{source.port} {target.hostname}:{target.port}"
        )
    kwargs["args"] = args
    return kwargs


@asynccontextmanager
async def chromium(seed_api: str | None = None) -> AsyncIterator[Browser]:
    """Chromium (headless, offline flags, off-machine requests failed by a dead proxy); with ``seed_api``,
    ``localhost:8000`` resolves to that server."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**_launch_kwargs(seed_api))
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Fulfil:
    """An answer the route gives itself instead of the server."""

    body: str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html; charset=utf-8"

    @classmethod
    def page(cls, name: str) -> Fulfil:
        """A file of ``bench/pages`` as if our server sent it: our page's headers (cross-origin isolated), and
        the vendor files at the exact URLs our page names them by (cached for good, as for our page)."""
        from server.page import ASSET_HEADERS, PAGE_HEADERS, exact_urls  # our server's own ways

        path = PAGES / name
        body = exact_urls(path.read_text())
        if path.suffix == ".html":
            return cls(body, {**PAGE_HEADERS, "Cache-Control": "no-cache"})
        return cls(body, {**ASSET_HEADERS, "Cache-Control": "no-cache"}, CONTENT_TYPES[path.suffix])


@dataclass
class Guard:
    """Watches a context's requests (without pausing them) and records any that would leave the machine (the
    dead proxy fails them); answers ``pages`` itself; with ``block_handshake``, fails the upload handshake
    before it reaches the server (its body is kept). Routes are installed only when asked for: while a context
    has any route, Chromium pauses every request of it for Playwright, which made uploads 4x slower."""

    pages: dict[str, Fulfil] = field(default_factory=dict)  # absolute URL -> answer
    block_handshake: bool = False
    offsite: list[str] = field(default_factory=list)
    handshakes: list[dict[str, Any]] = field(default_factory=list)  # bodies of the blocked handshakes

    async def install(self, context: BrowserContext) -> None:
        context.on("request", self._seen)
        for url in self.pages:
            await context.route(url, self._page)
        if self.block_handshake:
            await context.route(f"**{HANDSHAKE_PATH}*", self._handshake)  # with ?answer=ranges

    def _seen(self, request: Request) -> None:
        if not is_local(request.url):
            self.offsite.append(request.url)

    async def _page(self, route: Route) -> None:
        page = self.pages[route.request.url]
        await route.fulfill(status=200, body=page.body, content_type=page.content_type, headers=page.headers)

    async def _handshake(self, route: Route) -> None:
        if route.request.method != "POST":
            await route.fallback()
            return
        try:
            self.handshakes.append(json.loads(route.request.post_data or "null"))
        except ValueError:
            self.handshakes.append({})
        await route.abort("blockedbyclient")

    async def serve_by_devtools(self, context: BrowserContext, page: Page) -> CDPSession:
        """Answer ``pages`` through the DevTools protocol's Fetch domain, which pauses only the requests whose
        URL is one of them (the page's own and its workers'); every other request goes its normal way, HTTP
        cache included. (A Playwright route pauses every request and makes Playwright send
        ``Network.setCacheDisabled`` to every page and worker of the context: nothing is cached there.)"""
        if self.block_handshake:
            raise ValueError("block_handshake needs a route: not with serve_by_devtools")
        context.on("request", self._seen)
        cdp = await context.new_cdp_session(page)
        answering: set[asyncio.Task[None]] = set()

        async def answer(event: dict[str, Any]) -> None:
            url = event["request"]["url"]
            page = self.pages.get(url)
            if page is None:  # not ours to answer (a pattern matched more than the URL)
                await cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
                return
            headers = {**page.headers, "Content-Type": page.content_type}
            await cdp.send(
                "Fetch.fulfillRequest",
                {
                    "requestId": event["requestId"],
                    "responseCode": 200,
                    "responseHeaders": [{"name": k, "value": v} for k, v in headers.items()],
                    "body": base64.b64encode(page.body.encode()).decode("ascii"),
                },
            )

        def paused(event: dict[str, Any]) -> None:
            task = asyncio.ensure_future(answer(event))
            answering.add(task)
            task.add_done_callback(answering.discard)

        cdp.on("Fetch.requestPaused", paused)
        # Fetch.enable: "Only requests matching any of the patterns will produce fetchRequested event and
        # will be paused until clients response." ("*" and "?" are its only wildcards: our URLs have neither.)
        patterns = [{"urlPattern": url, "requestStage": "Request"} for url in self.pages]
        if patterns:
            await cdp.send("Fetch.enable", {"patterns": patterns})
        return cdp

    def fresh(self) -> Guard:
        """The same routes, nothing recorded yet (one guard per page)."""
        return Guard(pages=self.pages, block_handshake=self.block_handshake)

    def check(self) -> None:
        if self.offsite:
            raise RuntimeError(f"requests tried to leave the machine: {self.offsite}")


@asynccontextmanager
async def _failing_on_errors(page: Page) -> AsyncIterator[Page]:
    """``page`` with a minute's default timeout; what it raised (``pageerror``) fails the benchmark after."""
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    if errors:
        raise RuntimeError("the page raised:\n" + "\n".join(errors[:5]))


@asynccontextmanager
async def guarded_page(browser: Browser, guard: Guard) -> AsyncIterator[Page]:
    """A page in a fresh context (empty cache, no cookies, no storage), marks recorded, network guarded."""
    context = await browser.new_context(viewport={"width": 1000, "height": 760})
    try:
        await guard.install(context)
        await context.add_init_script(MARKS_JS)
        async with _failing_on_errors(await context.new_page()) as page:
            yield page
    finally:
        await context.close()
    guard.check()


@asynccontextmanager
async def driver() -> AsyncIterator[Playwright]:
    """Playwright's driver, for ``profile_page`` (which launches a browser per page)."""
    async with async_playwright() as playwright:
        yield playwright


@asynccontextmanager
async def profile_page(playwright: Playwright, guard: Guard) -> AsyncIterator[Page]:
    """A page of a Chromium of its own, launched on a fresh profile on disk (a first visit: empty HTTP cache,
    empty code cache), marks recorded, network guarded; reloading it is a returning visitor's start-up.

    Not one of ``guarded_page``'s contexts: those are incognito-like, their HTTP cache is in memory and does not
    keep big files (measured: on a reload there, Pyodide's 9.6 MiB ``pyodide.asm.wasm`` came whole from the
    server again, ``transferSize`` = its size, while the 2.4 MiB stdlib zip was revalidated), so V8's cache of
    its compiled code, which is kept with the HTTP cache entry, never served either. On a profile on disk the
    wasm is a 304 and V8 deserializes its compiled code (Chromium's trace: ``v8.wasm.moduleCacheHit``,
    ``wasm.Deserialize``, in the page's worker too). ``guard.pages`` are answered by ``serve_by_devtools``."""
    user_data = tempfile.mkdtemp(prefix="bench-profile-")
    try:
        context = await playwright.chromium.launch_persistent_context(
            user_data, viewport={"width": 1000, "height": 760}, **_launch_kwargs()
        )
        try:
            await context.add_init_script(MARKS_JS)
            first = context.pages[0] if context.pages else await context.new_page()
            await guard.serve_by_devtools(context, first)
            async with _failing_on_errors(first) as page:
                yield page
        finally:
            await context.close()
    finally:
        shutil.rmtree(user_data, ignore_errors=True)
    guard.check()


async def goto(page: Page, url: str) -> None:
    """Navigate, and fail at once when the page itself is not there (rather than time out waiting in it)."""
    response = await page.goto(url)
    if response is None or not response.ok:
        raise RuntimeError(f"{url}: {response.status if response else 'no answer'}")


async def marks(page: Page) -> dict[str, float]:
    """The times (ms since navigation) the page recorded, by name."""
    return dict(await page.evaluate("({...window.__benchMarks})"))


async def wait_mark(page: Page, *names: str, timeout_ms: float, poll_ms: float = 50) -> str:
    """Wait until one of ``names`` is marked (``name*``: any mark starting with ``name``); returns the mark
    seen first in ``names`` order (its time is in ``marks``)."""
    handle = await page.wait_for_function(
        """(names) => {
          const keys = Object.keys(window.__benchMarks);
          for (const name of names) {
            const found = name.endsWith("*")
              ? keys.find((key) => key.startsWith(name.slice(0, -1)))
              : keys.find((key) => key === name);
            if (found !== undefined) return found;
          }
          return false;
        }""",
        arg=list(names),
        polling=poll_ms,
        timeout=timeout_ms,
    )
    return str(await handle.json_value())


# -- the file ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedIds:
    """What the seed's client computes for a file: its MD5 and each 1 MiB chunk's MD5 followed by its index."""

    file_id: str
    chunk_ids: list[str]


def write_random_file(path: Path, size: int, chunk: int = MiB) -> SeedIds:
    """A file of ``size`` random bytes; returns its ids, computed here (hashlib) to check the pages' results."""
    whole = hashlib.md5()
    chunk_ids: list[str] = []
    with path.open("wb") as out:
        for start in range(0, size, chunk):
            block = os.urandom(min(chunk, size - start))
            out.write(block)
            whole.update(block)
            chunk_ids.append(hashlib.md5(block).hexdigest() + str(len(chunk_ids)))
    return SeedIds(whole.hexdigest(), chunk_ids)


def check_ids(where: str, got: object, expected: SeedIds) -> None:
    """Fail the run when a page's ``{fileId, chunkIds}`` are not the file's: a fast wrong hash counts for nothing."""
    file_id = got.get("fileId") if isinstance(got, dict) else None
    chunk_ids = list(got.get("chunkIds") or []) if isinstance(got, dict) else []
    if file_id != expected.file_id or chunk_ids != expected.chunk_ids:
        raise RuntimeError(
            f"{where}: wrong ids: fileId {file_id} (expected {expected.file_id}), "
            f"{len(chunk_ids)} chunk ids, first {chunk_ids[:1]} (expected {expected.chunk_ids[:1]})"
        )


# -- inside the page's worker: profile, timeline ---------------------------------------------------------------

# Functions of the pinned Pyodide's ``pyodide.asm.wasm`` that it does not export (so a profile shows only their
# index), identified by profiling a known workload: ``hashlib.md5`` over 300 MB spends 83 % of its time in
# wasm-function[5557] (HACL's MD5 block function, CPython's ``_md5``).
KNOWN_WASM: dict[str, dict[int, str]] = {"314.0.2": {5557: "MD5"}}


class WorkerSession:
    """A Chrome DevTools Protocol session with a dedicated worker, e.g. our page's PyScript worker, where all
    its Python runs. Playwright gives no CDP session for workers: this attaches through the browser's
    session (``Target.attachToTarget``; messages wrapped in ``Target.sendMessageToTarget``)."""

    def __init__(self, cdp: CDPSession, session_id: str, url: str) -> None:
        self.cdp = cdp
        self.session_id = session_id
        self.url = url
        self._ids = iter(range(1, 1_000_000_000))
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        cdp.on("Target.receivedMessageFromTarget", self._received)

    @classmethod
    async def attach(cls, browser: Browser, origin: str) -> WorkerSession:
        """The first dedicated worker of a page of ``origin`` (PyScript's workers are ``blob:ORIGIN/...``)."""
        cdp = await browser.new_browser_cdp_session()
        targets = (await cdp.send("Target.getTargets"))["targetInfos"]
        found = [
            t
            for t in targets
            if t["type"] == "worker" and t["url"].removeprefix("blob:").startswith(origin + "/")
        ]
        if not found:
            await cdp.detach()
            raise RuntimeError(f"no worker of {origin}: {[(t['type'], t['url']) for t in targets]}")
        attached = await cdp.send(
            "Target.attachToTarget", {"targetId": found[0]["targetId"], "flatten": False}
        )
        return cls(cdp, attached["sessionId"], found[0]["url"])

    def _received(self, event: dict[str, Any]) -> None:
        if event.get("sessionId") != self.session_id:
            return
        message = json.loads(event["message"])
        waiter = self._waiting.pop(message.get("id", -1), None)
        if waiter is not None and not waiter.done():
            if "error" in message:
                waiter.set_exception(RuntimeError(f"CDP: {message['error']}"))
            else:
                waiter.set_result(message.get("result", {}))

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        ident = next(self._ids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = waiter
        message = {"id": ident, "method": method, "params": params or {}}
        await self.cdp.send(
            "Target.sendMessageToTarget", {"sessionId": self.session_id, "message": json.dumps(message)}
        )
        return await asyncio.wait_for(waiter, 120)

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the worker's global scope."""
        answer = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return answer["result"].get("value")

    async def start_profile(self, interval_us: int = 500) -> None:
        """Start V8's sampling profiler (one sample every ``interval_us`` microseconds)."""
        await self.send("Profiler.enable")
        await self.send("Profiler.setSamplingInterval", {"interval": interval_us})
        await self.send("Profiler.start")

    async def stop_profile(self) -> dict[str, Any]:
        """The profile, in Chrome's ``.cpuprofile`` format (DevTools opens it)."""
        return dict((await self.send("Profiler.stop"))["profile"])

    async def detach(self) -> None:
        await self.cdp.detach()


def _category(stack: list[dict[str, Any]], md5: set[str]) -> str:
    """What one sample of our worker was doing, from its stack (innermost frame first)."""
    top = stack[0].get("functionName") or ""
    if top in ("(idle)", "(garbage collector)"):
        return {"(idle)": "idle (waiting: file reads, network, server)", "(garbage collector)": "GC"}[top]
    if top == "(program)":
        return "browser native work outside JS/wasm (Blob reads, copies, request bodies)"
    if top in md5:
        return "MD5 (wasm)"
    if any((frame.get("url") or "").startswith("blob:") for frame in stack):
        return "the page's DOM through PyScript's proxy (worker-to-page round trips)"
    if top == "fetch" or any(frame.get("functionName") == "fetch" for frame in stack[:2]):
        return "fetch() calls"
    if top.startswith("wasm-function["):
        return "CPython and the rest of Pyodide's wasm"
    return "JavaScript: Pyodide's JS<->Python glue, event-loop scheduling, Blob/FormData calls"


def profile_breakdown(profile: dict[str, Any], pyodide_version: str) -> list[tuple[str, float]]:
    """Seconds of the profiled time by category (``_category``), biggest first."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", [])}
    md5 = {
        f"wasm-function[{index}]"
        for index, name in KNOWN_WASM.get(pyodide_version, {}).items()
        if name == "MD5"
    }
    cache: dict[int, str] = {}
    spent: dict[str, float] = {}
    for node_id, delta in zip(profile.get("samples", []), profile.get("timeDeltas", []), strict=False):
        if node_id not in cache:
            stack, current = [], node_id
            while True:
                stack.append(nodes[current]["callFrame"])
                if current not in parent:
                    break
                current = parent[current]
            cache[node_id] = _category(stack, md5)
        spent[cache[node_id]] = spent.get(cache[node_id], 0.0) + max(0, delta) / 1e6
    return sorted(spent.items(), key=lambda item: item[1], reverse=True)


def save_profile(path: Path, profile: dict[str, Any]) -> None:
    """Write a profile where DevTools (Performance panel, "Load profile") can open it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile))


def describe_breakdown(breakdown: list[tuple[str, float]]) -> str:
    total = sum(seconds for _, seconds in breakdown) or 1.0
    return f"{total:.2f} s profiled: " + "; ".join(
        f"{name} {seconds:.2f} s ({seconds / total:.0%})"
        for name, seconds in breakdown
        if seconds / total >= 0.01
    )
