"""Issue 16 - in-browser upload over an emulated WAN link: our page (1, 3, 6 chunks in flight) vs the seed's
client, both vs what the link itself allows.

The link is Chromium's own network emulation (DevTools ``Network.emulateNetworkConditions`` on the page's
session: upload and download throughput in bytes/s, and a latency in ms), set once the page is loaded (our
page: once its Python is ready), so only the upload goes through it. Our page's requests are made by its
PyScript worker: the page's emulation applies to them too (the worker's own DevTools session refuses
``emulateNetworkConditions``: "Not supported"), and every run checks it did: the sending phase may not be
shorter than the link needs for the file's bytes, or the run fails. Profiles: 80 ms with 40 Mbit/s both ways,
and 200 ms with 100 Mbit/s both ways (the two targets of issue 16); ``--quick``: 8 MiB on the first one only.

What the emulation models, from Chromium's ``services/network/throttling/throttling_network_interceptor.cc``:
one shared budget per direction, handed out in 1,500-byte packets round robin to the requests sending at the
time (the request bodies are read at that pace), and the latency once per request: the answer is held back
until ``latency`` ms after the request's body was sent. So each chunk request costs its bytes at the link's
rate plus one latency of waiting, and what keeps the link busy meanwhile is the other chunks in flight (about
``latency x rate`` bytes of them: 0.4 MB at 80 ms / 40 Mbit/s, 2.5 MB at 200 ms / 100 Mbit/s). What it does
not model: TCP itself (the connection's handshake round trips, slow start and the congestion window, the
receive window's limit on the bytes in flight per connection, losses), queues growing the delay when the link
is full, or the server being far away (it runs on loopback: its answers are as fast as on a LAN). Chromium's
real limit of 6 HTTP/1.1 connections per host does apply.

Each upload: a 64 MiB file of random bytes chosen through a real ``<input type=file>``, to a fresh process of
our server, in a fresh browser; from the ``change`` event to the link (as ``page-upload`` measures: our row's
``data-state`` becoming ``finish``; the seed's ``#link a`` getting its ``href``, the wait for the click on its
start button left out). Sides:

- ours: our page (``/``) as shipped (3 to 6 chunks in flight, as many as the link's bandwidth-delay product
  asks: ``frontend/engine/in_flight.py``), then with a fixed number, ``?parallel=1``, ``3`` and ``6``;
- the seed's client, verbatim (one chunk at a time, jQuery + spark-md5), against the same server;
- the link: ``size x 8 / rate`` plus one latency, the least any client can take (hashing not counted);
- three files at once: our page as shipped, three different 64 MiB files chosen together, from ``change``
  to the last row's ``finish``, vs the link's time for the three;
- a control, plain JavaScript in a worker sending the same requests (``bench/pages/js_send.html``, as in
  ``page-upload``: handshake, then the chunks, the same number in flight, the ids given so nothing is
  hashed; from ``change`` to its last answer), next to our page's sending phase alone (from the end of the
  first handshake to ``finish``): what this emulated link, Chromium and our server allow a client that adds
  nothing. Both as "x of the link" (the JS sender's time includes its handshake and CORS preflight: two
  latencies more than our sending phase).

"x of the link" is the link's time over the measured time (1.00x: as fast as the link allows). The sides
take turns going first; each run uses fresh files and servers. The machine's load average is noted: the
hashing before the first chunk is CPU work, the rest is paced by the emulated link.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import CDPSession, Page

from bench import browser, servers
from bench.browser_upload import check_stored
from bench.measure import MiB
from bench.model import Benchmark, Context, FigureSet, Result, Target
from frontend.engine.uploader import UploadConfig

ROOT = Path(__file__).resolve().parents[1]
PYTHON_READY_MS = 120_000
UPLOAD_MS = 900_000
DEFAULT_PARALLEL = UploadConfig().parallel  # chunks in flight per file on our page as shipped, at least
DEFAULT_MAX_PARALLEL = UploadConfig().max_parallel  # and at most, as the link asks (engine/in_flight.py)
MEASURED_PARALLEL = (1, 3, 6)  # the "measure 1, 3, 6"
THREE = 3  # files chosen together


@dataclass(frozen=True)
class Link:
    """An emulated link: latency (ms, per request) and throughputs (Mbit/s, 10^6 bit/s)."""

    latency_ms: float
    up_mbit: float
    down_mbit: float
    target: float  # x of the link our page as shipped must reach (issue 16)

    @property
    def key(self) -> str:
        return f"{self.latency_ms:g}ms-{self.up_mbit:g}mbit"

    @property
    def name(self) -> str:
        return f"{self.latency_ms:g} ms, {self.up_mbit:g} Mbit/s"

    @property
    def up_bytes_per_s(self) -> float:
        return self.up_mbit * 1e6 / 8

    def send_seconds(self, nbytes: int) -> float:
        """The bytes alone at the link's upload rate."""
        return nbytes / self.up_bytes_per_s

    def seconds(self, nbytes: int) -> float:
        """The least time an upload of ``nbytes`` takes on this link: its bytes at the rate plus one latency."""
        return self.send_seconds(nbytes) + self.latency_ms / 1000

    async def apply(self, page: Page) -> CDPSession:
        """Chromium's network emulation on ``page`` (its dedicated workers' requests included)."""
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": self.latency_ms,
                "uploadThroughput": self.up_bytes_per_s,  # bytes per second
                "downloadThroughput": self.down_mbit * 1e6 / 8,
            },
        )
        return cdp


LINKS = (Link(80, 40, 40, target=0.97), Link(200, 100, 100, target=0.9))


@dataclass(frozen=True)
class PageConfig:
    key: str
    label: str
    query: str  # appended to our page's URL
    parallel: int | None  # chunks in flight per file (None: chosen by the page)
    shipped: bool = False  # the page as shipped: the configuration the targets are on


def page_configs(quick: bool) -> list[PageConfig]:
    configs = [
        PageConfig(
            "shipped",
            f"our page as shipped ({DEFAULT_PARALLEL} to {DEFAULT_MAX_PARALLEL} in flight, following the link)",
            "",
            None,
            shipped=True,
        )
    ]
    if quick:
        return configs
    configs += [
        PageConfig(f"p{n}", f"our page, {n} in flight", f"?parallel={n}", n) for n in MEASURED_PARALLEL
    ]
    return configs


# Records, with the page's clock, when each upload row first reached ``finish`` (``MARKS_JS`` keeps only the
# first time any element took a value): for the three files chosen together.
FINISHES_JS = """
(() => {
  const finished = Object.create(null);
  Object.defineProperty(window, "__benchFinished", { value: finished });
  new MutationObserver((records) => {
    const now = performance.now();
    for (const record of records) {
      const row = record.target;
      if (row.matches("li.upload") && row.getAttribute("data-state") === "finish" && !(row.dataset.key in finished)) {
        finished[row.dataset.key] = now;
      }
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
})();
"""


@dataclass
class Timing:
    total: float  # seconds from choosing the file(s) to the (last) link
    prepare: float  # seconds before sending: hashing + handshake (of the first file)


def _check_paced(link: Link, nbytes: int, sending: float, who: str) -> None:
    """Fail the run when the upload went faster than the emulated link allows: the emulation did not apply."""
    least = link.send_seconds(nbytes)
    if sending < 0.98 * least:
        raise RuntimeError(
            f"{who}: sent {nbytes} bytes in {sending:.2f} s, faster than the emulated {link.name} allows "
            f"({least:.2f} s): the emulation did not apply to its requests"
        )


async def _ours(
    ctx: Context,
    tag: str,
    link: Link,
    config: PageConfig,
    files: list[tuple[Path, browser.SeedIds]],
    size: int,
) -> Timing:
    data_dir = ctx.workdir / f"ours-{tag}"
    total_bytes = size * len(files)
    try:
        with servers.our_server(ctx, data_dir) as server:
            async with browser.chromium() as chrome, browser.guarded_page(chrome, browser.Guard()) as page:
                await page.context.add_init_script(FINISHES_JS)
                await browser.goto(page, server.url + "/" + config.query)
                seen = await browser.wait_mark(
                    page, "data-python=ready", "data-python=failed", timeout_ms=PYTHON_READY_MS
                )
                if seen != "data-python=ready":
                    raise RuntimeError("our page's Python failed to start")
                await link.apply(page)
                await page.set_input_files("#file-input", [str(path) for path, _ in files])
                await page.wait_for_function(
                    """(count) => Object.keys(window.__benchFinished).length >= count
                         || document.querySelector("li.upload[data-state=failed]") !== null""",
                    arg=len(files),
                    polling=50,
                    timeout=UPLOAD_MS,
                )
                if await page.query_selector("li.upload[data-state=failed]") is not None:
                    raise RuntimeError(f"our page's upload failed ({config.label}, {link.name})")
                marks = await browser.marks(page)
                finished: dict[str, float] = await page.evaluate("({...window.__benchFinished})")
                rows: list[dict[str, Any]] = await page.eval_on_selector_all(
                    "li.upload",
                    "(rows) => rows.map((row) => ({name: row.dataset.name, "
                    "href: row.querySelector('a.upload-link').getAttribute('href')}))",
                )
            links = {row["name"]: str(row["href"]) for row in rows}
            for path, ids in files:
                check_stored(data_dir, links.get(path.name, ""), ids, size, f"our page ({config.label})")
        total = (max(finished.values()) - marks["change"]) / 1000
        prepare = (marks["data-state<-hashing"] - marks["change"]) / 1000
        _check_paced(link, total_bytes, total - prepare, f"our page ({config.label})")
        return Timing(total, prepare)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def _seed(
    ctx: Context, tag: str, link: Link, site_url: str, file: Path, ids: browser.SeedIds, size: int
) -> Timing:
    data_dir = ctx.workdir / f"seed-{tag}"
    try:
        with servers.our_server(ctx, data_dir) as server:
            async with (
                browser.chromium(seed_api=server.url) as chrome,
                browser.guarded_page(chrome, browser.Guard()) as page,
            ):
                await browser.goto(page, site_url + "/seed/")
                await link.apply(page)
                await page.set_input_files("#file", str(file))
                await browser.wait_mark(page, "data-status=choose", timeout_ms=UPLOAD_MS)
                await page.click(".btn.control")
                await browser.wait_mark(page, f"href={browser.SEED_API}/*", timeout_ms=UPLOAD_MS)
                marks = await browser.marks(page)
                shown = str(await page.text_content("#link a"))
            check_stored(data_dir, shown, ids, size, "the seed's client")
        finished = next(at for name, at in marks.items() if name.startswith(f"href={browser.SEED_API}/"))
        ready, clicked = marks["data-status=choose"], marks["data-status=uploading"]
        total = (finished - marks["change"] - (clicked - ready)) / 1000
        prepare = (ready - marks["change"]) / 1000
        _check_paced(link, size, total - prepare, "the seed's client")
        return Timing(total, prepare)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def _plain_js(
    ctx: Context,
    tag: str,
    link: Link,
    site_url: str,
    file: Path,
    ids: browser.SeedIds,
    size: int,
    parallel: int,
) -> float:
    """Seconds the plain JavaScript sender (``bench/pages/js_send.html``: handshake, then the chunks,
    ``parallel`` in flight, from a worker; the ids given, nothing hashed) takes over the link."""
    data_dir = ctx.workdir / f"js-{tag}"
    try:
        with servers.our_server(ctx, data_dir) as server:
            async with browser.chromium() as chrome, browser.guarded_page(chrome, browser.Guard()) as page:
                await browser.goto(page, site_url + "/js_send.html")
                plan = {
                    "api": server.url,
                    "fileId": ids.file_id,
                    "chunkIds": ids.chunk_ids,
                    "parallel": parallel,
                }
                await page.evaluate("(plan) => { window.__plan = plan; }", plan)
                await link.apply(page)
                await page.set_input_files("#file", str(file))
                if await browser.wait_mark(page, "sent", "failed", timeout_ms=UPLOAD_MS) != "sent":
                    raise RuntimeError(
                        f"the plain JS sender failed: {await page.evaluate('window.__benchResult')}"
                    )
                marks = await browser.marks(page)
            check_stored(data_dir, f"/upload/{ids.file_id}.bin", ids, size, "the plain JS sender")
        seconds = (marks["sent"] - marks["change"]) / 1000
        _check_paced(link, size, seconds, f"the plain JS sender ({parallel} in flight)")
        return seconds
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _define(figures: FigureSet, link: Link, configs: list[PageConfig], size: int) -> None:
    mib = f"{size // MiB} MiB"
    figures.define(
        f"{link.key}-link",
        f"{link.name}: the link's own time for {mib} (bytes at its rate + one latency)",
        "s",
    )
    for config in configs:
        target = Target(">=", link.target, of="ours") if config.shipped else None
        figures.define(
            f"{link.key}-{config.key}-x", f"{link.name}: {config.label}: x of the link", "x", target, 2
        )
        figures.define(f"{link.key}-{config.key}-s", f"{link.name}: {config.label}: choose to link", "s")
    for n in js_parallel(configs):
        figures.define(
            f"{link.key}-js{n}",
            f"{link.name}: sending alone, {n} in flight, vs plain JS in a worker (ids given): x of the link",
            "x",
            None,
            2,
        )
    figures.define(
        f"{link.key}-prepare",
        f"{link.name}: before the first chunk (hashing + handshake), our page as shipped",
        "s",
        decimals=2,
    )
    figures.define(
        f"{link.key}-three-link",
        f"{link.name}: the link's own time for {THREE} x {mib}",
        "s",
    )
    figures.define(
        f"{link.key}-three-x",
        f"{link.name}: {THREE} files at once, our page as shipped: x of the link",
        "x",
        None,
        2,
    )
    figures.define(
        f"{link.key}-three-s",
        f"{link.name}: {THREE} files at once, our page as shipped: choose to last link",
        "s",
    )


def js_parallel(configs: list[PageConfig]) -> list[int]:
    """The chunks in flight our sending phase is compared at with the plain JS sender: each fixed number
    measured on our page, beyond 1 (the page as shipped: its default)."""
    return sorted({c.parallel for c in configs if c.parallel is not None and c.parallel > 1})


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


async def run(ctx: Context) -> Result:
    size = 8 * MiB if ctx.quick else 64 * MiB
    links = LINKS[:1] if ctx.quick else LINKS
    configs = page_configs(ctx.quick)
    figures = FigureSet()
    for link in links:
        _define(figures, link, configs, size)
    missing = browser.peers_missing()
    notes = [f"the seed's client not measured: {missing}"] if missing else []
    load_before = _load()

    ctx.log(f"writing {THREE} x {size // MiB} MiB of random bytes")
    paths = [ctx.workdir / f"random-{n}.bin" for n in range(1, THREE + 1)]
    chosen = [(path, browser.write_random_file(path, size)) for path in paths]
    first, first_ids = chosen[0]

    with browser.peer_site() as site:
        for run_index in range(ctx.runs):
            for link in links:
                figures.add(f"{link.key}-link", "ours", link.seconds(size))
                figures.add(f"{link.key}-three-link", "ours", link.seconds(THREE * size))
                sides = ["ours", "peer"] if ctx.first(run_index) == "ours" else ["peer", "ours"]
                for side in sides:
                    if side == "peer":
                        if missing:
                            continue
                        tag = f"{link.key}-{run_index}"
                        timing = await _seed(ctx, tag, link, site.url, first, first_ids, size)
                        ratio = link.seconds(size) / timing.total
                        for config in configs:
                            figures.add(f"{link.key}-{config.key}-x", "peer", ratio)
                            figures.add(f"{link.key}-{config.key}-s", "peer", timing.total)
                        figures.add(f"{link.key}-prepare", "peer", timing.prepare)
                        for n in js_parallel(configs):
                            seconds = await _plain_js(
                                ctx, f"{tag}-{n}", link, site.url, first, first_ids, size, n
                            )
                            figures.add(f"{link.key}-js{n}", "peer", link.seconds(size) / seconds)
                            ctx.log(
                                f"run {run_index + 1} {link.name}: plain JS, {n} in flight {seconds:6.2f} s = "
                                f"{link.seconds(size) / seconds:.2f}x of the link"
                            )
                        ctx.log(
                            f"run {run_index + 1} {link.name}: the seed's client {timing.total:6.2f} s "
                            f"({timing.prepare:5.2f} s before sending) = {ratio:.2f}x of the link "
                            f"({link.seconds(size):.2f} s)"
                        )
                        continue
                    for config in configs:
                        tag = f"{link.key}-{config.key}-{run_index}"
                        timing = await _ours(ctx, tag, link, config, chosen[:1], size)
                        ratio = link.seconds(size) / timing.total
                        figures.add(f"{link.key}-{config.key}-x", "ours", ratio)
                        figures.add(f"{link.key}-{config.key}-s", "ours", timing.total)
                        if config.shipped:
                            figures.add(f"{link.key}-prepare", "ours", timing.prepare)
                        if not missing and config.parallel in js_parallel(configs):
                            sending = link.seconds(size) / (timing.total - timing.prepare)
                            figures.add(f"{link.key}-js{config.parallel}", "ours", sending)
                        ctx.log(
                            f"run {run_index + 1} {link.name}: {config.label} {timing.total:6.2f} s "
                            f"({timing.prepare:5.2f} s before sending) = {ratio:.2f}x of the link "
                            f"({link.seconds(size):.2f} s)"
                        )
                    shipped = configs[0]
                    timing = await _ours(ctx, f"{link.key}-three-{run_index}", link, shipped, chosen, size)
                    ratio = link.seconds(THREE * size) / timing.total
                    figures.add(f"{link.key}-three-x", "ours", ratio)
                    figures.add(f"{link.key}-three-s", "ours", timing.total)
                    ctx.log(
                        f"run {run_index + 1} {link.name}: {THREE} files at once {timing.total:6.2f} s = "
                        f"{ratio:.2f}x of the link ({link.seconds(THREE * size):.2f} s)"
                    )
    for path, _ in chosen:
        path.unlink()

    notes.append(
        f"Load average (1 / 5 / 15 min) of this 2-CPU machine, shared with other work: {load_before} before, "
        f"{_load()} after. Only the hashing before the first chunk is CPU-bound; the sending is paced by the "
        "emulated link (every run is checked to have been: no faster than the link allows)."
    )
    notes.append(
        "The seed's figures (peer column) are repeated on each of our rows of the same link: one client, one "
        "way to send; in the `sending alone` rows the peer column is the plain JS sender instead. In the "
        "`x of the link` rows, ours/peer is how much closer to the link our page gets."
    )
    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"our page (`/`) on {servers.our_version()}: Python worker (PyScript "
        f"{browser.npm_version('@pyscript/core')}, Pyodide {browser.npm_version('pyodide')}), "
        + ", ".join(c.label.removeprefix("our page").strip(", ") for c in configs),
        peer=None
        if missing
        else f"the seed's client verbatim (jQuery {browser.npm_version('jquery')}, spark-md5 "
        f"{browser.npm_version('spark-md5')}), one chunk at a time, against the same server",
        params={
            "file": f"{size // MiB} MiB",
            "chunk": "1 MiB",
            "links": "; ".join(
                f"{link.latency_ms:g} ms latency, {link.up_mbit:g} Mbit/s up, {link.down_mbit:g} Mbit/s down"
                for link in links
            ),
            "emulation": "Chromium's Network.emulateNetworkConditions (latency once per request)",
            "runs": ctx.runs,
        },
        figures=figures.build(),
        notes=notes,
    )


BENCHMARK = Benchmark(
    name="wan-upload",
    title="In-browser upload over an emulated WAN link: our page vs the seed's client vs the link",
    order=21,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
