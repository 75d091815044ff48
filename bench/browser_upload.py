"""Issue 5, item 2 - in-browser upload, end to end over loopback: our page vs the seed's own client.

One file of random bytes, chosen through a real ``<input type=file>`` in Chromium, uploaded whole (hashing
included) to a fresh process of our server each run (a server that already has the file would answer at
once), by:

- ours: our uploader page (``/`` on that server), as shipped (3 chunks in flight), once Python is ready;
  from the input's ``change`` event to the row's ``data-state`` becoming ``finish`` (its link is shown then);
- the seed's client: its page and code verbatim (``tests/e2e/seed_client/``: jQuery and spark-md5 from npm)
  served from another local origin; its API calls go to ``http://localhost:8000`` as written, which Chromium
  maps to our server (``--host-resolver-rules``). From ``change`` to the link being shown (``#link a``
  gets its ``href``). The seed waits for a click on its start button after the handshake: the benchmark
  clicks as soon as the button says so, and the time between the handshake's answer and the click (the
  automation's reaction, not the client's work) is left out.

The pages record the times themselves (``performance.now()``, see ``bench.browser``); each side gets a fresh
browser and context per run, and the sides take turns going first. After each upload the stored file is
checked (its size; the server has verified its MD5 before publishing it, and the link must name the file's
MD5). Throughput is the file's size over the time (MB/s = 10^6 B/s). Informative lines split each side's
time into its two phases, hashing + handshake (from ``change`` until the upload may start) and sending, and
give our server's CPU time over the upload; another compares our sending phase with plain JavaScript in a
worker sending the same requests (``bench/pages/js_send.html``: handshake, then each needed chunk posted as
our page's form, ``file.slice()`` after the ids, as many in flight as our page; the ids are given,
nothing is hashed; served from the peers' origin, calling our server cross-origin): what the browser and
our server allow when the client adds nothing. Full runs end with one more upload by our page under V8's
sampling profiler (attached to its worker while it sends; not counted in the figures), summarised in the
notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import browser, servers
from bench.measure import CpuMeter, MiB, cpu_per_gib, mb_per_s
from bench.model import Benchmark, Context, FigureSet, Result, Target
from frontend.engine.uploader import UploadConfig

PYTHON_READY_MS = 120_000
PARALLEL = UploadConfig().parallel  # chunks in flight on our page (its default)
UPLOAD_MS = 900_000


def check_stored(data_dir: Path, link: str, ids: browser.SeedIds, size: int, who: str) -> None:
    """Raise unless ``link`` names the file by its MD5 and the server stored all ``size`` bytes of it."""
    stored = data_dir / "files" / ids.file_id
    if f"/upload/{ids.file_id}.bin" not in link:  # ours adds ?name=<the file's name>
        raise RuntimeError(f"{who}: the link {link!r} does not name the file's MD5 {ids.file_id}")
    if not stored.is_file() or stored.stat().st_size != size:
        raise RuntimeError(f"{who}: the server did not store the whole file at {stored}")


@dataclass
class Timing:
    total: float  # seconds from choosing the file to the link (the seed: without the wait for the click)
    prepare: float  # seconds from choosing the file until the upload starts (hashing + handshake)
    server_cpu: float  # seconds of CPU our server used meanwhile


async def _ours(
    ctx: Context,
    run_index: int,
    file: Path,
    ids: browser.SeedIds,
    size: int,
    profile: list[dict[str, Any]] | None = None,
) -> Timing:
    """Our page's upload; with ``profile``, its worker's CPU profile while sending is appended there."""
    data_dir = ctx.workdir / f"ours-{run_index}"
    with servers.our_server(ctx, data_dir, case="ours") as server:
        async with browser.chromium() as chrome, browser.guarded_page(chrome, browser.Guard()) as page:
            await browser.goto(page, server.url + "/")
            await browser.wait_mark(
                page, "data-python=ready", "data-python=failed", timeout_ms=PYTHON_READY_MS
            )
            worker = None
            if profile is not None:
                worker = await browser.WorkerSession.attach(chrome, server.url)
            meter = CpuMeter(server.pid).start()
            await page.set_input_files("#file-input", str(file))
            if worker is not None:
                await browser.wait_mark(page, "data-state=uploading", timeout_ms=UPLOAD_MS, poll_ms=10)
                await worker.start_profile()
            seen = await browser.wait_mark(
                page, "data-state=finish", "data-state=failed", timeout_ms=UPLOAD_MS
            )
            cpu = meter.stop()
            if worker is not None and profile is not None:
                profile.append(await worker.stop_profile())
                await worker.detach()
            if seen != "data-state=finish":
                raise RuntimeError("our page's upload failed")
            marks = await browser.marks(page)
            link = str(await page.get_attribute("li.upload a.upload-link", "href"))
        check_stored(data_dir, link, ids, size, "our page")
    total = (marks["data-state=finish"] - marks["change"]) / 1000
    return Timing(total, (marks["data-state<-hashing"] - marks["change"]) / 1000, cpu)


async def _seed(
    ctx: Context, run_index: int, site_url: str, file: Path, ids: browser.SeedIds, size: int
) -> Timing:
    data_dir = ctx.workdir / f"seed-{run_index}"
    with servers.our_server(ctx, data_dir) as server:
        async with (
            browser.chromium(seed_api=server.url) as chrome,
            browser.guarded_page(chrome, browser.Guard()) as page,
        ):
            await browser.goto(page, site_url + "/seed/")
            meter = CpuMeter(server.pid).start()
            await page.set_input_files("#file", str(file))
            await browser.wait_mark(page, "data-status=choose", timeout_ms=UPLOAD_MS)
            await page.click(".btn.control")
            await browser.wait_mark(page, f"href={browser.SEED_API}/*", timeout_ms=UPLOAD_MS)
            cpu = meter.stop()
            marks = await browser.marks(page)
            link = str(await page.text_content("#link a"))
        check_stored(data_dir, link, ids, size, "the seed's client")
    finished = next(at for name, at in marks.items() if name.startswith(f"href={browser.SEED_API}/"))
    ready, clicked = marks["data-status=choose"], marks["data-status=uploading"]
    total = (finished - marks["change"] - (clicked - ready)) / 1000
    return Timing(total, (ready - marks["change"]) / 1000, cpu)


async def _plain_js(
    ctx: Context, run_index: int, site_url: str, file: Path, ids: browser.SeedIds, size: int
) -> float:
    """Seconds the plain JavaScript sender (``bench/pages/js_send.html``) takes to send the chunks (no hashing)."""
    data_dir = ctx.workdir / f"js-{run_index}"
    with servers.our_server(ctx, data_dir) as server:
        async with browser.chromium() as chrome, browser.guarded_page(chrome, browser.Guard()) as page:
            await browser.goto(page, site_url + "/js_send.html")
            plan = {"api": server.url, "fileId": ids.file_id, "chunkIds": ids.chunk_ids, "parallel": PARALLEL}
            await page.evaluate("(plan) => { window.__plan = plan; }", plan)
            await page.set_input_files("#file", str(file))
            if await browser.wait_mark(page, "sent", "failed", timeout_ms=UPLOAD_MS) != "sent":
                raise RuntimeError(
                    f"the plain JS sender failed: {await page.evaluate('window.__benchResult')}"
                )
            marks = await browser.marks(page)
        check_stored(data_dir, f"{server.url}/upload/{ids.file_id}.bin", ids, size, "the plain JS sender")
    return (marks["sent"] - marks["change"]) / 1000


async def run(ctx: Context) -> Result:
    size = 4 * MiB if ctx.quick else 256 * MiB
    figures = FigureSet()
    figures.define("total", "choose to link, hashing included: throughput", "MB/s", Target(">=", 4))
    figures.define("prepare", "phase 1, hashing + handshake: throughput", "MB/s")
    figures.define("send", "phase 2, sending the chunks: throughput", "MB/s")
    figures.define("cpu", "our server's CPU per GiB (both clients upload to it)", "s/GiB", decimals=2)
    figures.define("js", "phase 2 vs plain JS in a worker sending the same requests: throughput", "MB/s")
    missing = browser.peers_missing()
    notes = [f"the seed's client not measured: {missing}"] if missing else []

    file = ctx.workdir / "random.bin"
    ctx.log(f"writing {size // MiB} MiB of random bytes")
    ids = browser.write_random_file(file, size)

    with browser.peer_site() as site:
        for run_index in range(ctx.runs):
            sides = ["ours", "peer"] if ctx.first(run_index) == "ours" else ["peer", "ours"]
            for side in sides:
                if side == "ours":
                    timing = await _ours(ctx, run_index, file, ids, size)
                elif not missing:
                    timing = await _seed(ctx, run_index, site.url, file, ids, size)
                else:
                    continue
                figures.add("total", side, mb_per_s(size, timing.total))
                figures.add("prepare", side, mb_per_s(size, timing.prepare))
                figures.add("send", side, mb_per_s(size, timing.total - timing.prepare))
                figures.add("cpu", side, cpu_per_gib(timing.server_cpu, size))
                if side == "ours" and not ctx.quick:
                    figures.add("js", "ours", mb_per_s(size, timing.total - timing.prepare))
                ctx.log(
                    f"run {run_index + 1} {side:4}: {timing.total:6.2f} s = {timing.prepare:6.2f} s hashing + "
                    f"handshake + {timing.total - timing.prepare:6.2f} s sending "
                    f"({mb_per_s(size, timing.total):6.1f} MB/s; server CPU {timing.server_cpu:5.2f} s)"
                )
            if not ctx.quick and not missing:  # informative: not worth the smoke test's time
                seconds = await _plain_js(ctx, run_index, site.url, file, ids, size)
                figures.add("js", "peer", mb_per_s(size, seconds))
                ctx.log(
                    f"run {run_index + 1} plain JS sender: {seconds:6.2f} s ({mb_per_s(size, seconds):6.1f} MB/s)"
                )
    if not ctx.quick:
        profiles: list[dict[str, Any]] = []
        timing = await _ours(ctx, ctx.runs, file, ids, size, profile=profiles)
        breakdown = browser.profile_breakdown(profiles[0], browser.npm_version("pyodide"))
        notes.append(
            "Where our page's worker spends the sending time (one extra run under V8's sampling profiler, from "
            f"the row's `uploading` state to `finish`, not counted above; sending at "
            f"{mb_per_s(size, timing.total - timing.prepare):.1f} MB/s, "
            + browser.describe_breakdown(breakdown)
            + ")."
        )
        ctx.log(notes[-1])
        if ctx.profile_dir is not None:
            browser.save_profile(ctx.profile_dir / "ours-sending.cpuprofile", profiles[0])
    file.unlink()

    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"our page (`/`) on {servers.our_version()}: Python worker, {PARALLEL} chunks in flight "
        f"(PyScript {browser.npm_version('@pyscript/core')}, Pyodide {browser.npm_version('pyodide')})",
        peer=None
        if missing
        else f"the seed's client verbatim (jQuery {browser.npm_version('jquery')}, spark-md5 "
        f"{browser.npm_version('spark-md5')}), one chunk at a time, against the same server",
        params={"file": f"{size // MiB} MiB", "chunk": "1 MiB", "runs": ctx.runs},
        figures=figures.build(),
        notes=notes,
    )


BENCHMARK = Benchmark(
    name="page-upload",
    title="In-browser upload, end to end: our page vs the seed's client",
    order=20,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
