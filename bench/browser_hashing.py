"""Issue 5, item 1 - in-browser hashing: our page's Python worker vs SparkMD5 the seed's way vs hash-wasm.

One file of random bytes is chosen through a real ``<input type=file>`` (Playwright's ``set_input_files``) on
each page, in Chromium, and each computes the seed's ids: the file's MD5 and every 1 MiB chunk's MD5
followed by its index. Each run uses a fresh browser context per page, and the pages take turns going
first. The time is measured by the page itself (``performance.now()``), from the input's ``change`` event
to the ids being ready:

- ours: our uploader page (``/`` on our server), once Python is ready (``html[data-python=ready]``); the
  Python worker hashes (``BlobSource.blocks``: ``file.stream()``, BYOB reader, 1 MiB buffers, hashlib).
  The end is the row leaving the ``hashing`` state: the page sends the handshake as soon as the ids are
  ready, and the benchmark fails that request in the browser (a route), so nothing is uploaded and the row
  goes to ``retrying`` at once. The handshake's body is checked against the file's ids.
- SparkMD5 the seed's way (``bench/pages/hash_spark.html``): the seed's own ``splitFile``, served verbatim
  (cut out of ``tests/e2e/seed_client/seed.js``): ``FileReader`` over 1 MiB slices, ``SparkMD5.ArrayBuffer``
  append + a separate ``SparkMD5.ArrayBuffer.hash`` per chunk (it also keeps each chunk as a ``Blob``, as
  the seed does).
- hash-wasm (``bench/pages/hash_wasm.html``): one pass over ``file.stream()`` (default reader), each piece
  fed to a whole-file ``createMD5()`` hasher and, cut at 1 MiB boundaries, to a second one for the chunks;
  both created when the page loads.

Every page's ids are checked against the file's (computed by Python's hashlib when the file is written).
Throughput is the file's size over that time (MB/s = 10^6 B/s). Two informative lines help explain the
figures: the same file read once over ``file.stream()`` without hashing (``hash_wasm.html?read-only``: how
fast the bytes come at all), and our own hashing code (``hash_file`` over ``BlobSource``, the modules our
page runs) in a bare Pyodide worker with no page around it (``bench/pages/py_hash.html``, on our server's
origin): the difference to our page is what the page adds. Full runs end with one more run of our page
under V8's sampling profiler (attached to its worker; not counted in the figures), summarised in the notes.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from pathlib import Path

from playwright.async_api import Browser

from bench import browser, servers
from bench.measure import MiB, mb_per_s
from bench.model import Benchmark, Context, FigureSet, Result, Target

PYTHON_READY_MS = 120_000
HASHED_MS = 600_000
BARE_WORKER_PAGE = "/bench/py_hash.html"  # answered by the benchmark's route, on our server's origin


async def _ours(
    chrome: Browser,
    server_url: str,
    file: Path,
    ids: browser.SeedIds,
    phases: list[dict[str, float]] | None = None,
    profile: list[dict[str, object]] | None = None,
) -> float:
    """Seconds our page takes to hash ``file``; the split of that time is appended to ``phases`` and, with
    ``profile``, its worker's CPU profile to ``profile``."""
    guard = browser.Guard(block_handshake=True)
    async with browser.guarded_page(chrome, guard) as page:
        await browser.goto(page, server_url + "/")
        await browser.wait_mark(page, "data-python=ready", "data-python=failed", timeout_ms=PYTHON_READY_MS)
        worker = await browser.WorkerSession.attach(chrome, server_url) if profile is not None else None
        if worker is not None:
            await worker.start_profile()
        await page.set_input_files("#file-input", str(file))
        await browser.wait_mark(page, "data-state<-hashing", timeout_ms=HASHED_MS)
        if worker is not None and profile is not None:
            profile.append(await worker.stop_profile())
            await worker.detach()
        marks = await browser.marks(page)
    if not guard.handshakes:
        raise RuntimeError("our page left the hashing state without sending a handshake")
    browser.check_ids("our page's handshake", guard.handshakes[0], ids)
    if phases is not None:
        started, left = marks["data-state=hashing"], marks["data-state<-hashing"]
        shown = marks.get(f"data-file-id={ids.file_id}", left)
        phases.append(
            {
                "the file reaches the worker and gets its row (`change` to the row's `hashing`)": started
                - marks["change"],
                "hashing (to the row showing the file's id, which it repaints at most every 0.1 s)": shown
                - started,
                "the rest (handshake sent and failed by the benchmark, row `retrying`)": left - shown,
            }
        )
    return (marks["data-state<-hashing"] - marks["change"]) / 1000


def _describe_phases(phases: list[dict[str, float]]) -> str:
    names = list(phases[0])
    return "; ".join(f"{name} {statistics.median(p[name] for p in phases) / 1000:.2f} s" for name in names)


async def _hash_page(
    chrome: Browser, url: str, file: Path, ids: browser.SeedIds | None, guard: browser.Guard | None = None
) -> float:
    """Seconds a page of ``bench/pages`` takes from ``change`` to its ``hashed`` mark (ids checked if given)."""
    async with browser.guarded_page(chrome, guard or browser.Guard()) as page:
        await browser.goto(page, url)
        if guard is not None and guard.pages:  # the bare Pyodide worker: wait until it can take the file
            await browser.wait_mark(page, "data-python=ready", timeout_ms=PYTHON_READY_MS)
        await page.set_input_files("#file", str(file))
        await browser.wait_mark(page, "hashed", timeout_ms=HASHED_MS)
        marks = await browser.marks(page)
        result = await page.evaluate("window.__benchResult")
    if ids is not None:
        browser.check_ids(url, result, ids)
    return (marks["hashed"] - marks["change"]) / 1000


async def run(ctx: Context) -> Result:
    size = 4 * MiB if ctx.quick else 256 * MiB
    figures = FigureSet()
    figures.define(
        "spark", "file + chunk ids, vs SparkMD5 the seed's way: throughput", "MB/s", Target(">=", 5)
    )
    figures.define(
        "wasm", "file + chunk ids, vs hash-wasm over blob.stream(): throughput", "MB/s", Target(">=", 1)
    )
    figures.define("read", "vs reading the file alone (blob.stream(), no hashing): throughput", "MB/s")
    figures.define("bare", "vs our hashing code in a bare Pyodide worker (no page): throughput", "MB/s")
    missing = browser.peers_missing()
    notes = [f"peers not measured: {missing}"] if missing else []

    file = ctx.workdir / "random.bin"
    ctx.log(f"writing {size // MiB} MiB of random bytes")
    ids = browser.write_random_file(file, size)

    with browser.peer_site() as site, servers.our_server(ctx, ctx.workdir / "data") as server:
        bare_guard = browser.Guard(
            pages={
                server.url + BARE_WORKER_PAGE: browser.Fulfil.page("py_hash.html"),
                server.url + "/bench/py_hash_worker.mjs": browser.Fulfil.page("py_hash_worker.mjs"),
            }
        )
        ours_phases: list[dict[str, float]] = []
        async with browser.chromium() as chrome:
            sides: dict[str, Callable[[], Awaitable[float]]] = {
                "ours": lambda: _ours(chrome, server.url, file, ids, phases=ours_phases),
            }
            if not missing:
                sides["spark"] = lambda: _hash_page(chrome, f"{site.url}/hash_spark.html", file, ids)
                sides["wasm"] = lambda: _hash_page(chrome, f"{site.url}/hash_wasm.html", file, ids)
            if not ctx.quick:  # the informative lines: not worth the smoke test's time
                if not missing:
                    sides["read"] = lambda: _hash_page(
                        chrome, f"{site.url}/hash_wasm.html?read-only", file, None
                    )
                sides["bare"] = lambda: _hash_page(
                    chrome, server.url + BARE_WORKER_PAGE, file, ids, bare_guard.fresh()
                )
            names = list(sides)
            for run_index in range(ctx.runs):
                shift = run_index % len(names)  # each side goes first in turn
                speeds: dict[str, float] = {}
                for name in names[shift:] + names[:shift]:
                    speeds[name] = mb_per_s(size, await sides[name]())
                for name in ("spark", "wasm", "read", "bare"):
                    if name in speeds:
                        figures.add(name, "ours", speeds["ours"])
                        figures.add(name, "peer", speeds[name])
                if len(speeds) == 1:
                    figures.add("spark", "ours", speeds["ours"])
                ctx.log(f"run {run_index + 1}: " + ", ".join(f"{n} {v:.1f} MB/s" for n, v in speeds.items()))
            notes.append(f"Our page's time, split (medians): {_describe_phases(ours_phases)}.")
            if not ctx.quick:
                profiles: list[dict[str, object]] = []
                seconds = await _ours(chrome, server.url, file, ids, profile=profiles)
                breakdown = browser.profile_breakdown(profiles[0], browser.npm_version("pyodide"))
                notes.append(
                    f"Where our page's worker spends the hashing time (one extra run under V8's sampling profiler, "
                    f"not counted above; {mb_per_s(size, seconds):.1f} MB/s, "
                    + browser.describe_breakdown(breakdown)
                    + ")."
                )
                ctx.log(notes[-1])
                if ctx.profile_dir is not None:
                    browser.save_profile(ctx.profile_dir / "ours-hashing.cpuprofile", profiles[0])
            version = chrome.version
    file.unlink()

    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours="our page (`/`), Python in one PyScript worker: `file.stream()` BYOB reader, 1 MiB buffers, hashlib "
        f"(PyScript {browser.npm_version('@pyscript/core')}, Pyodide {browser.npm_version('pyodide')})",
        peer=None
        if missing
        else f"SparkMD5 {browser.npm_version('spark-md5')} with the seed's `splitFile`; hash-wasm "
        f"{browser.npm_version('hash-wasm')} over `blob.stream()`",
        params={
            "file": f"{size // MiB} MiB",
            "chunk": "1 MiB",
            "browser": f"Chromium {version}",
            "runs": ctx.runs,
        },
        figures=figures.build(),
        notes=notes,
    )


BENCHMARK = Benchmark(
    name="hashing",
    title="In-browser hashing: our Python worker vs SparkMD5 (the seed's way) vs hash-wasm",
    order=10,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
