"""Issue 5, item 5 - start-up: navigation to "Python ready" on our page vs a bare page that only calls
``loadPyodide`` from the same files.

- ours: our uploader page (``/`` on our server): PyScript starts one worker, which loads Pyodide, fetches
  the page's Python sources (one zip) into its file system, imports them and wires the page; "Python ready" is
  ``html[data-python=ready]``, which the worker sets last (``UploaderApp.start``).
- bare: ``bench/pages/bare_pyodide.html``, a module script that imports ``/vendor/pyodide/pyodide.mjs`` and
  awaits ``loadPyodide()`` on the main thread, then sets the same attribute. It is served on our server's
  origin (the benchmark's route answers its URL with our page's headers, cross-origin isolated), so both
  pages load the very same Pyodide files from the same server.

An informative third page, ``bench/pages/bare_pyodide_worker.html``, calls ``loadPyodide()`` in a module
worker (where our page runs its Python) and sets the attribute when the worker says it is done.

The time is the page's own clock when the attribute changes (``performance.now()``: milliseconds since the
navigation started). Cold: every run opens each page in a fresh browser context (empty HTTP cache, no
compiled-code cache); the server's files are in the OS's page cache for all. Warm, informative: the same
page reloaded in that context (its cache then holds the files; our server has them revalidated,
``no-cache``); not with ``--quick``. The pages take turns going first; every context has the same routes
installed (Chromium then pauses every request of the context for Playwright, a small cost per request that
all pages pay). The notes give when each step of a start-up was done, from the Resource Timing entries of
the page and of its worker. A full invocation makes at least 9 runs of this benchmark whatever ``--runs``
says: single starts of either page spread over about 1.5 s here, and a 5-run median moves by about 0.2 s.
"""

from __future__ import annotations

import json
import statistics
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page

from bench import browser, servers
from bench.measure import MiB
from bench.model import Benchmark, Context, FigureSet, Result, Target

READY_MS = 180_000
# Not routes of our server: the benchmark's route answers them, on our server's origin.
BARE_PATH = "/bench/bare-pyodide.html"
BARE_WORKER_PATH = "/bench/bare_pyodide_worker.html"
BARE_WORKER_SCRIPT = "/bench/bare_pyodide_worker.mjs"  # the page's worker, relative to it

# Resource Timing entries, as [url, responseEnd in ms since this global's timeOrigin], and that timeOrigin.
_ENTRIES_JS = (
    "JSON.stringify([performance.timeOrigin,"
    " performance.getEntriesByType('resource').map((e) => [e.name, e.responseEnd])])"
)
# Milestones of a start-up, by the URL whose download ends them (the first entry whose path ends so).
_FILES = {
    "PyScript's core.js in": "/vendor/pyscript/core.js",
    "pyodide.mjs in": "/vendor/pyodide/pyodide.mjs",
    "pyodide.asm.wasm in": "/vendor/pyodide/pyodide.asm.wasm",
    "python_stdlib.zip in": "/vendor/pyodide/python_stdlib.zip",
}


def _milestones(entries: list[list[object]], offset_ms: float) -> dict[str, float]:
    """Seconds since navigation at which each file of ``_FILES`` was in, and our last Python source."""
    found: dict[str, float] = {}
    python_sources = []
    for url, end in entries:
        path = urlsplit(str(url)).path
        at = (float(end) + offset_ms) / 1000  # type: ignore[arg-type]
        for name, suffix in _FILES.items():
            if path == suffix and name not in found:
                found[name] = at
        if path.startswith("/py/"):
            python_sources.append(at)
    if python_sources:
        found["our Python sources in"] = max(python_sources)
    return found


async def _timeline(chrome: Browser, page: Page, origin: str) -> dict[str, float]:
    """When the start-up's files arrived, on the page and in its worker if it has one (whose clock starts when
    the worker does: that is a milestone too)."""
    page_origin, page_entries = json.loads(await page.evaluate(_ENTRIES_JS))
    found = _milestones(page_entries, 0.0)
    try:
        worker = await browser.WorkerSession.attach(chrome, origin)
    except RuntimeError:
        return found  # the bare page has no worker
    try:
        worker_origin, worker_entries = json.loads(await worker.evaluate(_ENTRIES_JS))
    finally:
        await worker.detach()
    offset = worker_origin - page_origin
    found["worker started"] = offset / 1000
    found.update(_milestones(worker_entries, offset))
    return found


async def _start_up(
    chrome: Browser, url: str, pages: dict[str, browser.Fulfil], warm: bool, origin: str
) -> list[tuple[float, dict[str, float]]]:
    """For the page at ``url``, cold then (if asked) warm: seconds from navigation to "Python ready", and the
    start-up's milestones. Every page's context gets the same routes (``pages``)."""
    found = []
    async with browser.guarded_page(chrome, browser.Guard(pages=pages)) as page:
        for navigate in (page.goto, lambda _url: page.reload())[: 2 if warm else 1]:
            await navigate(url)
            seen = await browser.wait_mark(
                page, "data-python=ready", "data-python=failed", timeout_ms=READY_MS
            )
            if seen != "data-python=ready":
                raise RuntimeError(f"Python failed to start on {url}")
            ready = (await browser.marks(page))["data-python=ready"] / 1000
            milestones = await _timeline(chrome, page, origin)
            milestones["Python ready"] = ready
            found.append((ready, milestones))
    return found


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
    figures.define("cold.worker", "cold cache, vs bare loadPyodide in a worker", "s", decimals=2)
    figures.define("warm.worker", "reload (warm cache), vs bare loadPyodide in a worker", "s", decimals=2)
    timelines: dict[tuple[str, str], list[dict[str, float]]] = {}
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
        async with browser.chromium() as chrome:
            for run_index in range(ctx.runs):
                shift = run_index % len(sides)  # each page goes first in turn
                found: dict[str, list[tuple[float, dict[str, float]]]] = {}
                for side in sides[shift:] + sides[:shift]:
                    found[side] = await _start_up(chrome, urls[side], pages, not ctx.quick, server.url)
                    for key, (_, milestones) in zip(("cold", "warm"), found[side], strict=False):
                        timelines.setdefault((key, side), []).append(milestones)
                    ctx.log(
                        f"run {run_index + 1} {side:6}: " + ", ".join(f"{t:5.2f} s" for t, _ in found[side])
                    )
                for key, index in (("cold", 0), ("warm", 1)):
                    for peer, figure in (("bare", key), ("worker", f"{key}.worker")):
                        if index < len(found["ours"]) and peer in found:
                            figures.add(figure, "ours", found["ours"][index][0])
                            figures.add(figure, "peer", found[peer][index][0])
            version = chrome.version
    notes = [
        f"{key.capitalize()} start-up, when each step was done (seconds since navigation, medians over the runs; "
        "from the Resource Timing entries of the page and of its worker): "
        + "; ".join(
            _describe(label, timelines[(key, side)])
            for side, label in (("ours", "ours"), ("bare", "bare"), ("worker", "bare in a worker"))
            if (key, side) in timelines
        )
        + "."
        for key in ("cold", "warm")
        if any(k == key for k, _ in timelines)
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
