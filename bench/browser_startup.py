"""Issue 5, item 5 - start-up: navigation to "Python ready" on our page vs a bare page that only calls
``loadPyodide`` from the same files.

- ours: our uploader page (``/`` on our server): PyScript starts one worker, which loads Pyodide, fetches
  the page's Python sources (one zip) into its file system, imports them and wires the page; "Python ready" is
  ``html[data-python=ready]``, which the worker sets last (``UploaderApp.start``).
- bare: ``bench/pages/bare_pyodide.html``, a module script that imports ``/vendor/pyodide/pyodide.mjs`` (at
  the exact URL our page uses, ``browser.Fulfil.page``) and
  awaits ``loadPyodide()`` on the main thread, then sets the same attribute. It is served on our server's
  origin (the benchmark answers its URL itself, with our page's headers, cross-origin isolated), so both
  pages load the very same Pyodide files from the same server.

An informative third page, ``bench/pages/bare_pyodide_worker.html``, calls ``loadPyodide()`` in a module
worker (where our page runs its Python) and sets the attribute when the worker says it is done.

The time is the page's own clock when the attribute changes (``performance.now()``: milliseconds since the
navigation started). Every page of every run gets a Chromium of its own on a fresh profile on disk
(``browser.profile_page``): cold is a first visit (empty HTTP cache, empty code cache; the server's files are
in the OS's page cache for all); warm is the same page reloaded there, a returning visitor, whose browser
has the files in its HTTP cache (revalidated or not, as the server's ``Cache-Control`` says) and V8's
compiled code of the scripts and of the wasm kept with them. Not with ``--quick``. Then, on the same profile,
a reload over a link of ``LATENCY_MS`` latency (DevTools ``Network.emulateNetworkConditions`` on the page's
session, which covers its worker's requests too; the latency is paid once per request that goes to the
network, and not by the bare pages' own documents, which DevTools answers): what a returning visitor on a real
network waits, where every file revalidated instead of taken from the cache costs a round trip. The pages
take turns going first. No Playwright route anywhere: with one, Playwright disables the HTTP cache of every
page and worker of the context (``Network.setCacheDisabled``), which made every reload a cold start for the worker
(issue 16); the bare pages are answered through the DevTools protocol for their URLs only. The notes give
when each step of a start-up was done, from the Resource Timing entries of the page and of its worker, and
how many bytes the start-up's files cost on the wire (``transferSize``: 300 B or so for a 304, 0 for a
file the cache served without asking). A full invocation makes at least 9 runs of this benchmark whatever
``--runs`` says: single starts of either page spread over about 1.5 s here, and a 5-run median moves by
about 0.2 s.
"""

from __future__ import annotations

import json
import statistics
from urllib.parse import urlsplit

from playwright.async_api import Page, Playwright

from bench import browser, servers
from bench.measure import MiB
from bench.model import Benchmark, Context, FigureSet, Result, Target

READY_MS = 180_000
LATENCY_MS = 100  # the third navigation's: a reload over a link of this latency (Chromium's emulation)
_KINDS = {"cold": "Cold", "warm": "Warm", "far": f"Warm, over a {LATENCY_MS} ms link,"}
# Not routes of our server: the benchmark answers them itself, on our server's origin.
BARE_PATH = "/bench/bare-pyodide.html"
BARE_WORKER_PATH = "/bench/bare_pyodide_worker.html"
BARE_WORKER_SCRIPT = "/bench/bare_pyodide_worker.mjs"  # the page's worker, relative to it

# Resource Timing entries, as [url, responseEnd in ms since this global's timeOrigin, transferSize], and that
# timeOrigin.
_ENTRIES_JS = (
    "JSON.stringify([performance.timeOrigin,"
    " performance.getEntriesByType('resource').map((e) => [e.name, e.responseEnd, e.transferSize])])"
)
# Milestones of a start-up, by the vendor file whose download ends them (the first entry of that name under
# ``/vendor/``: the pages name the folders by version, ``/vendor/pyodide-314.0.2/``).
_FILES = {
    "PyScript's core.js in": "core.js",
    "pyodide.mjs in": "pyodide.mjs",
    "pyodide.asm.wasm in": "pyodide.asm.wasm",
    "python_stdlib.zip in": "python_stdlib.zip",
}


def _milestones(entries: list[list[object]], offset_ms: float) -> tuple[dict[str, float], int]:
    """Seconds since navigation at which each file of ``_FILES`` was in, and our last Python source; and the
    bytes all the entries cost on the wire (``transferSize``)."""
    found: dict[str, float] = {}
    python_sources = []
    wire = 0
    for url, end, transferred in entries:
        path = urlsplit(str(url)).path
        at = (float(end) + offset_ms) / 1000  # type: ignore[arg-type]
        wire += int(transferred or 0)  # type: ignore[call-overload]
        for name, file_name in _FILES.items():
            if path.startswith("/vendor/") and path.rsplit("/", 1)[-1] == file_name and name not in found:
                found[name] = at
        if path.startswith("/py/"):
            python_sources.append(at)
    if python_sources:
        found["our Python sources in"] = max(python_sources)
    return found, wire


async def _timeline(page: Page, origin: str) -> tuple[dict[str, float], int]:
    """When the start-up's files arrived, on the page and in its worker if it has one (whose clock starts when
    the worker does: that is a milestone too); and the bytes the files cost on the wire, page and worker."""
    page_origin, page_entries = json.loads(await page.evaluate(_ENTRIES_JS))
    found, wire = _milestones(page_entries, 0.0)
    # PyScript's worker is ``blob:ORIGIN/...``, the bare page's ``ORIGIN/bench/...``.
    workers = [w for w in page.workers if w.url.removeprefix("blob:").startswith(origin + "/")]
    if not workers:
        return found, wire  # the bare page has no worker
    worker_origin, worker_entries = json.loads(await workers[0].evaluate(_ENTRIES_JS))
    offset = worker_origin - page_origin
    found["worker started"] = offset / 1000
    in_worker, worker_wire = _milestones(worker_entries, offset)
    found.update(in_worker)
    return found, wire + worker_wire


async def _start_up(
    playwright: Playwright, url: str, pages: dict[str, browser.Fulfil], warm: bool, origin: str
) -> tuple[list[tuple[float, dict[str, float], int]], str]:
    """For the page at ``url``, cold then (if asked) warm, then warm over a link of ``LATENCY_MS``: seconds from
    navigation to "Python ready", the start-up's milestones and the bytes it cost on the wire; and the browser's
    version. Every page's browser answers the same ``pages``."""
    found = []
    async with browser.profile_page(playwright, browser.Guard(pages=pages)) as page:
        version = page.context.browser.version if page.context.browser is not None else "?"

        async def far_reload(_url: str) -> None:
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Network.enable")
            link = {"offline": False, "latency": LATENCY_MS, "downloadThroughput": -1, "uploadThroughput": -1}
            await cdp.send("Network.emulateNetworkConditions", link)
            await page.reload()

        for navigate in (page.goto, lambda _url: page.reload(), far_reload)[: 3 if warm else 1]:
            await navigate(url)
            seen = await browser.wait_mark(
                page, "data-python=ready", "data-python=failed", timeout_ms=READY_MS
            )
            if seen != "data-python=ready":
                raise RuntimeError(f"Python failed to start on {url}")
            ready = (await browser.marks(page))["data-python=ready"] / 1000
            milestones, wire = await _timeline(page, origin)
            milestones["Python ready"] = ready
            found.append((ready, milestones, wire))
    return found, version


def _size(count: float) -> str:
    """Bytes on the wire, readably: MiB for downloads, KiB for revalidations (a 304 is about 300 B)."""
    return f"{count / MiB:.2f} MiB" if count >= MiB else f"{count / 1024:.1f} KiB"


def _describe(side: str, runs: list[dict[str, float]]) -> str:
    names = sorted(
        {name for run in runs for name in run}, key=lambda n: statistics.median(r.get(n, 0) for r in runs)
    )
    steps = [f"{name} {statistics.median(r[name] for r in runs if name in r):.2f} s" for name in names]
    return f"{side}: " + ", ".join(steps)


async def run(ctx: Context) -> Result:
    figures = FigureSet()
    figures.define("cold", "navigation to Python ready, cold cache", "s", Target("<=", 1.2), decimals=2)
    figures.define("warm", "navigation to Python ready, reload (warm cache)", "s", decimals=2)
    figures.define("far", f"reload (warm cache) over a {LATENCY_MS} ms link", "s", decimals=2)
    figures.define("cold.worker", "cold cache, vs bare loadPyodide in a worker", "s", decimals=2)
    figures.define("warm.worker", "reload (warm cache), vs bare loadPyodide in a worker", "s", decimals=2)
    figures.define(
        "far.worker", f"reload over a {LATENCY_MS} ms link, vs bare loadPyodide in a worker", "s", decimals=2
    )
    timelines: dict[tuple[str, str], list[dict[str, float]]] = {}
    wires: dict[tuple[str, str], list[int]] = {}
    version = "?"
    with servers.our_server(ctx, ctx.workdir / "data") as server:
        urls = {
            "ours": server.url + "/",
            "bare": server.url + BARE_PATH,
            "worker": server.url + BARE_WORKER_PATH,  # informative: not worth the smoke test's time
        }
        pages = {
            urls["bare"]: browser.Fulfil.page("bare_pyodide.html"),
            urls["worker"]: browser.Fulfil.page("bare_pyodide_worker.html"),
            server.url + BARE_WORKER_SCRIPT: browser.Fulfil.page("bare_pyodide_worker.mjs"),
        }
        sides = ["ours", "bare"] if ctx.quick else ["ours", "bare", "worker"]
        async with browser.driver() as playwright:
            for run_index in range(ctx.runs):
                shift = run_index % len(sides)  # each page goes first in turn
                found: dict[str, list[tuple[float, dict[str, float], int]]] = {}
                for side in sides[shift:] + sides[:shift]:
                    found[side], version = await _start_up(
                        playwright, urls[side], pages, not ctx.quick, server.url
                    )
                    for key, (_, milestones, wire) in zip(("cold", "warm", "far"), found[side], strict=False):
                        timelines.setdefault((key, side), []).append(milestones)
                        wires.setdefault((key, side), []).append(wire)
                    ctx.log(
                        f"run {run_index + 1} {side:6}: "
                        + ", ".join(f"{t:5.2f} s ({_size(wire)})" for t, _, wire in found[side])
                    )
                for key, index in (("cold", 0), ("warm", 1), ("far", 2)):
                    for peer, figure in (("bare", key), ("worker", f"{key}.worker")):
                        if index < len(found["ours"]) and peer in found:
                            figures.add(figure, "ours", found["ours"][index][0])
                            figures.add(figure, "peer", found[peer][index][0])
    notes = [
        f"{_KINDS[key]} start-up, when each step was done (seconds since navigation, medians over the runs; "
        "from the Resource Timing entries of the page and of its worker): "
        + "; ".join(
            _describe(label, timelines[(key, side)])
            for side, label in (("ours", "ours"), ("bare", "bare"), ("worker", "bare in a worker"))
            if (key, side) in timelines
        )
        + "."
        for key in ("cold", "warm", "far")
        if any(k == key for k, _ in timelines)
    ]
    notes += [
        f"{_KINDS[key]} start-up, bytes on the wire (medians; Resource Timing ``transferSize`` of the page's "
        "and its worker's files, the document itself not counted): "
        + "; ".join(
            f"{label} {_size(statistics.median(wires[(key, side)]))}"
            for side, label in (("ours", "ours"), ("bare", "bare"), ("worker", "bare in a worker"))
            if (key, side) in wires
        )
        + "."
        for key in ("cold", "warm", "far")
        if any(k == key for k, _ in wires)
    ]
    stdlib = (browser.NODE_MODULES / "pyodide" / "python_stdlib.zip").stat().st_size / MiB
    wasm = (browser.NODE_MODULES / "pyodide" / "pyodide.asm.wasm").stat().st_size / MiB
    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"our page (`/`): PyScript {browser.npm_version('@pyscript/core')}, one worker, "
        f"Pyodide {browser.npm_version('pyodide')}",
        peer=f"a bare page calling `loadPyodide()` (Pyodide {browser.npm_version('pyodide')}, main thread; "
        "informative lines: the same call in a module worker), same files, same server",
        params={
            "browser": f"Chromium {version}",
            "Pyodide files": f"pyodide.asm.wasm {wasm:.1f} MiB, python_stdlib.zip {stdlib:.1f} MiB",
            "runs": ctx.runs,
        },
        figures=figures.build(),
        notes=notes,
    )


BENCHMARK = Benchmark(
    name="startup",
    title="Start-up: navigation to Python ready, our page vs bare loadPyodide",
    order=50,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
    min_runs=9,  # single starts spread over about 1.5 s (2.4-3.9 s): 5-run medians move by 0.2 s
)
