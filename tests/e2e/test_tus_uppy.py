"""Uppy 6 (``@uppy/core`` 6.3.1, ``@uppy/dashboard`` 6.0.3, ``@uppy/tus`` 6.0.0 with tus-js-client 4.3.1) in
real Chromium, on a page of another origin, uploading to the real server's ``/files/``.

- The page and Uppy come from a tiny static server on its own port (``http://localhost:<port>``; the tus
  server is ``http://127.0.0.1:<port>``: another origin, another site), so every tus request is cross-origin:
  preflighted, and Uppy must be able to read ``Location`` and ``Upload-Offset``. Uppy's ES modules import
  CommonJS packages, which a browser cannot load as modules: the test bundles them with the pinned esbuild
  (``tests.support.tus_clients.build_uppy``), from the pinned ``tests/support/tus_js`` package.
- The browser context has NO route handler: with one, Playwright answers CORS preflights itself (permissively)
  instead of the server. Requests off the machine are stopped by Chromium's host resolver instead (only
  localhost and 127.0.0.1 resolve), and every request the page made is checked to be local.
- Preflights and their answers are observed through the DevTools protocol (Playwright does not report them).
- Files are chosen through the Dashboard's file input and uploaded with its buttons, as a person would; each
  test ends with the MD5 of the bytes the server publishes at ``/upload/<md5><ext>``.
- ``@uppy/golden-retriever`` 6.0.0 is on the page when asked for (``retriever``): it keeps each file's bytes in
  IndexedDB (up to 10 MiB a file) and a snapshot of Uppy's state (with each file's tus upload URL), so a
  reloaded page can resume the upload.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, CDPSession, Page, sync_playwright

from tests.e2e.harness import MiB, fetch_md5, make_file, md5_of, throttle
from tests.support.browser import chromium_launch_kwargs, is_local
from tests.support.server_process import ServerProcess
from tests.support.tus_clients import build_uppy
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

UPLOAD_TIMEOUT_MS = 60_000

# The page: Uppy with the Dashboard inline and the Tus plugin, options from the query string (and GoldenRetriever
# with retriever=1). What Uppy reports goes to window.events (files as their id, name and progress; errors as
# text); what its tus-js-client read from each answer, to window.answers (null where the browser hid a header
# from the page); window.persisted() reads what GoldenRetriever kept in IndexedDB.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Uppy from another origin</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="uppy.css"></head>
<body><div id="uppy"></div>
<script type="module">
import { Uppy, Dashboard, GoldenRetriever, Tus } from './uppy.js'
const query = new URLSearchParams(location.search)
const plain = (value) => value instanceof Error ? String(value)
  : value && value.id && value.progress ? { id: value.id, name: value.name, progress: value.progress }
  : value
window.events = []
window.answers = []
const uppy = new Uppy({ autoProceed: false })
  .use(Dashboard, { inline: true, target: '#uppy', proudlyDisplayPoweredByUppy: false })
  .use(Tus, {
    endpoint: query.get('endpoint'),
    ...JSON.parse(query.get('tus') || '{}'),
    onAfterResponse: (req, res) => {
      window.answers.push({
        method: req.getMethod(), url: req.getURL(), status: res.getStatus(),
        location: res.getHeader('Location') ?? null, offset: res.getHeader('Upload-Offset') ?? null,
        length: res.getHeader('Upload-Length') ?? null,
      })
    },
  })
if (query.get('retriever')) uppy.use(GoldenRetriever)
for (const type of ['file-added', 'upload-success', 'upload-error', 'pause-all', 'resume-all',
                    'is-offline', 'back-online', 'error', 'complete', 'restored']) {
  uppy.on(type, (...args) => window.events.push({ type, args: JSON.parse(JSON.stringify(args.map(plain))) }))
}
window.uppy = uppy
// GoldenRetriever's database: the files' bytes ('files': one record per file) and its snapshot of Uppy's state
// ('metadata', under Uppy's id: JSON with each file's tus upload URL and the uploads under way).
window.persisted = () => new Promise((resolve, reject) => {
  const open = indexedDB.open('uppy-blobs')
  open.onerror = () => reject(open.error)
  open.onsuccess = () => {
    const db = open.result
    if (!db.objectStoreNames.contains('files') || !db.objectStoreNames.contains('metadata')) {
      db.close()
      resolve(null)
      return
    }
    const tx = db.transaction(['files', 'metadata'])
    const blobs = tx.objectStore('files').getAll()
    const snapshot = tx.objectStore('metadata').get(uppy.getID())
    tx.oncomplete = () => {
      db.close()
      const state = snapshot.result ? JSON.parse(snapshot.result.metadata) : { files: {}, currentUploads: {} }
      resolve({
        blobs: Object.fromEntries(blobs.result.map((b) => [b.fileID, b.data.size])),
        uploads: Object.keys(state.currentUploads || {}).length,
        tusUrls: Object.fromEntries(Object.values(state.files).map((f) => [f.id, f.tus?.uploadUrl ?? null])),
      })
    }
    tx.onerror = () => { db.close(); reject(tx.error) }
  }
})
document.documentElement.dataset.ready = 'yes'
</script></body></html>
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page's origin: ``http://localhost:<port>`` serving the page and the Uppy bundle."""
    folder = build_uppy(tmp_path_factory.mktemp("uppy-site"))
    (folder / "index.html").write_text(PAGE)
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Chromium as the other e2e tests launch it, resolving no host but this machine's."""
    kwargs = chromium_launch_kwargs()
    only_local = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"
    kwargs["args"] = [*kwargs["args"], only_local]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**kwargs)
        yield browser
        browser.close()


@dataclass
class Traffic:
    """What the page sent, as Chromium reports it: requests (Playwright) and preflights (DevTools, as
    Playwright does not report them), and what it logged as errors."""

    requests: list[str] = field(default_factory=list)  # urls
    preflights: list[tuple[str, str]] = field(default_factory=list)  # (the request's method, url)
    preflight_answers: dict[str, int] = field(default_factory=dict)  # url -> status of its last preflight
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page, cdp: CDPSession) -> None:
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        cdp.send("Network.enable")
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceived", self._received)

    def _sent(self, event: dict[str, Any]) -> None:
        if event["initiator"]["type"] == "preflight":
            method = event["request"]["headers"].get("Access-Control-Request-Method", "?")
            self.preflights.append((method, event["request"]["url"]))

    def _received(self, event: dict[str, Any]) -> None:
        if event["type"] == "Preflight":
            self.preflight_answers[event["response"]["url"]] = event["response"]["status"]

    def offsite(self) -> list[str]:
        return [url for url in self.requests if not is_local(url)]


@dataclass
class UppyPage:
    page: Page
    cdp: CDPSession
    traffic: Traffic

    def open(self, site: str, server: ServerProcess, retriever: bool = False, **tus: Any) -> None:
        query = f"endpoint={quote(server.url + '/files/')}&tus={quote(json.dumps(tus))}"
        if retriever:
            query += "&retriever=1"
        self.page.goto(f"{site}/?{query}")
        self.page.wait_for_selector("html[data-ready=yes]")

    def reload(self) -> None:
        self.page.reload()
        self.page.wait_for_selector("html[data-ready=yes]")

    def files(self) -> list[dict[str, Any]]:
        """Uppy's files as its state has them: id, whether restored and a ghost (restored without bytes), size."""
        found: list[dict[str, Any]] = self.page.evaluate(
            "window.uppy.getFiles().map(f => ({ id: f.id, restored: Boolean(f.isRestored),"
            " ghost: Boolean(f.isGhost), size: f.data ? f.data.size : null }))"
        )
        return found

    def persisted(self) -> dict[str, Any] | None:
        """What GoldenRetriever kept in IndexedDB: ``blobs`` (file id -> size), ``uploads`` (how many under
        way), ``tusUrls`` (file id -> its tus upload URL)."""
        found: dict[str, Any] | None = self.page.evaluate("window.persisted()")
        return found

    def choose(self, path: Path) -> None:
        """Through the Dashboard's own file input."""
        self.page.locator('input.uppy-Dashboard-input[name="files[]"]').first.set_input_files(str(path))
        self.wait_event("file-added")

    def upload(self) -> None:
        self.page.locator(".uppy-StatusBar-actionBtn--upload").click()

    def toggle_pause(self) -> None:
        self.page.locator("button[data-cy=togglePauseResume]").click()

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.page.evaluate("window.events") if e["type"] == kind]

    def wait_event(self, kind: str, count: int = 1) -> dict[str, Any]:
        self.page.wait_for_function(
            "([kind, count]) => window.events.filter(e => e.type === kind).length >= count",
            arg=[kind, count],
            timeout=UPLOAD_TIMEOUT_MS,
        )
        return self.events(kind)[count - 1]

    def answers(self, method: str | None = None) -> list[dict[str, Any]]:
        """What tus-js-client read from each answer (``method``, ``status``, ``location``, ``offset``...)."""
        found: list[dict[str, Any]] = self.page.evaluate("window.answers")
        return [a for a in found if method is None or a["method"] == method]

    def wait_answers(self, method: str, status: int, count: int) -> None:
        self.page.wait_for_function(
            "([method, status, count]) =>"
            " window.answers.filter(a => a.method === method && a.status === status).length >= count",
            arg=[method, status, count],
            timeout=UPLOAD_TIMEOUT_MS,
        )


@pytest.fixture
def uppy(browser: Browser) -> Iterator[UppyPage]:
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    page = context.new_page()
    page.set_default_timeout(30_000)
    cdp = context.new_cdp_session(page)
    traffic = Traffic()
    traffic.watch(page, cdp)
    yield UppyPage(page, cdp, traffic)
    context.close()
    assert traffic.offsite() == [], f"requests tried to leave the machine: {traffic.offsite()}"


def stored_url(server: ServerProcess, path: Path) -> str:
    return f"{server.url}/upload/{md5_of(path)}{path.suffix}"


def tus_head(url: str) -> dict[str, str]:
    request = urllib.request.Request(url, method="HEAD", headers={"Tus-Resumable": "1.0.0"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
        return dict(answer.headers)


def test_uppy_uploads_from_another_origin(
    uppy: UppyPage, site: str, server: ServerProcess, tmp_path: Path
) -> None:
    size = 4 * MiB + 3
    source = make_file(tmp_path, "holiday photo.jpg", size, seed=21)
    uppy.open(site, server, chunkSize=MiB)
    assert urlsplit(site).netloc != urlsplit(server.url).netloc
    uppy.choose(source)
    uppy.upload()
    complete = uppy.wait_event("complete")["args"][0]
    assert len(complete["successful"]) == 1 and complete["failed"] == [], complete
    upload_url = uppy.wait_event("upload-success")["args"][1]["uploadURL"]
    assert upload_url.startswith(f"{server.url}/files/")

    # What tus-js-client could read: Location on creation, Upload-Offset on each append (else it fails).
    answers = [(a["method"], a["status"], a["location"], a["offset"]) for a in uppy.answers()]
    assert answers == [("POST", 201, upload_url, None)] + [
        ("PATCH", 204, None, str(offset)) for offset in (MiB, 2 * MiB, 3 * MiB, 4 * MiB, size)
    ]
    # The browser asked the server itself (no Playwright route answers for it) before creating, appending.
    assert ("POST", f"{server.url}/files/") in uppy.traffic.preflights
    assert ("PATCH", upload_url) in uppy.traffic.preflights
    assert set(uppy.traffic.preflight_answers.values()) == {204}, uppy.traffic.preflight_answers

    headers = tus_head(upload_url)
    assert headers["Upload-Offset"] == headers["Upload-Length"] == str(size)
    assert fetch_md5(stored_url(server, source)) == md5_of(source)
    assert uppy.traffic.errors == []
    assert server.errors_logged() == []


def test_uppy_pause_resume_and_offline(
    uppy: UppyPage, site: str, server: ServerProcess, tmp_path: Path
) -> None:
    """With the upload throttled (DevTools, 2 MiB/s), the Dashboard's pause button stops it during its second
    chunk (the server keeps what arrived of it); resuming asks the server where it stands (HEAD) and goes on
    from there; the network then goes offline (Uppy waits for it to come back) and comes back: the upload
    finishes, and the stored file is exact."""
    size = 5 * MiB + 1
    source = make_file(tmp_path, "lecture.mp4", size, seed=22)
    uppy.open(site, server, chunkSize=MiB)
    throttle(uppy.cdp, 2 * MiB)
    uppy.choose(source)
    uppy.upload()
    uppy.wait_answers("PATCH", 204, 1)
    uppy.toggle_pause()
    uppy.wait_event("pause-all")
    url = uppy.answers("POST")[0]["location"]
    at_pause = int(tus_head(url)["Upload-Offset"])
    assert MiB <= at_pause < size

    seen = len(uppy.answers())
    uppy.toggle_pause()
    uppy.wait_event("resume-all")
    appended = [a for a in uppy.answers("PATCH") if a["status"] == 204]
    uppy.wait_answers("PATCH", 204, len(appended) + 1)
    after = uppy.answers()[seen:]
    assert (after[0]["method"], after[0]["status"]) == ("HEAD", 200), "resuming asks for the offset"
    assert int(after[0]["offset"]) >= at_pause

    throttle(uppy.cdp, 2 * MiB, offline=True)
    uppy.wait_event("is-offline")
    assert uppy.events("complete") == [], "the network went offline after the upload ended"
    throttle(uppy.cdp, 2 * MiB, offline=False)
    uppy.wait_event("back-online")
    complete = uppy.wait_event("complete")["args"][0]
    assert len(complete["successful"]) == 1 and complete["failed"] == [], complete
    assert uppy.wait_event("upload-success")["args"][1]["uploadURL"] == url
    answers = uppy.answers()
    # One upload, never re-created; asked for its offset on resuming and after the network came back (the
    # PATCH in flight went on offline, the next one failed); offsets only ever went forward. A PATCH may meet
    # 423 if the server has not yet finished with the request the pause cut off: tus-js-client then retries.
    others = [(a["method"], a["status"]) for a in answers if a["method"] != "PATCH"]
    assert others[0] == ("POST", 201) and set(others[1:]) == {("HEAD", 200)} and len(others) >= 3, answers
    assert {a["status"] for a in answers if a["method"] == "PATCH"} <= {204, 423}, answers
    offsets = [int(a["offset"]) for a in answers if a["offset"] is not None]
    assert offsets == sorted(offsets) and offsets[-1] == size, answers
    assert tus_head(url)["Upload-Offset"] == str(size)
    assert fetch_md5(stored_url(server, source)) == md5_of(source)
    assert server.errors_logged() == []


def test_uppy_on_a_page_the_server_does_not_allow(
    uppy: UppyPage, site: str, make_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """The same page against a server whose ``--cors-origins`` does not list it: the server refuses the
    preflight, the browser does not send the POST, Uppy reports the upload failed. So the server's own CORS
    answers are what let the other tests' uploads through."""
    server = make_server("--cors-origins", "https://app.example")
    source = make_file(tmp_path, "refused.bin", MiB, seed=23)
    uppy.open(site, server, retryDelays=[])
    uppy.choose(source)
    uppy.upload()
    error = json.dumps(uppy.wait_event("upload-error")["args"])
    assert "This looks like a network error" in error, error  # what a blocked request looks like to a page
    complete = uppy.wait_event("complete")["args"][0]
    assert complete["successful"] == [] and len(complete["failed"]) == 1
    assert uppy.traffic.preflights == [("POST", f"{server.url}/files/")]
    assert uppy.traffic.preflight_answers == {f"{server.url}/files/": 403}
    assert uppy.answers() == []  # no answer reached tus-js-client
    assert any("CORS policy" in e for e in uppy.traffic.errors), uppy.traffic.errors
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(stored_url(server, source), timeout=10)
    assert missing.value.code == 404


def test_uppy_golden_retriever_resumes_after_a_reload(
    uppy: UppyPage, site: str, server: ServerProcess, tmp_path: Path
) -> None:
    """With GoldenRetriever, the page is reloaded while the upload is under way (throttled to 512 KiB/s, once
    the server kept the first MiB and GoldenRetriever kept the file's bytes and its upload URL). The reloaded
    page restores the file from IndexedDB; "Upload" resumes it: the same upload URL, asked for its offset
    (HEAD), continued from there and not from 0, never created again; the stored file is exact."""
    size = 4 * MiB + 5
    source = make_file(tmp_path, "interview.wav", size, seed=24)
    uppy.open(site, server, retriever=True, chunkSize=MiB)
    throttle(uppy.cdp, MiB / 2)  # 8 s for the whole file: the reload comes long before its end
    uppy.choose(source)
    file_id = uppy.events("file-added")[0]["args"][0]["id"]
    uppy.upload()
    uppy.wait_answers("PATCH", 204, 1)
    url = uppy.answers("POST")[0]["location"]
    assert url.startswith(f"{server.url}/files/")

    def kept() -> bool:
        found = uppy.persisted()
        return (
            found is not None
            and found["blobs"].get(file_id) == size
            and found["tusUrls"].get(file_id) == url
            and found["uploads"] == 1
        )

    wait_until(kept, timeout=30, what="GoldenRetriever to keep the file's bytes and its upload URL")
    before_reload = int(tus_head(url)["Upload-Offset"])
    assert MiB <= before_reload < size
    first_session = uppy.answers()
    assert [(a["method"], a["status"]) for a in first_session] == [("POST", 201)] + [("PATCH", 204)] * (
        len(first_session) - 1
    )
    assert uppy.events("complete") == [], "the upload ended before the reload"

    uppy.reload()
    uppy.wait_event("restored")
    assert uppy.files() == [{"id": file_id, "restored": True, "ghost": False, "size": size}]
    uppy.page.locator(".uppy-Dashboard-serviceMsg").wait_for(state="visible")  # "Session restored"
    at_restore = int(tus_head(url)["Upload-Offset"])  # the PATCH the reload cut off kept what arrived of it
    assert before_reload <= at_restore < size
    throttle(uppy.cdp, None)
    uppy.upload()  # the Dashboard's button on a restored session: GoldenRetriever's restore-confirmed
    complete = uppy.wait_event("complete")["args"][0]
    assert len(complete["successful"]) == 1 and complete["failed"] == [], complete
    assert uppy.wait_event("upload-success")["args"][1]["uploadURL"] == url

    answers = uppy.answers()  # the second session's
    assert all(a["url"] == url for a in answers), "the second session spoke only to the same upload"
    head, *rest = answers
    assert (head["method"], head["status"]) == ("HEAD", 200), answers
    resumed_at = int(head["offset"])
    assert resumed_at >= at_restore, answers
    # A PATCH may meet 423 while the server still handles the one the reload cut off; tus-js-client retries.
    allowed = {("PATCH", 204), ("PATCH", 423), ("HEAD", 200)}
    assert {(a["method"], a["status"]) for a in rest} <= allowed, answers
    appended = [int(a["offset"]) for a in rest if (a["method"], a["status"]) == ("PATCH", 204)]
    assert appended[0] == min(resumed_at + MiB, size) and appended[-1] == size, answers
    assert tus_head(url)["Upload-Offset"] == str(size)
    assert fetch_md5(stored_url(server, source)) == md5_of(source)
    assert uppy.traffic.errors == []
    assert server.errors_logged() == []
