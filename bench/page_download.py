"""Issue 15 - a 1 GiB download into our page (OPFS) vs ``aria2c -x4`` and ``curl``, same server, same run.

One process of our server serves one file of random bytes from its downloads folder (``--downloads-dir``;
written once per invocation, read through once so every client gets it from the page cache; its
``Repr-Digest`` is computed before anything is timed; 1 GiB, 32 MiB with ``--quick``). Each run, four clients
download it, in an order that rotates from run to run (``BENCH_PAGE_DOWNLOAD_MIB`` sets another size):

- ours: our page (``/`` on that server, as shipped: its default segment size and segments in flight, unless
  ``BENCH_PAGE_DOWNLOAD_QUERY`` adds e.g. ``dsegment=16&dparallel=4`` to its URL for an A/B), in a fresh
  Chromium with an on-disk profile (``launch_persistent_context``: a Playwright ``new_context`` is an
  incognito-like context, whose OPFS lives in memory, which is not what a person's browser does). Once Python
  is ready, the "Download" button of the file is clicked; the time runs from the click to the file handed
  over (the row's save link gets its ``blob:`` URL: every segment written to OPFS and checked against its
  ``Content-Digest``, the whole file's SHA-256 checked against ``Repr-Digest``, the OPFS ``File`` posted to
  the page). Both times are the page's own clock (``bench.browser.MARKS_JS``). The browser's own "save to
  disk" that follows is refused (``accept_downloads=False``): it is a copy after the handover. The row must
  say ``data-verified`` with ``sha-256``, no restart and no segment fetched again;
- the peer: ``aria2c -x4 -s4 -k1M`` (4 connections, 1 MiB pieces) into a temporary folder, with
  ``--file-allocation=falloc`` (its default, ``prealloc``, writes the whole file once more before it starts);
- also: ``curl -o`` (one connection) into the same folder;
- and the reference: plain JavaScript in a dedicated worker doing the page's transport and nothing else (the
  same range requests, as many in flight, each body written to an OPFS sync access handle as it arrives; no
  journal, no digest, no Python), in a fresh Chromium of its own, from another local origin (our server
  answers with CORS): what Chromium allows when the client adds nothing. Timed inside the worker.

The peers' output is checked (SHA-256) and removed after each run, the page's profile (and its OPFS file)
too, and the disk is synced before the next client starts, so no client pays for another's writeback.
Throughput is the file's size over the time (MB/s = 10^6 B/s). Memory: the page's renderer process (where its
worker, Python and the page live) by ``/proc``: its peak resident set during the download (``VmHWM``, reset at
the click through ``/proc/<pid>/clear_refs``) and that peak over its RSS at the click; the peers' peak
RSS is their whole process's (``VmHWM`` read while they run). CPU: every Chromium process (browser, network
service, renderer) by ``/proc``, the renderer apart and, within it, by thread (``/proc/<pid>/task``: the
worker thread where the page's Python runs is ``DedicatedWorker``); the peers' from ``wait4``; our server's,
per client, by ``/proc``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import BrowserContext, Page, async_playwright

from bench import browser, curl, servers
from bench.measure import CLOCK_TICKS, CpuMeter, GiB, MiB, cpu_per_gib, cpu_seconds, mb_per_s
from bench.model import Benchmark, Context, FigureSet, Result, Target
from frontend.engine.downloader import DownloadConfig
from tests.support.browser import chromium_launch_kwargs
from tests.support.digests import wait_for_repr_digest
from tests.support.server_process import ServerProcess

FILE_NAME = "big.bin"
QUERY_ENV = "BENCH_PAGE_DOWNLOAD_QUERY"
# Another size than 1 GiB, in MiB (e.g. 2048, to see whether the page's memory grows with the file).
SIZE_ENV = "BENCH_PAGE_DOWNLOAD_MIB"
PYTHON_READY_MS = 120_000
DOWNLOAD_MS = 900_000
ARIA2C = ["aria2c", "-x4", "-s4", "-k1M"]
ARIA2C_QUIET = [
    "--file-allocation=falloc",
    "--allow-overwrite=true",
    "--auto-file-renaming=false",
    "--console-log-level=error",
    "--summary-interval=0",
    "--download-result=hide",
]
SIDES = ("page", "aria2c", "curl", "plain")
WORKER_THREAD = "DedicatedWorker"  # the name (comm) of Chromium's dedicated worker threads

# Marks the click on a file's "Download" button with the page's clock (the end is the save link's href).
_MARK_CLICK = """() => document.addEventListener("click", (event) => {
  if (event.target instanceof Element && event.target.closest("button[data-action=download]")) {
    window.__benchMark("click");
  }
}, true)"""


# -- the file ----------------------------------------------------------------------------------------------------


def _write_file(path: Path, size: int) -> str:
    """``size`` random bytes (not sparse: the server reads real blocks); returns their SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for start in range(0, size, 16 * MiB):
            block = os.urandom(min(16 * MiB, size - start))
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# -- Chromium's processes, from /proc ----------------------------------------------------------------------------


def _chromium_pids() -> dict[int, list[str]]:
    """Chromium's processes started from this one (through Playwright's driver): pid -> command line."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    mine, found = os.getpid(), {}
    for pid in parent:
        ancestor = parent.get(pid)
        while ancestor not in (None, 0, 1, mine):
            ancestor = parent.get(ancestor)
        if ancestor != mine:
            continue
        try:
            exe = os.readlink(f"/proc/{pid}/exe")  # the zygote's children run as "/proc/self/exe ..."
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "chrom" in Path(exe).name:
            found[pid] = argv
    return found


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _cpu(pids: list[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        try:
            seconds[pid] = cpu_seconds(pid)
        except OSError:
            pass  # gone
    return seconds


def _threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads so far, summed by thread name (``comm``: ``DedicatedWorker thread``,
    ``CrRendererMain``, ``Chrome_ChildIOThread``...; proc(5) ``/proc/<pid>/task/<tid>/stat``)."""
    by_name: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        by_name[name] = by_name.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return by_name


def _reset_peak(pid: int) -> bool:
    """proc(5), ``/proc/<pid>/clear_refs``: "5: Reset the peak resident set size ("high water mark") to the
    process's current resident set size value." (root, Linux 4.0+); False when it cannot."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5\n")
    except OSError:
        return False
    return True


@dataclass
class ChromiumMeter:
    """CPU of every Chromium process and the renderer's memory, from the click to the handover."""

    renderer: int
    others: list[int]
    rss_at_start: int = 0  # bytes
    peak_reset: bool = False
    _cpu_start: dict[int, float] | None = None
    _threads_start: dict[str, float] | None = None
    threads: dict[str, float] | None = None  # after ``stop``: the renderer's CPU seconds by thread name

    @classmethod
    def find(cls) -> ChromiumMeter:
        """The page's renderer: the renderer process holding the most memory (Pyodide's is hundreds of MiB;
        Chromium may keep a spare, empty renderer besides)."""
        pids = _chromium_pids()
        renderers = [pid for pid, argv in pids.items() if "--type=renderer" in " ".join(argv)]
        if not renderers:
            raise RuntimeError(f"no Chromium renderer process found among {sorted(pids)}")
        renderer = max(renderers, key=lambda pid: _status_kib(pid, "VmRSS"))
        return cls(renderer, [pid for pid in pids if pid != renderer])

    def start(self) -> ChromiumMeter:
        self.rss_at_start = _status_kib(self.renderer, "VmRSS") * 1024
        self.peak_reset = _reset_peak(self.renderer)
        self._cpu_start = _cpu([self.renderer, *self.others])
        self._threads_start = _threads_cpu(self.renderer)
        return self

    def stop(self) -> tuple[float, float, int]:
        """(CPU seconds of all Chromium processes, of the renderer, the renderer's peak RSS in bytes)."""
        assert self._cpu_start is not None and self._threads_start is not None
        now = _cpu([self.renderer, *_chromium_pids()])
        threads = _threads_cpu(self.renderer)
        self.threads = {name: cpu - self._threads_start.get(name, 0.0) for name, cpu in threads.items()}
        total = sum(now[pid] - self._cpu_start.get(pid, 0.0) for pid in now)
        renderer = now[self.renderer] - self._cpu_start[self.renderer]
        return total, renderer, _status_kib(self.renderer, "VmHWM") * 1024


# -- the sides ---------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    seconds: float
    client_cpu: float  # seconds
    server_cpu: float  # seconds
    peak_rss: int  # bytes: the page's renderer, the peer's process
    renderer_cpu: float = 0.0  # the page only
    rss_growth: int = 0  # the page only: renderer peak over its RSS at the click
    threads: dict[str, float] = field(default_factory=dict)  # the page only: renderer CPU by thread name


@asynccontextmanager
async def _chromium_profile(profile: Path) -> AsyncIterator[BrowserContext]:
    """Chromium as ``bench.browser.chromium`` launches it, with an on-disk profile (OPFS on disk) and the
    browser's own downloads refused."""
    kwargs = chromium_launch_kwargs()
    kwargs["args"] = [*kwargs["args"], f"--proxy-server={browser.DEAD_PROXY}"]
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile), accept_downloads=False, viewport={"width": 1000, "height": 760}, **kwargs
        )
        try:
            yield context
        finally:
            await context.close()


async def _row(page: Page, name: str) -> dict[str, str | None]:
    return dict(
        await page.evaluate(
            """(name) => {
              const row = document.querySelector(`li.download[data-name="${name}"]`);
              if (row === null) return {};
              const text = row.querySelector(".upload-error")?.textContent ?? "";
              return {state: row.dataset.state, verified: row.dataset.verified ?? null,
                      restarts: row.dataset.restarts ?? null, refetched: row.dataset.refetched ?? null,
                      error: text || null};
            }""",
            name,
        )
    )


async def _page(ctx: Context, run_index: int, server: ServerProcess, query: str) -> Timing:
    profile = ctx.workdir / f"chromium-{run_index}"
    guard = browser.Guard()
    try:
        async with _chromium_profile(profile) as context:
            await guard.install(context)
            await context.add_init_script(browser.MARKS_JS)
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await browser.goto(page, f"{server.url}/{'?' + query if query else ''}")
            if (
                await browser.wait_mark(
                    page, "data-python=ready", "data-python=failed", timeout_ms=PYTHON_READY_MS
                )
                != "data-python=ready"
            ):
                raise RuntimeError("the page's Python did not start")
            button = page.locator(f'#downloads button[data-action=download][data-name="{FILE_NAME}"]')
            await button.wait_for(state="visible", timeout=60_000)
            await page.evaluate(_MARK_CLICK)
            meter = ChromiumMeter.find().start()
            server_meter = CpuMeter(server.pid).start()
            await button.click()
            seen = await browser.wait_mark(
                page, "href=blob:*", "data-state=failed", timeout_ms=DOWNLOAD_MS, poll_ms=20
            )
            cpu, renderer_cpu, peak = meter.stop()
            server_cpu = server_meter.stop()
            marks = await browser.marks(page)
            if not seen.startswith("href=blob:"):
                raise RuntimeError(f"the page's download failed: {await _row(page, FILE_NAME)}")
            await page.locator(f'li.download[data-name="{FILE_NAME}"][data-state=finish]').wait_for(
                state="attached", timeout=10_000
            )
            row = await _row(page, FILE_NAME)
            once = row.get("restarts") == "0" and row.get("refetched") == "0"
            if "sha-256" not in (row.get("verified") or "").split() or not once:
                raise RuntimeError(f"the page's download was not checked against its SHA-256 once: {row}")
            if errors:
                raise RuntimeError("the page raised:\n" + "\n".join(errors[:5]))
        guard.check()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if not meter.peak_reset:
        ctx.log("could not reset the renderer's peak RSS (not root?): its peak since it started is reported")
    handed_over = next(at for name, at in marks.items() if name.startswith("href=blob:"))
    seconds = (handed_over - marks["click"]) / 1000
    return Timing(
        seconds, cpu, server_cpu, peak, renderer_cpu, peak - meter.rss_at_start, dict(meter.threads or {})
    )


# The reference: plain JavaScript in a dedicated worker doing the page's transport and nothing else (the same
# range requests, as many in flight, each body written to an OPFS sync access handle as it arrives; no
# journal, no digest, no Python). Served from another local origin; our server answers it with CORS.
_PLAIN_HTML = b"""<!doctype html><meta charset="utf-8"><title>plain download</title>
<script>
window.plainDownload = (plan) => new Promise((resolve) => {
  const worker = new Worker("/plain_download_worker.js");
  worker.onmessage = (event) => resolve(event.data);
  worker.onerror = (event) => resolve({ error: String(event.message) });
  worker.postMessage(plan);
});
</script>"""
_PLAIN_WORKER = b"""onmessage = async ({ data: { url, size, segment, parallel } }) => {
  try {
    const started = performance.now();
    const root = await navigator.storage.getDirectory();
    const file = await root.getFileHandle("plain.bin", { create: true });
    const handle = await file.createSyncAccessHandle();
    handle.truncate(size);
    let next = 0;
    const lane = async () => {
      while (next < size) {
        const start = next;
        next += segment;
        const end = Math.min(start + segment, size);
        const answer = await fetch(url, { headers: { Range: `bytes=${start}-${end - 1}` }, cache: "no-store" });
        if (answer.status !== 206) throw new Error(`HTTP ${answer.status}`);
        const reader = answer.body.getReader();
        let at = start;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          at += handle.write(value, { at });
        }
        if (at !== end) throw new Error(`bytes ${start}-${end - 1}: the answer ended at ${at}`);
      }
    };
    await Promise.all(Array.from({ length: parallel }, lane));
    handle.flush();
    const written = handle.getSize();
    handle.close();
    await root.removeEntry("plain.bin");
    postMessage({ ms: performance.now() - started, written });
  } catch (error) {
    postMessage({ error: String(error) });
  }
};"""


def page_settings(query: str) -> tuple[int, int]:
    """(segment size, segments in flight) of the page at ``/?<query>``: its defaults, or ``dsegment`` (MiB,
    1..64) and ``dparallel`` (1..16) as ``frontend/browser/downloads.config_from_query`` reads them (that module
    runs in Pyodide only)."""
    config = DownloadConfig()
    values = dict(pair.partition("=")[::2] for pair in query.split("&") if pair)
    segment, parallel = values.get("dsegment", ""), values.get("dparallel", "")
    return (
        max(1, min(64, int(segment))) * MiB if segment.isdigit() else config.segment_size,
        max(1, min(16, int(parallel))) if parallel.isdigit() else config.parallel,
    )


async def _plain(
    ctx: Context, run_index: int, site_url: str, url: str, size: int, server_pid: int, query: str
) -> Timing:
    """Plain JavaScript in a worker, the page's segments and in-flight count (``_PLAIN_WORKER``)."""
    segment, parallel = page_settings(query)
    plan = {"url": url, "size": size, "segment": segment, "parallel": parallel}
    profile = ctx.workdir / f"chromium-plain-{run_index}"
    guard = browser.Guard()
    try:
        async with _chromium_profile(profile) as context:
            await guard.install(context)
            page = context.pages[0] if context.pages else await context.new_page()
            await browser.goto(page, site_url + "/plain_download.html")
            meter = ChromiumMeter.find().start()
            server_meter = CpuMeter(server_pid).start()
            answer = await page.evaluate("(plan) => window.plainDownload(plan)", plan)
            cpu, _, _ = meter.stop()
            server_cpu = server_meter.stop()
        guard.check()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if not isinstance(answer, dict) or answer.get("written") != size:
        raise RuntimeError(f"the plain JS download failed: {answer}")
    return Timing(float(answer["ms"]) / 1000, cpu, server_cpu, 0)


def _peak_kib(pid: int) -> int:
    """The process's ``VmHWM`` so far (KiB), 0 once it has exited."""
    try:
        return _status_kib(pid, "VmHWM")
    except (OSError, RuntimeError):  # gone, or a zombie (no memory left to describe)
        return 0


def _run_client(cmd: list[str], log: Path) -> tuple[float, float, int]:
    """Run a download client; (wall seconds, its CPU seconds from ``wait4``, its peak RSS in bytes).

    The peak is its ``VmHWM`` read every 20 ms while it runs, not ``wait4``'s ``ru_maxrss``: Linux keeps the
    high-water mark of the memory a process had before ``exec`` (here a copy of this Python process), so
    ``ru_maxrss`` of a small client reports this process's size."""
    peaks: list[int] = [0]
    done = threading.Event()

    def watch(pid: int) -> None:
        while not done.wait(0.02):
            peaks.append(_peak_kib(pid))

    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        watcher = threading.Thread(target=watch, args=(proc.pid,), daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        watcher.join()
    peak = max(peaks)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {log.read_text()[-1000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, peak * 1024


def _peer(cmd: list[str], out: Path, server_pid: int, sha256: str) -> Timing:
    out.parent.mkdir(parents=True, exist_ok=True)
    meter = CpuMeter(server_pid).start()
    seconds, cpu, peak = _run_client(cmd, out.with_suffix(".log"))
    server_cpu = meter.stop()
    if _sha256_of(out) != sha256:
        raise RuntimeError(f"{cmd[0]}: the file it saved is not the server's")
    return Timing(seconds, cpu, server_cpu, peak)


def _aria2c(ctx: Context, url: str, server_pid: int, sha256: str) -> Timing:
    folder = ctx.workdir / "aria2c"
    return _peer(
        [*ARIA2C, *ARIA2C_QUIET, "-d", str(folder), "-o", FILE_NAME, url],
        folder / FILE_NAME,
        server_pid,
        sha256,
    )


def _curl(ctx: Context, url: str, server_pid: int, sha256: str) -> Timing:
    out = ctx.workdir / "curl" / FILE_NAME
    return _peer(["curl", "--silent", "--show-error", "--fail", "-o", str(out), url], out, server_pid, sha256)


def _clean(ctx: Context) -> None:
    """Remove what the clients saved and write back what is dirty: the next client starts on a quiet disk."""
    for folder in ("aria2c", "curl"):
        shutil.rmtree(ctx.workdir / folder, ignore_errors=True)
    os.sync()


def _version(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip() if (done.stdout or done.stderr) else "?"


# -- the benchmark -----------------------------------------------------------------------------------------------


def _define(figures: FigureSet) -> None:
    figures.define(
        "mbps", "throughput: page (into OPFS, checked, handed over) vs aria2c -x4", "MB/s", Target(">=", 0.8)
    )
    figures.define("mbps.curl", "throughput: page vs curl -o", "MB/s")
    figures.define("cpu", "client CPU per GiB: all Chromium processes vs aria2c", "s/GiB", decimals=2)
    figures.define("cpu.curl", "client CPU per GiB: all Chromium processes vs curl", "s/GiB", decimals=2)
    figures.define("cpu.renderer", "of which the page's renderer (worker + page)", "s/GiB", decimals=2)
    figures.define("cpu.worker", "of which the page's worker thread (its Python)", "s/GiB", decimals=2)
    figures.define("server", "our server's CPU per GiB: the page's requests vs aria2c's", "s/GiB", decimals=2)
    figures.define(
        "plain", "throughput: page vs plain JS in a worker (same requests into OPFS, no checks)", "MB/s"
    )
    figures.define(
        "cpu.plain", "client CPU per GiB: all Chromium processes, page vs plain JS", "s/GiB", decimals=2
    )
    figures.define("rss", "peak RSS: the page's renderer vs aria2c", "MiB", decimals=0)
    figures.define("rss.curl", "peak RSS: the page's renderer vs curl", "MiB", decimals=0)
    figures.define("rss.growth", "the renderer's peak over its RSS at the click", "MiB", decimals=0)


def _worker_cpu(threads: dict[str, float]) -> float:
    """CPU seconds of the renderer's dedicated worker threads (the page has one: PyScript's)."""
    return sum(cpu for name, cpu in threads.items() if name.startswith(WORKER_THREAD))


def _top_threads(threads: dict[str, float], size: int) -> str:
    top = sorted(threads.items(), key=lambda item: item[1], reverse=True)[:5]
    return ", ".join(f"{name} {cpu_per_gib(cpu, size):.2f}" for name, cpu in top if cpu > 0)


def _add(figures: FigureSet, side: str, size: int, timing: Timing) -> None:
    mbps, cpu = mb_per_s(size, timing.seconds), cpu_per_gib(timing.client_cpu, size)
    rss = timing.peak_rss / MiB
    if side == "page":
        for keys, value in ((("mbps", "mbps.curl", "plain"), mbps), (("cpu", "cpu.curl", "cpu.plain"), cpu)):
            for key in keys:
                figures.add(key, "ours", value)
        figures.add("rss", "ours", rss)
        figures.add("rss.curl", "ours", rss)
        figures.add("cpu.renderer", "ours", cpu_per_gib(timing.renderer_cpu, size))
        figures.add("cpu.worker", "ours", cpu_per_gib(_worker_cpu(timing.threads), size))
        figures.add("server", "ours", cpu_per_gib(timing.server_cpu, size))
        figures.add("rss.growth", "ours", timing.rss_growth / MiB)
    elif side == "aria2c":
        for key, value in (("mbps", mbps), ("cpu", cpu), ("rss", rss)):
            figures.add(key, "peer", value)
        figures.add("server", "peer", cpu_per_gib(timing.server_cpu, size))
    elif side == "curl":
        for key, value in (("mbps.curl", mbps), ("cpu.curl", cpu), ("rss.curl", rss)):
            figures.add(key, "peer", value)
    else:
        figures.add("plain", "peer", mbps)
        figures.add("cpu.plain", "peer", cpu)


async def run(ctx: Context) -> Result:
    for tool in ("aria2c", "curl"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (bash scripts/test.sh installs it)")
    size = 32 * MiB if ctx.quick else int(os.environ.get(SIZE_ENV, "0")) * MiB or GiB
    query = os.environ.get(QUERY_ENV, "").lstrip("?")
    folder = ctx.workdir / "files"
    ctx.log(f"writing a {size // MiB} MiB file")
    sha256 = await asyncio.to_thread(_write_file, folder / FILE_NAME, size)
    os.sync()
    figures = FigureSet()
    _define(figures)
    load: list[str] = []
    threads: list[str] = []  # per run: the renderer's busiest threads

    site = browser.StaticSite(
        {"/plain_download.html": _PLAIN_HTML, "/plain_download_worker.js": _PLAIN_WORKER}
    )
    with (
        site,
        servers.our_server(ctx, ctx.workdir / "data", "--downloads-dir", str(folder), case="ours") as server,
    ):
        url = f"{server.url}/download/{FILE_NAME}"
        curl.fetch(url, [None])  # the file into the page cache, the server's first open of it
        wait_for_repr_digest(url, timeout=600)  # the one-time background SHA-256 is done before timing
        for run_index in range(ctx.runs):
            order = SIDES[run_index % len(SIDES) :] + SIDES[: run_index % len(SIDES)]
            load.append(Path("/proc/loadavg").read_text().split()[0])
            for side in order:
                if side == "page":
                    timing = await _page(ctx, run_index, server, query)
                elif side == "plain":
                    timing = await _plain(ctx, run_index, site.url, url, size, server.pid, query)
                elif side == "aria2c":
                    timing = await asyncio.to_thread(_aria2c, ctx, url, server.pid, sha256)
                else:
                    timing = await asyncio.to_thread(_curl, ctx, url, server.pid, sha256)
                await asyncio.to_thread(_clean, ctx)
                _add(figures, side, size, timing)
                extra = (
                    f"; renderer CPU {timing.renderer_cpu:5.2f} s, RSS +{timing.rss_growth / MiB:.0f} MiB; "
                    f"renderer threads, s/GiB: {_top_threads(timing.threads, size)}"
                    if side == "page"
                    else ""
                )
                rss = "" if side == "plain" else f", peak RSS {timing.peak_rss / MiB:5.0f} MiB"
                if side == "page":
                    threads.append(_top_threads(timing.threads, size))
                ctx.log(
                    f"run {run_index + 1} {side:6}: {timing.seconds:6.2f} s "
                    f"({mb_per_s(size, timing.seconds):6.1f} MB/s; client CPU {timing.client_cpu:5.2f} s, "
                    f"server CPU {timing.server_cpu:5.2f} s{rss}{extra})"
                )

    segment, parallel = page_settings(query)
    page_config = f"{segment // MiB} MiB segments, {parallel} in flight" + ("" if query else ": its defaults")
    notes = [
        f"1-minute load average at the start of each run: {', '.join(load)} (2 CPUs shared with other work)",
        (
            "the page's peak RSS is its whole renderer process's (the page, its worker, Pyodide's wasm memory, "
            "Chromium's own); the other Chromium processes (browser, network service) are not in it"
        ),
        "the renderer's busiest threads, CPU s/GiB, per run: " + "; ".join(f"({t})" for t in threads),
    ]
    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"our page (`/`, {page_config}) in {_version(['chromium', '--version'])}, headless, on-disk "
        f"profile, against {servers.our_version()}",
        peer=f"{_version(['aria2c', '--version'])}: `{' '.join(ARIA2C)} --file-allocation=falloc`; "
        f"{_version(['curl', '--version']).split(' (')[0]}: `curl -o` (the rows that name it)",
        params={"file": f"{size // MiB} MiB", "page URL": f"/?{query}" if query else "/", "runs": ctx.runs},
        figures=figures.build(),
        notes=notes,
    )


BENCHMARK = Benchmark(
    name="page-download",
    title="Issue 15, page download vs aria2c: 1 GiB into OPFS vs aria2c -x4 and curl",
    order=80,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
