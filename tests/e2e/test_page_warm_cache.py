"""A returning visitor: reloading the page in a browser that keeps a profile on disk takes Pyodide and our
Python sources from the browser's cache (issue 16), in the page's worker too, where all our Python runs.

Not through ``conftest``'s ``context``: its route guard makes Playwright disable the HTTP cache of every page
and worker of the context (``Network.setCacheDisabled``), and its contexts are incognito-like (an in-memory
cache that does not keep the 9.6 MiB wasm). Requests that would leave the machine are recorded from the
context's ``request`` events instead, and must be none.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from server import page
from tests.e2e.harness import UploaderPage
from tests.support.browser import chromium_launch_kwargs, is_local
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

# Resource Timing of the worker: (path, bytes on the wire). A revalidated file costs its 304's headers (about
# 300 B), a file taken from the cache without asking costs 0, a file sent again costs its size.
_WORKER_FILES_JS = """
performance.getEntriesByType("resource").map((e) => [new URL(e.name).pathname, e.transferSize])
"""
# The start-up's big files, all loaded by the worker, at the exact URLs the page names them by
# (``server/page.py``): cached for good, so a reload does not even ask for them.
PYODIDE = page.exact_vendor()["/vendor/pyodide"]
BIG_FILES = (f"{PYODIDE}/pyodide.asm.wasm", f"{PYODIDE}/pyodide.asm.mjs", f"{PYODIDE}/python_stdlib.zip")
OUR_SOURCES = "/py/frontend-"  # + the zip's digest + ".zip"


def test_a_reload_takes_pyodide_and_our_sources_from_the_cache(server: ServerProcess, tmp_path: Path) -> None:
    offsite: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile", **chromium_launch_kwargs()
        )
        try:
            context.on(
                "request", lambda request: None if is_local(request.url) else offsite.append(request.url)
            )
            page = context.pages[0] if context.pages else context.new_page()
            ui = UploaderPage(page, server.url)
            sizes: list[dict[str, int]] = []
            for visit in range(2):
                if visit == 0:
                    ui.open()
                else:
                    page.reload()
                    ui.wait_python_ready()
                workers = [w for w in page.workers if w.url.startswith("blob:" + server.url)]
                assert len(workers) == 1, [w.url for w in page.workers]
                sizes.append({path: size for path, size in workers[0].evaluate(_WORKER_FILES_JS)})
        finally:
            context.close()
    first, again = sizes
    (sources,) = [path for path in first if path.startswith(OUR_SOURCES) and path.endswith(".zip")]
    for path in (*BIG_FILES, sources):
        assert first[path] > 10_000, (path, first)  # the first visit downloads it
        assert again[path] == 0, (path, again)  # the reload takes it from the cache without asking
    assert offsite == []
